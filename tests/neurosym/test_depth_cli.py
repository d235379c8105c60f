"""The compress command and the depth and compression benchmarks, end to end on a tiny checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from neurosym.cli import main
from neurosym.config import EarlyExitConfig, ModelConfig
from neurosym.model import TransformerPlus

KNOBS = {"story_length": 4}


@pytest.fixture
def checkpoint(tmp_path, location_tokenizer):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=2, n_heads=4, max_seq_len=128,
                         early_exit=EarlyExitConfig(layers=[0], threshold=1.0))
    model = TransformerPlus(config)
    run_info = {"tasks": [{"name": "episodic.location", "weight": 1.0, "difficulty": KNOBS, "data_dir": None}]}
    return model.save_pretrained(tmp_path / "ckpt", tokenizer=location_tokenizer, run_info=run_info)


def test_compress_writes_a_loadable_checkpoint(checkpoint, tmp_path, capsys) -> None:
    code = main(["compress", "--checkpoint", str(checkpoint), "--method", "int4-weight", "--out",
                 str(tmp_path / "q")])
    assert code == 0
    assert json.loads((tmp_path / "q" / "compression.json").read_text())["method"] == "int4-weight"


def test_compress_wanda_reports_sparsity_per_layer(checkpoint, tmp_path, capsys) -> None:
    main(["compress", "--checkpoint", str(checkpoint), "--method", "wanda", "--task", "episodic.location",
          "--calibration-examples", "8", "--out", str(tmp_path / "w")])
    assert "blocks.1.mlp.down" in capsys.readouterr().out


def test_compressed_checkpoint_evaluates(checkpoint, tmp_path, capsys) -> None:
    main(["compress", "--checkpoint", str(checkpoint), "--method", "int8-dynamic", "--out", str(tmp_path / "q")])
    code = main(["eval", "--checkpoint", str(tmp_path / "q"), "-n", "4", "--device", "cpu"])
    assert code == 0


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["--method", "int3"], "valid methods"),
        (["--method", "2:4", "--sparsity", "0.3"], "half the weights"),
        (["--method", "wanda"], "--task"),
        (["--method", "magnitude", "--sparsity", "1.5"], "sparsity"),
    ],
)
def test_compress_rejects_unsupported_requests(checkpoint, tmp_path, capsys, options, fragment) -> None:
    code = main(["compress", "--checkpoint", str(checkpoint), *options, "--out", str(tmp_path / "x")])
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_bench_depth_reports_every_threshold(checkpoint, capsys) -> None:
    main(["bench", "depth", "--checkpoint", str(checkpoint), "-n", "4", "--thresholds", "1.0", "0.5",
          "--similarities", "0.9", "--no-speed", "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    names = [row["variant"] for row in rows]
    assert names[:3] == ["dense", "early_exit@1", "early_exit@0.5"]


def test_bench_depth_threshold_one_matches_dense_accuracy(checkpoint, capsys) -> None:
    main(["bench", "depth", "--checkpoint", str(checkpoint), "-n", "6", "--thresholds", "1.0", "--no-speed", "--json"])
    rows = {row["variant"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["early_exit@1"]["accuracy"] == rows["dense"]["accuracy"]


def test_bench_compress_reports_linear_size_ratio(checkpoint, capsys) -> None:
    main(["bench", "compress", "--checkpoint", str(checkpoint), "-n", "4", "--methods", "int8-weight",
          "--no-speed", "--json"])
    rows = {row["variant"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    assert rows["int8-weight"]["extra"]["linear_size_ratio"] > 3.0


def test_train_rejects_exit_threshold_above_one(tmp_path, capsys) -> None:
    code = main(["train", "--task", "episodic.location", "--steps", "1", "--feature",
                 'early_exit={"threshold": 2}', "--out", str(tmp_path / "r")])
    assert code == 2
    assert "threshold" in capsys.readouterr().err
