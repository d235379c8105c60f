"""`neurosym analyze sparsity` on a tiny checkpoint: table, JSON and plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from neurosym.analysis import analyze_sparsity
from neurosym.cli import main
from neurosym.config import ModelConfig
from neurosym.model import TransformerPlus


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, location_tokenizer) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=2, n_heads=2, max_seq_len=128,
                         mlp="relu")
    folder = tmp_path_factory.mktemp("sparsity") / "ckpt"
    TransformerPlus(config).save_pretrained(folder, tokenizer=location_tokenizer)
    return folder


def _run(tiny_checkpoint: Path, *extra: str) -> int:
    return main(["analyze", "sparsity", "--checkpoint", str(tiny_checkpoint), "--task", "episodic.location",
                 "-n", "12", *extra])


def test_analyze_sparsity_prints_a_row_per_head(tiny_checkpoint: Path, capsys) -> None:
    assert _run(tiny_checkpoint) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.split()[:2] in (["0", "0"], ["0", "1"], ["1", "0"], ["1", "1"])]
    assert len(rows) >= 4


def test_analyze_sparsity_writes_json(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    _run(tiny_checkpoint, "--json", str(tmp_path / "s.json"))
    record = json.loads((tmp_path / "s.json").read_text())
    assert [layer["layer"] for layer in record["layers"]] == [0, 1]


def test_analyze_sparsity_json_to_stdout(tiny_checkpoint: Path, capsys) -> None:
    _run(tiny_checkpoint, "--json")
    assert json.loads(capsys.readouterr().out)["task"] == "episodic.location"


def test_analyze_sparsity_writes_png(tiny_checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _run(tiny_checkpoint, "--plot", str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_top_k_mass_grows_with_k(tiny_checkpoint: Path, location_examples) -> None:
    model = TransformerPlus.from_pretrained(tiny_checkpoint)
    from neurosym.checkpoint import load_tokenizer

    report = analyze_sparsity(model, load_tokenizer(tiny_checkpoint), location_examples[:8])
    layer = report.layers[0]
    assert all(a <= b + 1e-9 for a, b in zip(layer.attention_top_mass[8], layer.attention_top_mass[32], strict=True)
               if a is not None and b is not None)


def test_relu_active_fraction_counts_positive_neurons(tiny_checkpoint: Path, location_examples) -> None:
    model = TransformerPlus.from_pretrained(tiny_checkpoint)
    from neurosym.checkpoint import load_tokenizer

    report = analyze_sparsity(model, load_tokenizer(tiny_checkpoint), location_examples[:8])
    assert 0.0 < report.layers[0].mlp_active_fraction < 1.0


def test_swiglu_model_reports_its_threshold(location_tokenizer, location_examples) -> None:
    model = TransformerPlus(ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=1, n_heads=2))
    report = analyze_sparsity(model, location_tokenizer, location_examples[:4])
    assert any("SwiGLU" in note for note in report.notes)


def test_analyze_sparsity_of_missing_checkpoint_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["analyze", "sparsity", "--checkpoint", str(tmp_path / "none"), "--task", "episodic.location"]) == 2
