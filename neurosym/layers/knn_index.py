"""A thin faiss adapter for maximum-inner-product search over a growing set of keys.

Used by kNN attention (one index per layer, sequence and head) and by the kNN MLP's
faiss back-end (one index over the rows of W_in). Scores are inner products, so the
best key for a query is the one softmax(q . k) would weigh most.
"""

from __future__ import annotations

from typing import Literal, get_args

import faiss
import numpy as np

from neurosym.errors import ConfigError

IndexKind = Literal["exact", "hnsw", "ivf"]
INDEX_KINDS: tuple[str, ...] = get_args(IndexKind)
IVF_POINTS_PER_CELL = 39  # faiss warns below this many training points per cell


class KeyIndex:
    """Inner-product index of one stream of keys, ids 0, 1, 2, ... in insertion order.

    ``exact`` is a flat index; ``hnsw`` a navigable small-world graph (Malkov and
    Yashunin 2016); ``ivf`` inverted lists over ``nlist`` k-means cells, trained on the
    first ``nlist * 39`` keys. Until an IVF index is trained it searches flat, so a
    short sequence is always searched exactly.
    """

    def __init__(
        self,
        dim: int,
        kind: IndexKind = "exact",
        hnsw_m: int = 16,
        ef_search: int = 64,
        ef_construction: int = 40,
        nlist: int = 64,
        nprobe: int = 8,
    ) -> None:
        if kind not in INDEX_KINDS:
            raise ConfigError(f"unknown index kind {kind!r}; valid kinds: {', '.join(INDEX_KINDS)}")
        self.dim = dim
        self.kind = kind
        self.hnsw_m = hnsw_m
        self.ef_search = ef_search
        self.ef_construction = ef_construction
        self.nlist = nlist
        self.nprobe = nprobe
        self._quantizer: faiss.Index | None = None
        self.index = self._new_index()

    def _new_index(self) -> faiss.Index:
        if self.kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.ef_construction
            index.hnsw.efSearch = self.ef_search
            return index
        return faiss.IndexFlatIP(self.dim)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def reset(self) -> None:
        """Forget every key."""
        self.index = self._new_index()

    def add(self, keys: np.ndarray) -> None:
        """Append ``keys`` (n, dim); they get the next ids."""
        keys = np.ascontiguousarray(keys, dtype=np.float32)
        if keys.ndim != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must have shape (n, {self.dim}), got {keys.shape}")
        if keys.shape[0] == 0:
            return
        self.index.add(keys)
        if self.kind == "ivf" and isinstance(self.index, faiss.IndexFlatIP):
            self._maybe_train_ivf()

    def _maybe_train_ivf(self) -> None:
        """Move the keys from the flat stand-in into an IVF index once there are enough to train it."""
        count = self.ntotal
        if count < self.nlist * IVF_POINTS_PER_CELL:
            return
        keys = self.index.reconstruct_n(0, count)
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, self.nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.train(keys)
        ivf.add(keys)
        ivf.nprobe = self.nprobe
        self._quantizer = quantizer  # the IVF index does not own its quantizer; keep it alive
        self.index = ivf

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (scores, ids), each (m, k'), k' = min(k, ntotal), best first."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must have shape (m, {self.dim}), got {queries.shape}")
        k = min(k, self.ntotal)
        if k <= 0:
            empty = np.zeros((queries.shape[0], 0), dtype=np.float32)
            return empty, empty.astype(np.int64)
        scores, ids = self.index.search(queries, k)
        return scores, ids
