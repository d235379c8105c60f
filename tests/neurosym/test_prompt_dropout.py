"""Word dropout on prompts (neurosym.data.drop_prompt_tokens) and its use in training."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from neurosym.config import ModelConfig
from neurosym.data import (
    EncodedExample,
    MixtureSampler,
    drop_prompt_tokens,
    encode_example,
    undroppable_ids,
)
from neurosym.errors import ConfigError
from neurosym.model import TransformerPlus
from neurosym.tasks.example import Example, Sentence
from neurosym.tokenizer import Tokenizer
from neurosym.training import TrainConfig, Trainer

SENTENCE = "$e1 went bowling with his sister $e2 and $e3 on friday evening after work"
PROGRAM = "(fact $e1 sister $e2)"


@pytest.fixture()
def tokenizer() -> Tokenizer:
    return Tokenizer.build([SENTENCE, PROGRAM])


@pytest.fixture()
def item(tokenizer: Tokenizer) -> EncodedExample:
    example = Example(context=[], question=SENTENCE, answer="", program=PROGRAM)
    return encode_example(example, tokenizer, 64, mode="program")


def _dropped(item: EncodedExample, tokenizer: Tokenizer, rate: float, seed: int = 0) -> EncodedExample:
    return drop_prompt_tokens([item], tokenizer.unk_id, undroppable_ids(tokenizer), rate, random.Random(seed))[0]


def _prompt_tokens(item: EncodedExample, tokenizer: Tokenizer) -> list[str]:
    return [tokenizer.vocab[i] for i in item.input_ids[: item.prompt_length]]


def test_drop_prompt_tokens_rate_zero_keeps_every_token(item, tokenizer) -> None:
    assert _dropped(item, tokenizer, 0.0).input_ids == item.input_ids


def test_drop_prompt_tokens_high_rate_replaces_context_words(item, tokenizer) -> None:
    words = _prompt_tokens(_dropped(item, tokenizer, 0.99), tokenizer)
    assert words.count("<unk>") == len("went bowling with his and on friday evening after work".split())


def test_drop_prompt_tokens_keeps_references_the_target_lacks(item, tokenizer) -> None:
    assert "$e3" in _prompt_tokens(_dropped(item, tokenizer, 0.99), tokenizer)


def test_drop_prompt_tokens_keeps_words_the_target_copies(item, tokenizer) -> None:
    assert "sister" in _prompt_tokens(_dropped(item, tokenizer, 0.99), tokenizer)


def test_drop_prompt_tokens_keeps_layout_tokens(item, tokenizer) -> None:
    words = _prompt_tokens(_dropped(item, tokenizer, 0.99), tokenizer)
    assert (words[0], words[-1]) == ("<bos>", "<prog>")


def test_drop_prompt_tokens_leaves_the_target_alone(item, tokenizer) -> None:
    dropped = _dropped(item, tokenizer, 0.99)
    assert dropped.input_ids[item.prompt_length:] == item.input_ids[item.prompt_length:]


def test_drop_prompt_tokens_copies_items(item, tokenizer) -> None:
    before = list(item.input_ids)
    _dropped(item, tokenizer, 0.99)
    assert item.input_ids == before


def test_drop_prompt_tokens_same_seed_same_result(item, tokenizer) -> None:
    assert _dropped(item, tokenizer, 0.5, seed=3).input_ids == _dropped(item, tokenizer, 0.5, seed=3).input_ids


def test_drop_prompt_tokens_prompt_end_skips_neural_items(tokenizer) -> None:
    neural = encode_example(Example(context=[], question=SENTENCE, answer="sister", program=PROGRAM), tokenizer, 64)
    dropped = drop_prompt_tokens([neural], tokenizer.unk_id, undroppable_ids(tokenizer), 0.99, random.Random(0),
                                 prompt_end_id=tokenizer.token_to_id["<prog>"])[0]
    assert dropped.input_ids == neural.input_ids


def test_drop_prompt_tokens_prompt_end_changes_program_items(item, tokenizer) -> None:
    dropped = drop_prompt_tokens([item], tokenizer.unk_id, undroppable_ids(tokenizer), 0.99, random.Random(0),
                                 prompt_end_id=tokenizer.token_to_id["<prog>"])[0]
    assert tokenizer.unk_id in dropped.input_ids


def test_drop_prompt_tokens_rejects_rate_one(item, tokenizer) -> None:
    with pytest.raises(ValueError, match="prompt dropout rate"):
        _dropped(item, tokenizer, 1.0)


def test_train_config_rejects_negative_prompt_dropout() -> None:
    with pytest.raises(ConfigError, match="prompt_dropout"):
        TrainConfig(prompt_dropout=-0.1)


def _trainer(tokenizer: Tokenizer, examples: list[Example], out_dir: Path, rate: float = 0.3) -> Trainer:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq_len=64)
    encoded = [encode_example(e, tokenizer, config.max_seq_len, mode="program") for e in examples]
    train_config = TrainConfig(steps=12, batch_size=8, lr=3e-3, warmup_steps=2, eval_every=6, log_every=3,
                               precision="fp32", device="cpu", progress=False, prompt_dropout=rate)
    return Trainer(TransformerPlus(config), tokenizer, MixtureSampler({"t": encoded}, {}, seed=0), train_config,
                   out_dir=out_dir)


@pytest.fixture()
def story() -> tuple[Tokenizer, list[Example]]:
    texts = [f"$e1 met his {word} $e2 at the {place}" for word in ("sister", "brother", "mother")
             for place in ("park", "game", "shop")]
    examples = [Example(context=[Sentence("earlier that day", 0)], question=text, answer="",
                        program=f"(fact $e1 {text.split()[3]} $e2)") for text in texts]
    return Tokenizer.build([*texts, "earlier that day", "(fact $e1 sister $e2) brother mother"]), examples


def _same_weights(first: Trainer, second: Trainer) -> bool:
    return all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(),
                                                 second.model.state_dict().values(), strict=True))


def test_prompt_dropout_resume_matches_straight_run(story, tmp_path: Path) -> None:
    tokenizer, examples = story
    straight = _trainer(tokenizer, examples, tmp_path / "straight")
    straight.train()
    split = _trainer(tokenizer, examples, tmp_path / "split")
    split.train(stop_at=6)
    resumed = _trainer(tokenizer, examples, tmp_path / "split")
    resumed.resume(tmp_path / "split" / "last")
    resumed.train()
    assert _same_weights(straight, resumed)


def test_prompt_dropout_changes_what_trainer_learns(story, tmp_path: Path) -> None:
    tokenizer, examples = story
    dropped = _trainer(tokenizer, examples, tmp_path / "dropped")
    dropped.train()
    plain = _trainer(tokenizer, examples, tmp_path / "plain", rate=0.0)
    plain.train()
    assert not _same_weights(dropped, plain)
