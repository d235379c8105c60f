from __future__ import annotations

import pytest
import torch

from neurosym.config import ModelConfig
from neurosym.model import TransformerPlus
from neurosym.tasks import get_task
from neurosym.tokenizer import Tokenizer


@pytest.fixture
def micro_config() -> ModelConfig:
    return ModelConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, max_seq_len=64)


@pytest.fixture
def micro_model(micro_config: ModelConfig) -> TransformerPlus:
    torch.manual_seed(0)
    return TransformerPlus(micro_config).eval()


@pytest.fixture(scope="session")
def location_examples():
    return get_task("episodic.location").examples("train", n=400, story_length=4)


@pytest.fixture(scope="session")
def location_tokenizer(location_examples) -> Tokenizer:
    texts = [s.text for e in location_examples for s in e.context]
    texts += [e.question for e in location_examples] + [e.answer for e in location_examples]
    return Tokenizer.build(texts)
