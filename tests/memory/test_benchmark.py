"""The memory benchmark runs end to end on a tiny store and reports every figure."""

from __future__ import annotations

import pytest

from neurosym.memory import MemoryConfig, benchmark_memory


def test_benchmark_reports_each_kind(tmp_path):
    config = MemoryConfig(ivf_nlist=8, ivf_nprobe=8)
    report = benchmark_memory(2000, dim=16, n_queries=20, path=tmp_path, config=config)
    assert set(report["kinds"]) == {"flat", "hnsw", "ivf"}
    for kind, figures in report["kinds"].items():
        assert figures["write_events_per_s"] > 0, kind
        assert figures["search_p50_ms"] <= figures["search_p99_ms"], kind
        assert 0.0 <= figures["recall_at_k"] <= 1.0, kind
        assert figures["reopen_s"] > 0, kind
    assert report["kinds"]["flat"]["recall_at_k"] == 1.0
    assert list(tmp_path.iterdir()) == []


def test_benchmark_rejects_unknown_kind():
    with pytest.raises(ValueError, match="valid kinds"):
        benchmark_memory(100, dim=8, kinds=("flat", "lsh"))
