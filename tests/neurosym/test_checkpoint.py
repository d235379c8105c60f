from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neurosym.checkpoint import load_pretrained, load_training_state
from neurosym.config import ModelConfig
from neurosym.errors import CheckpointError
from neurosym.model import TransformerPlus
from neurosym.tokenizer import Tokenizer


def test_save_load_gives_identical_logits(micro_model: TransformerPlus, tmp_path: Path) -> None:
    micro_model.save_pretrained(tmp_path / "ckpt", tokenizer=Tokenizer.build(["a b"]))
    loaded = TransformerPlus.from_pretrained(tmp_path / "ckpt").eval()
    tokens = torch.randint(0, 50, (2, 10))
    assert torch.equal(loaded(tokens).logits, micro_model(tokens).logits)


def test_checkpoint_folder_holds_three_files(micro_model: TransformerPlus, tmp_path: Path) -> None:
    micro_model.save_pretrained(tmp_path / "ckpt", tokenizer=Tokenizer.build(["a"]))
    names = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert names == ["config.json", "model.safetensors", "tokenizer.json"]


def test_resave_replaces_checkpoint(micro_model: TransformerPlus, tmp_path: Path) -> None:
    micro_model.save_pretrained(tmp_path / "ckpt")
    micro_model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_requested_config_mismatch_names_field(micro_model: TransformerPlus, tmp_path: Path) -> None:
    micro_model.save_pretrained(tmp_path / "ckpt")
    other = ModelConfig(vocab_size=50, d_model=64, n_layers=2, n_heads=4, max_seq_len=64)
    with pytest.raises(CheckpointError, match="d_model"):
        load_pretrained(tmp_path / "ckpt", config=other)


def test_weights_from_other_config_rejected(micro_model: TransformerPlus, tmp_path: Path) -> None:
    micro_model.save_pretrained(tmp_path / "ckpt")
    config_path = tmp_path / "ckpt" / "config.json"
    config_path.write_text(config_path.read_text().replace('"d_model": 32', '"d_model": 64'))
    with pytest.raises(CheckpointError, match="has shape"):
        load_pretrained(tmp_path / "ckpt")


def test_corrupt_weights_rejected(micro_model: TransformerPlus, tmp_path: Path) -> None:
    micro_model.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file"):
        load_pretrained(tmp_path / "ckpt")


def test_missing_folder_rejected(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(tmp_path / "nothing")


def test_pickled_code_in_training_state_rejected(tmp_path: Path) -> None:
    path = tmp_path / "training_state.pt"
    torch.save({"step": 1, "hook": print}, path)  # a callable needs unpickling code
    with pytest.raises(CheckpointError, match="corrupt or unsafe"):
        load_training_state(path)
