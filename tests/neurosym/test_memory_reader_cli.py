"""Train and evaluate a memory model from the command line, with long stories set at eval time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neurosym.cli import main


@pytest.fixture(scope="module")
def memory_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("memory-run")
    feature = 'memory={"layers": [1], "write_layer": 0, "key_dim": 16, "top_k": 2}'
    code = main(["train", "--task", "episodic.location", "--steps", "2", "--eval-every", "2", "--train-examples", "32",
                 "--batch-size", "4", "--valid-examples", "4", "--precision", "fp32", "--max-seq-len", "32",
                 "--set", "story_length=6", "--feature", feature, "--out", str(out)])
    assert code == 0
    return out


def test_memory_cli_eval_reads_stories_beyond_the_window(memory_run: Path, tmp_path: Path) -> None:
    code = main(["eval", "--checkpoint", str(memory_run), "--task", "episodic.location", "--set", "story_length=120",
                 "-n", "3", "--out", str(tmp_path)])
    assert code == 0
    report = json.loads((tmp_path / "eval.json").read_text())["reports"][0]
    assert report["n"] == 3
    assert report["truncated"] == 0


def test_memory_cli_eval_set_needs_a_task(memory_run: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(memory_run), "--set", "story_length=50"]) == 2
    assert "--set needs --task" in capsys.readouterr().err


def test_memory_cli_eval_rejects_unknown_knob(memory_run: Path, capsys) -> None:
    assert main(["eval", "--checkpoint", str(memory_run), "--task", "episodic.location", "--set", "digits=3"]) == 2
    assert "digits" in capsys.readouterr().err


def test_memory_bench_sets_hnsw_ef_search(capsys) -> None:
    code = main(["bench", "memory", "--events", "300", "--dim", "8", "--kinds", "hnsw", "--queries", "5",
                 "--hnsw-ef-search", "50", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert result["kinds"]["hnsw"]["params"]["ef_search"] == 50


def test_memory_bench_sets_hnsw_build_settings(capsys) -> None:
    code = main(["bench", "memory", "--events", "300", "--dim", "8", "--kinds", "hnsw", "--queries", "5",
                 "--hnsw-ef-construction", "120", "--hnsw-m", "16", "--json"])
    assert code == 0
    params = json.loads(capsys.readouterr().out)[0]["kinds"]["hnsw"]["params"]
    assert (params["m"], params["ef_construction"]) == (16, 120)
