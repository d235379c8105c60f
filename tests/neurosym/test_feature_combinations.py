"""Every pair of optional features (memory aside: it needs story inputs) builds, trains and decodes."""

from __future__ import annotations

import itertools

import pytest
import torch

from neurosym.config import FEATURES, ModelConfig
from neurosym.model import TransformerPlus

PAIRS = list(itertools.combinations([name for name in FEATURES if name != "memory"], 2))


def _model(first: str, second: str) -> TransformerPlus:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=2, max_seq_len=64, mlp="relu",
                         **{first: {}, second: {}})
    return TransformerPlus(config)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_feature_pair_backward_gives_finite_gradients(first: str, second: str) -> None:
    model = _model(first, second)
    ids = torch.randint(5, 60, (2, 12))
    model(ids, labels=ids).loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize(("first", "second"), PAIRS)
def test_feature_pair_generates_the_requested_tokens(first: str, second: str) -> None:
    model = _model(first, second).eval()
    new = model.generate(torch.randint(5, 60, (2, 6)), max_new_tokens=4)
    assert new.shape == (2, 4)
