"""Benchmark of the episodic memory: write rate, search latency, recall and reopen time."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from tqdm import tqdm

from .config import MemoryConfig, check_index_kind
from .episodic import EpisodicMemory

logger = logging.getLogger(__name__)

WRITE_BATCH = 10_000


def clustered_vectors(
    n_vectors: int, dim: int, rng: np.random.Generator, centers: np.ndarray, spread: float,
) -> np.ndarray:
    """Sample unit vectors from a mixture of isotropic Gaussians around ``centers``.

    Fills the result in blocks, so memory stays at one float32 copy of the output.
    """
    out = np.empty((n_vectors, dim), dtype=np.float32)
    for start in range(0, n_vectors, 65536):
        stop = min(n_vectors, start + 65536)
        labels = rng.integers(len(centers), size=stop - start)
        block = centers[labels] + rng.standard_normal((stop - start, dim), dtype=np.float32) * spread
        out[start:stop] = block
    faiss.normalize_L2(out)
    return out


def benchmark_memory(
    n_events: int, dim: int = 256, k: int = 10, n_queries: int = 200,
    kinds: Sequence[str] = ("flat", "hnsw", "ivf"), seed: int = 0,
    path: str | os.PathLike[str] | None = None, config: MemoryConfig | None = None,
) -> dict[str, Any]:
    """Measure each index kind on ``n_events`` clustered synthetic events.

    The data is a mixture of ``max(16, √n / 4)`` Gaussian clusters with unit-norm
    centres and per-coordinate spread ``1.5 / √dim``. A member's offset from its
    centre is then longer than the centre vector, so neighbours within a cluster are
    not trivial to find. Queries come from the same mixture.

    For each kind it reports:
      - ``write_events_per_s``: events per second of ``add_batch`` in batches of
        10,000, including SQLite commits and any index training;
      - ``search_p50_ms``/``search_p99_ms``: latency of single-query
        ``EpisodicMemory.search`` calls at ``k`` (faiss search, SQLite payload
        fetch and access-count update);
      - ``recall_at_k``: the fraction of the exact top ``k`` that the search returned;
      - ``save_s`` and ``reopen_s``: time of ``close()`` and of ``EpisodicMemory.open``.

    Stores go to a temporary directory under ``path`` (or the system temp dir) and are
    deleted afterwards. ``config`` supplies the index parameters; its ``index``
    field is replaced by each kind in turn.
    """
    if n_events < k:
        raise ValueError(f"n_events={n_events} must be at least k={k}")
    for kind in kinds:
        check_index_kind(kind)
    base_config = config or MemoryConfig()
    rng = np.random.default_rng(seed)
    n_clusters = max(16, int(np.sqrt(n_events) / 4))
    centers = rng.standard_normal((n_clusters, dim), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    spread = 1.5 / np.sqrt(dim)
    logger.info("generating %d clustered vectors of dim %d in %d clusters", n_events, dim, n_clusters)
    data = clustered_vectors(n_events, dim, rng, centers, spread)
    queries = clustered_vectors(n_queries, dim, rng, centers, spread)
    _, exact_rows = faiss.knn(queries, data, k, metric=faiss.METRIC_INNER_PRODUCT)

    report: dict[str, Any] = {
        "n_events": n_events, "dim": dim, "k": k, "n_queries": n_queries, "seed": seed,
        "n_clusters": n_clusters, "faiss_threads": faiss.omp_get_max_threads(), "kinds": {},
    }
    root = Path(tempfile.mkdtemp(prefix="neurosym-memory-bench-", dir=path))
    try:
        for kind in kinds:
            kind_config = dataclasses.replace(base_config, index=kind)
            report["kinds"][kind] = _benchmark_kind(
                root / kind, kind_config, data, queries, exact_rows, k,
            )
            shutil.rmtree(root / kind, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return report


def _benchmark_kind(
    directory: Path, config: MemoryConfig, data: np.ndarray, queries: np.ndarray,
    exact_rows: np.ndarray, k: int,
) -> dict[str, Any]:
    n_events, dim = data.shape
    memory = EpisodicMemory.open(directory, dim=dim, config=config)
    start = time.perf_counter()
    with tqdm(total=n_events, desc=f"{config.index}: add", unit="event", disable=None) as progress:
        for begin in range(0, n_events, WRITE_BATCH):
            stop = min(n_events, begin + WRITE_BATCH)
            memory.add_batch(data[begin:stop], times=range(begin, stop))
            progress.update(stop - begin)
    write_s = time.perf_counter() - start

    latencies = np.empty(len(queries))
    recalls = np.empty(len(queries))
    for row, query in enumerate(tqdm(queries, desc=f"{config.index}: search", disable=None)):
        start = time.perf_counter()
        hits = memory.search(query, k)
        latencies[row] = time.perf_counter() - start
        # Event ids start at 1 and follow insertion order, so id - 1 is the data row.
        found = {hit.id - 1 for hit in hits}
        recalls[row] = len(found & set(exact_rows[row].tolist())) / k

    start = time.perf_counter()
    memory.close()
    save_s = time.perf_counter() - start
    start = time.perf_counter()
    reopened = EpisodicMemory.open(directory)
    reopen_s = time.perf_counter() - start
    reopened_events = len(reopened)
    reopened.close()
    if reopened_events != n_events:
        raise RuntimeError(f"reopened store contains {reopened_events} events, expected {n_events}")

    result = {
        "write_events_per_s": n_events / write_s,
        "write_s": write_s,
        "search_p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "search_p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "recall_at_k": float(recalls.mean()),
        "save_s": save_s,
        "reopen_s": reopen_s,
        "params": {name: value for name, value in config.index_settings().items() if name != "index"},
    }
    if config.index == "hnsw":
        result["params"]["ef_search"] = config.hnsw_ef_search
    if config.index == "ivf":
        result["params"]["nprobe"] = config.ivf_nprobe
    logger.info("%s: %s", config.index, result)
    return result
