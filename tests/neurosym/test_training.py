from __future__ import annotations

from pathlib import Path

import torch

from neurosym.config import ModelConfig
from neurosym.data import MixtureSampler, collate_train, encode_example
from neurosym.model import IGNORE_INDEX, TransformerPlus
from neurosym.training import TrainConfig, Trainer


def _trainer(
    location_examples, location_tokenizer, steps: int, out_dir: Path | None = None, **features: dict
) -> Trainer:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq_len=128,
                         **features)
    encoded = [encode_example(e, location_tokenizer, config.max_seq_len) for e in location_examples]
    sampler = MixtureSampler({"episodic.location": encoded}, {}, seed=0)
    train_config = TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup_steps=5, eval_every=10,
                               log_every=5, precision="fp32", device="cpu", progress=False)
    return Trainer(TransformerPlus(config), location_tokenizer, sampler, train_config, out_dir=out_dir)


def test_thirty_steps_lower_the_loss(location_examples, location_tokenizer) -> None:
    trainer = _trainer(location_examples, location_tokenizer, steps=30)
    history = trainer.train()
    losses = [r["loss"] for r in history if "loss" in r]
    assert losses[-1] < 0.7 * losses[0]


def test_resume_equals_uninterrupted_run(location_examples, location_tokenizer, tmp_path: Path) -> None:
    straight = _trainer(location_examples, location_tokenizer, steps=20, out_dir=tmp_path / "straight")
    straight.train()

    first_half = _trainer(location_examples, location_tokenizer, steps=20, out_dir=tmp_path / "split")
    first_half.train(stop_at=10)
    second_half = _trainer(location_examples, location_tokenizer, steps=20, out_dir=tmp_path / "split")
    second_half.resume(tmp_path / "split" / "last")
    second_half.train()

    for (name, a), b in zip(straight.model.state_dict().items(), second_half.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_run_folder_holds_best_last_and_log(location_examples, location_tokenizer, tmp_path: Path) -> None:
    _trainer(location_examples, location_tokenizer, steps=10, out_dir=tmp_path).train()
    assert (tmp_path / "best" / "model.safetensors").is_file()
    assert (tmp_path / "last" / "training_state.pt").is_file()
    assert (tmp_path / "metrics.jsonl").is_file()


def test_lr_schedule_warms_up_then_decays() -> None:
    config = TrainConfig(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert config.lr_at(0) == 0.1
    assert config.lr_at(9) == 1.0
    assert abs(config.lr_at(100) - 0.1) < 1e-9


def test_answer_only_labels_mask_prompt(location_examples, location_tokenizer) -> None:
    item = encode_example(location_examples[0], location_tokenizer, 128)
    batch = collate_train([item], location_tokenizer.pad_id, answer_loss_only=True)
    labels = batch["labels"][0]
    assert (labels[: item.prompt_length] == IGNORE_INDEX).all()
    assert labels[len(item.input_ids) - 1] == location_tokenizer.eos_id


def test_step_logs_lm_loss_when_a_feature_adds_aux_loss(location_examples, location_tokenizer) -> None:
    trainer = _trainer(location_examples, location_tokenizer, steps=1, early_exit={"layers": [0]})
    metrics = trainer.train_step()
    assert metrics["lm_loss"] < metrics["loss"]


def test_baseline_step_logs_no_separate_lm_loss(location_examples, location_tokenizer) -> None:
    metrics = _trainer(location_examples, location_tokenizer, steps=1).train_step()
    assert "lm_loss" not in metrics
