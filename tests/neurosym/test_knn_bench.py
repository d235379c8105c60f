"""`neurosym bench knn` on tiny sizes: the rows it reports and their invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neurosym.config import ModelConfig
from neurosym.errors import NeurosymError
from neurosym.knn import (
    bench_knn_attention,
    bench_knn_mlp,
    format_attention_bench,
    format_mlp_bench,
    knn_mlp_checkpoint_recall,
)
from neurosym.model import TransformerPlus


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, location_tokenizer) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=1, n_heads=2, max_seq_len=64)
    folder = tmp_path_factory.mktemp("knnbench") / "ckpt"
    TransformerPlus(config).save_pretrained(folder, tokenizer=location_tokenizer)
    return folder


def test_mlp_bench_product_keys_recall_is_exact() -> None:
    result = bench_knn_mlp([256], d_model=32, fraction=0.1, rounds=2, n_tokens=4)
    assert result["rows"][0]["product_keys_recall"] == 1.0


def test_mlp_bench_product_keys_match_exact_top_k_output() -> None:
    result = bench_knn_mlp([256], d_model=32, fraction=0.1, rounds=2, n_tokens=4)
    assert result["rows"][0]["product_keys_error_vs_topk"] < 1e-4


def test_mlp_bench_table_names_every_backend() -> None:
    table = format_mlp_bench(bench_knn_mlp([64], d_model=16, rounds=2, n_tokens=2))
    assert all(name in table for name in ("dense", "product_keys", "faiss"))


def test_attention_bench_reports_each_context(tiny_checkpoint: Path) -> None:
    result = bench_knn_attention(str(tiny_checkpoint), contexts=[128, 256], k=8, window=8, kinds=["exact"],
                                 n_queries=3, tails=["none"])
    assert sorted(result["summary"][0]["contexts"]) == [128, 256]


def test_attention_bench_exact_index_recalls_everything(tiny_checkpoint: Path) -> None:
    result = bench_knn_attention(str(tiny_checkpoint), contexts=[128], k=8, window=8, kinds=["exact"],
                                 n_queries=3, tails=["none"])
    assert result["rows"][0]["recall_at_k"] == 1.0


def test_attention_bench_taylor_tail_lowers_the_error(tiny_checkpoint: Path) -> None:
    result = bench_knn_attention(str(tiny_checkpoint), contexts=[256], k=4, window=4, kinds=["exact"],
                                 n_queries=3)
    errors = {row["kind"]: row["rel_error"] for row in result["rows"]}
    assert errors["exact+taylor"] < errors["exact"]


def test_attention_bench_table_prints_growth(tiny_checkpoint: Path) -> None:
    result = bench_knn_attention(str(tiny_checkpoint), contexts=[128, 256], k=8, window=8, kinds=["exact"],
                                 n_queries=3, tails=["none"])
    assert "growth 128 -> 256" in format_attention_bench(result)


@pytest.fixture(scope="module")
def relu_checkpoint(tmp_path_factory, location_tokenizer) -> Path:
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(location_tokenizer), d_model=32, n_layers=2, n_heads=2, max_seq_len=128,
                         mlp="relu")
    folder = tmp_path_factory.mktemp("knnrelu") / "ckpt"
    TransformerPlus(config).save_pretrained(folder, tokenizer=location_tokenizer)
    return folder


def test_checkpoint_mlp_with_all_neurons_has_no_error(relu_checkpoint: Path) -> None:
    result = knn_mlp_checkpoint_recall(str(relu_checkpoint), n_examples=5, fraction=1.0)
    assert max(row["topk_error_vs_dense"] for row in result["rows"]) < 1e-5


def test_checkpoint_mlp_reports_faiss_recall_per_layer(relu_checkpoint: Path) -> None:
    result = knn_mlp_checkpoint_recall(str(relu_checkpoint), n_examples=5, fraction=0.1)
    assert [row["layer"] for row in result["rows"]] == [0, 1]


def test_checkpoint_mlp_rejects_swiglu(tiny_checkpoint: Path) -> None:
    with pytest.raises(NeurosymError, match="ReLU"):
        knn_mlp_checkpoint_recall(str(tiny_checkpoint), n_examples=2)


def test_eval_with_knn_features_writes_report(relu_checkpoint: Path, tmp_path: Path) -> None:
    from neurosym.cli import main

    code = main(["eval", "--checkpoint", str(relu_checkpoint), "--task", "episodic.location", "-n", "3",
                 "--out", str(tmp_path), "--feature", 'knn_attention={"k": 4, "window": 4, "index": "hnsw"}',
                 "--feature", 'knn_mlp={"fraction": 0.5}'])
    assert code == 0
    assert (tmp_path / "eval.json").is_file()


def test_eval_report_records_features_switched_on(relu_checkpoint: Path, tmp_path: Path) -> None:
    import json

    from neurosym.cli import main

    main(["eval", "--checkpoint", str(relu_checkpoint), "--task", "episodic.location", "-n", "2",
          "--out", str(tmp_path), "--feature", 'knn_attention={"k": 4, "window": 4}'])
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["features"]["knn_attention"]["k"] == 4


def test_eval_with_feature_that_misfits_checkpoint_exits_2(relu_checkpoint: Path, tmp_path: Path) -> None:
    from neurosym.cli import main

    code = main(["eval", "--checkpoint", str(relu_checkpoint), "--task", "episodic.location", "-n", "3",
                 "--out", str(tmp_path), "--feature", 'knn_mlp={"backend": "product_keys"}'])
    assert code == 2
