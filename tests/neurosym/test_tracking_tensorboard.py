"""TensorBoard tracking beside metrics.jsonl, and its absence when TensorBoard is not installed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from neurosym.tracking import TensorBoardTracker, tensorboard_available

needs_tensorboard = pytest.mark.skipif(not tensorboard_available(), reason="TensorBoard is not installed")
without_tensorboard = pytest.mark.skipif(tensorboard_available(), reason="TensorBoard is installed")


@without_tensorboard
def test_missing_tensorboard_logs_one_info_line(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="neurosym.tracking"):
        TensorBoardTracker(tmp_path / "tensorboard")
    assert [r.getMessage() for r in caplog.records if "TensorBoard is not installed" in r.getMessage()]


@without_tensorboard
def test_missing_tensorboard_writes_no_folder(tmp_path: Path) -> None:
    tracker = TensorBoardTracker(tmp_path / "tensorboard")
    tracker.log({"step": 1, "loss": 2.0})
    tracker.close()
    assert not (tmp_path / "tensorboard").exists()


@needs_tensorboard
def test_tensorboard_writes_event_file(tmp_path: Path) -> None:
    tracker = TensorBoardTracker(tmp_path / "tensorboard")
    tracker.log({"step": 1, "loss": 2.0, "valid/accuracy": 0.5, "note": "text is skipped"})
    tracker.close()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_trainer_without_out_dir_has_no_tracker(location_examples, location_tokenizer) -> None:
    from neurosym.config import preset
    from neurosym.data import MixtureSampler, encode_example
    from neurosym.model import TransformerPlus
    from neurosym.training import TrainConfig, Trainer

    model = TransformerPlus(preset("tiny", len(location_tokenizer)))
    encoded = {"location": [encode_example(e, location_tokenizer, 128) for e in location_examples[:8]]}
    trainer = Trainer(model, location_tokenizer, MixtureSampler(encoded, {}, seed=0),
                      TrainConfig(steps=1, progress=False, device="cpu"))
    assert trainer.tracker is None
