"""Vector helpers shared by the episodic memory tests."""

from __future__ import annotations

import numpy as np

DIM = 16


def unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def clustered_rows(rng: np.random.Generator, n: int, dim: int, n_clusters: int) -> np.ndarray:
    centers = unit_rows(rng, n_clusters, dim)
    rows = centers[rng.integers(n_clusters, size=n)] + rng.standard_normal((n, dim)) * (1.0 / np.sqrt(dim))
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def brute_force_top(keys: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    similarities = keys @ (query / np.linalg.norm(query))
    order = np.lexsort((ids, -similarities))[:k]
    return ids[order].tolist()
