"""Packed stories compute each question exactly as if it were encoded alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from neurosym.config import ModelConfig
from neurosym.data import collate_train, encode_example, pack_story
from neurosym.model import TransformerPlus
from neurosym.runs import nested_groups
from neurosym.tasks import get_task
from neurosym.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def story(babi_dir: Path):
    examples = get_task("babi.qa1").examples("test", data_dir=babi_dir / "en")
    return nested_groups(examples)[0]


@pytest.fixture(scope="module")
def tokenizer(story) -> Tokenizer:
    texts = [s.text for e in story for s in e.context] + [e.question for e in story] + [e.answer for e in story]
    return Tokenizer.build(texts)


@pytest.fixture(scope="module")
def model(tokenizer: Tokenizer) -> TransformerPlus:
    torch.manual_seed(0)
    return TransformerPlus(ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4)).eval()


def _answer_logits_alone(model, tokenizer, example) -> torch.Tensor:
    item = encode_example(example, tokenizer, 512)
    logits = model(torch.tensor([item.input_ids])).logits[0]
    return logits[item.prompt_length - 1 : len(item.input_ids) - 1]


def test_story_groups_every_question(story) -> None:
    assert len(story) == 5


def test_packed_answer_logits_equal_unpacked(model, tokenizer, story) -> None:
    packed = pack_story(story, tokenizer, 512)
    batch = collate_train([packed], tokenizer.pad_id)
    with torch.no_grad():
        logits = model(batch["input_ids"], positions=batch["positions"], attn_mask=batch["attn_mask"]).logits[0]
        targets = (batch["labels"][0, 1:] != -100).nonzero().squeeze(1)  # label t+1 is predicted at t
        packed_logits = logits[targets]
        alone = torch.cat([_answer_logits_alone(model, tokenizer, example) for example in story])
    assert torch.allclose(packed_logits, alone, atol=1e-5)


def test_packed_loss_equals_mean_unpacked_loss(model, tokenizer, story) -> None:
    batch = collate_train([pack_story(story, tokenizer, 512)], tokenizer.pad_id)
    with torch.no_grad():
        packed_loss = model(batch["input_ids"], labels=batch["labels"], positions=batch["positions"],
                            attn_mask=batch["attn_mask"]).loss
        logits, targets = [], []
        for example in story:
            item = encode_example(example, tokenizer, 512)
            logits.append(_answer_logits_alone(model, tokenizer, example))
            targets += item.input_ids[item.prompt_length:]
        expected = F.cross_entropy(torch.cat(logits), torch.tensor(targets))
    assert torch.allclose(packed_loss, expected, atol=1e-5)


def test_context_never_sees_a_branch(tokenizer, story) -> None:
    batch = collate_train([pack_story(story, tokenizer, 512)], tokenizer.pad_id)
    mask = batch["attn_mask"][0]
    branches = torch.tensor(pack_story(story, tokenizer, 512).branches)
    shared = (branches == 0).nonzero().squeeze(1)
    branch_keys = (branches > 0).nonzero().squeeze(1)
    assert not mask[shared][:, branch_keys].any()


def test_mask_is_causal(tokenizer, story) -> None:
    mask = collate_train([pack_story(story, tokenizer, 512)], tokenizer.pad_id)["attn_mask"][0]
    assert not mask.triu(diagonal=1).any()


def test_non_nested_contexts_are_not_packed(tokenizer, story) -> None:
    assert pack_story([story[1], story[0]], tokenizer, 512) is None


def test_too_long_story_is_not_packed(tokenizer, story) -> None:
    assert pack_story(story, tokenizer, 20) is None
