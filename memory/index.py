"""Thin adapters around the faiss indexes the episodic memory can use.

Every adapter stores L2-normalised float32 vectors under int64 event ids and searches
by inner product, which equals cosine similarity for unit vectors. The store keeps the
vectors' source of truth in SQLite. An adapter only runs searches and reports which
ids it contains, so that the store can repair a stale saved index.

Registry: :data:`INDEX_REGISTRY` maps each :data:`~neurosym.memory.config.IndexKind`
to its adapter class, and :func:`make_index` is the one place that dispatches on it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import ClassVar

import faiss
import numpy as np

from .config import MemoryConfig, check_index_kind

logger = logging.getLogger(__name__)

# Returns (ids, vectors) of every live event, read from SQLite.
VectorSource = Callable[[], "tuple[np.ndarray, np.ndarray]"]


class IncompatibleIndexError(Exception):
    """A loaded faiss index does not match the store's dimension or index settings."""


def _owned_downcast(index: faiss.Index) -> faiss.Index:
    """Downcast ``index`` to its concrete class, moving ownership to the new proxy.

    ``faiss.downcast_index`` returns a proxy that does not own the C++ object, so
    the object would be freed with the original proxy.
    """
    concrete = faiss.downcast_index(index)
    if concrete is not index and index.this.own():
        index.this.disown()
        concrete.this.acquire()
    return concrete


def _ids_of_id_map(index: faiss.IndexIDMap2) -> np.ndarray:
    return faiss.vector_to_array(index.id_map).astype(np.int64, copy=False)


class VectorIndex:
    """Common interface of the index adapters."""

    kind: ClassVar[str]

    def __init__(self, dim: int, config: MemoryConfig) -> None:
        self.dim = dim
        self.config = config

    @property
    def exact(self) -> bool:
        """Whether searches return the true nearest neighbours."""
        raise NotImplementedError

    @property
    def needs_selector(self) -> bool:
        """Whether searches must pass a selector to skip ids that are no longer live."""
        return False

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise NotImplementedError

    def remove(self, ids: np.ndarray) -> None:
        raise NotImplementedError

    def search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(similarities, ids)`` of shape ``(n_queries, k)``; missing slots have id -1."""
        raise NotImplementedError

    def stored_ids(self) -> np.ndarray:
        """Return every id the faiss index holds, including HNSW tombstones."""
        raise NotImplementedError

    def faiss_index(self) -> faiss.Index:
        """Return the faiss index to save with ``faiss.write_index``."""
        raise NotImplementedError

    def maintain(self, source: VectorSource) -> None:
        """Rebuild or retrain when the adapter's policy requires it (the base class does nothing)."""

    @classmethod
    def from_faiss(cls, index: faiss.Index, dim: int, config: MemoryConfig) -> VectorIndex:
        """Wrap a loaded faiss index, or raise IncompatibleIndexError."""
        raise NotImplementedError


class FlatIndex(VectorIndex):
    """Exact search: ``IndexIDMap2(IndexFlatIP)``, a brute-force scan of every vector."""

    kind = "flat"

    def __init__(self, dim: int, config: MemoryConfig, index: faiss.Index | None = None) -> None:
        super().__init__(dim, config)
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def exact(self) -> bool:
        return True

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self._index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None
    ) -> tuple[np.ndarray, np.ndarray]:
        params = faiss.SearchParameters(sel=selector) if selector is not None else None
        return self._index.search(queries, k, params=params)

    def stored_ids(self) -> np.ndarray:
        return _ids_of_id_map(self._index)

    def faiss_index(self) -> faiss.Index:
        return self._index

    @classmethod
    def from_faiss(cls, index: faiss.Index, dim: int, config: MemoryConfig) -> FlatIndex:
        index = _owned_downcast(index)
        if not isinstance(index, faiss.IndexIDMap2) or index.d != dim:
            raise IncompatibleIndexError(f"expected IndexIDMap2 of dimension {dim}")
        inner = faiss.downcast_index(index.index)
        if not isinstance(inner, faiss.IndexFlatIP):
            raise IncompatibleIndexError(f"expected IndexFlatIP inside, got {type(inner).__name__}")
        return cls(dim, config, index)


class HNSWIndex(VectorIndex):
    """Approximate search on an HNSW graph: ``IndexIDMap2(IndexHNSWFlat)``.

    faiss cannot remove vectors from an HNSW graph, so :meth:`remove` records the ids
    as tombstones. The store then searches with a selector of live ids, and
    :meth:`maintain` rebuilds the graph from SQLite once the tombstones exceed
    ``config.hnsw_rebuild_fraction`` of the vectors in the graph.
    """

    kind = "hnsw"

    def __init__(self, dim: int, config: MemoryConfig, index: faiss.Index | None = None) -> None:
        super().__init__(dim, config)
        if index is None:
            hnsw = faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = config.hnsw_ef_construction
            index = faiss.IndexIDMap2(hnsw)
        self._index = index
        self.tombstones: set[int] = set()

    @property
    def exact(self) -> bool:
        return False

    @property
    def needs_selector(self) -> bool:
        return bool(self.tombstones)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> None:
        self.tombstones.update(int(i) for i in ids)

    def search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None
    ) -> tuple[np.ndarray, np.ndarray]:
        params = faiss.SearchParametersHNSW(efSearch=max(self.config.hnsw_ef_search, k))
        if selector is not None:
            params.sel = selector
        return self._index.search(queries, k, params=params)

    def stored_ids(self) -> np.ndarray:
        return _ids_of_id_map(self._index)

    def faiss_index(self) -> faiss.Index:
        return self._index

    def maintain(self, source: VectorSource) -> None:
        graph_size = int(self._index.ntotal)
        if not self.tombstones or len(self.tombstones) <= self.config.hnsw_rebuild_fraction * graph_size:
            return
        logger.info(
            "rebuilding HNSW graph without %d tombstones (%d vectors in the graph)",
            len(self.tombstones), graph_size,
        )
        ids, vectors = source()
        fresh = HNSWIndex(self.dim, self.config)
        fresh.add(ids, vectors)
        self._index = fresh._index
        self.tombstones = set()

    @classmethod
    def from_faiss(cls, index: faiss.Index, dim: int, config: MemoryConfig) -> HNSWIndex:
        index = _owned_downcast(index)
        if not isinstance(index, faiss.IndexIDMap2) or index.d != dim:
            raise IncompatibleIndexError(f"expected IndexIDMap2 of dimension {dim}")
        inner = faiss.downcast_index(index.index)
        if not isinstance(inner, faiss.IndexHNSWFlat):
            raise IncompatibleIndexError(f"expected IndexHNSWFlat inside, got {type(inner).__name__}")
        if inner.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise IncompatibleIndexError("expected an inner-product HNSW graph")
        # The graph's neighbour count M cannot change after building.
        if inner.hnsw.nb_neighbors(1) != config.hnsw_m:
            raise IncompatibleIndexError(
                f"saved graph has M={inner.hnsw.nb_neighbors(1)}, config sets {config.hnsw_m}"
            )
        # efConstruction only affects vectors added from now on, so it may change freely.
        inner.hnsw.efConstruction = config.hnsw_ef_construction
        return cls(dim, config, index)


def auto_nlist(n_vectors: int) -> int:
    """Return the default IVF cell count for ``n_vectors``: ``4·√n`` clipped to [1, 4096]."""
    return int(min(4096, max(1, round(4 * math.sqrt(n_vectors)))))


class IVFIndex(VectorIndex):
    """Approximate search over k-means cells: ``IndexIVFFlat`` with inner product.

    Until the store contains ``ivf_min_points_per_cell · nlist`` vectors the k-means
    training would be unreliable, so the adapter searches exactly with a
    :class:`FlatIndex`. :meth:`maintain` trains the IVF index once enough vectors
    exist, and retrains it from all vectors when the store has grown by
    ``ivf_retrain_growth`` since the last training. The growth is counted from the
    vectors present at training time or, after a reopen, at load time.
    """

    kind = "ivf"
    # k-means trains on at most this many sampled vectors per cell, which bounds the
    # training cost on large stores while keeping faiss's 39-points-per-cell minimum.
    train_points_per_cell: ClassVar[int] = 64

    def __init__(self, dim: int, config: MemoryConfig, index: faiss.Index | None = None) -> None:
        super().__init__(dim, config)
        self._flat: FlatIndex | None = None
        self._ivf: faiss.IndexIVFFlat | None = None
        if index is None:
            self._flat = FlatIndex(dim, config)
            self.trained_at = 0
        elif isinstance(index, faiss.IndexIVFFlat):
            self._ivf = index
            self.trained_at = int(index.ntotal)
        else:
            self._flat = FlatIndex.from_faiss(index, dim, config)
            self.trained_at = 0

    @property
    def trained(self) -> bool:
        """Whether the adapter searches the IVF index rather than the exact fallback."""
        return self._ivf is not None

    @property
    def exact(self) -> bool:
        return self._ivf is None

    @property
    def ntotal(self) -> int:
        if self._ivf is not None:
            return int(self._ivf.ntotal)
        assert self._flat is not None
        return self._flat.ntotal

    def target_nlist(self, n_vectors: int) -> int:
        return self.config.ivf_nlist or auto_nlist(n_vectors)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if not len(ids):
            return
        if self._ivf is not None:
            self._ivf.add_with_ids(vectors, ids)
        else:
            assert self._flat is not None
            self._flat.add(ids, vectors)

    def remove(self, ids: np.ndarray) -> None:
        if not len(ids):
            return
        if self._ivf is not None:
            self._ivf.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))
        else:
            assert self._flat is not None
            self._flat.remove(ids)

    def search(
        self, queries: np.ndarray, k: int, selector: faiss.IDSelector | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._ivf is None:
            assert self._flat is not None
            return self._flat.search(queries, k, selector)
        params = faiss.SearchParametersIVF(nprobe=min(self.config.ivf_nprobe, self._ivf.nlist))
        if selector is not None:
            params.sel = selector
        return self._ivf.search(queries, k, params=params)

    def stored_ids(self) -> np.ndarray:
        if self._ivf is None:
            assert self._flat is not None
            return self._flat.stored_ids()
        lists = self._ivf.invlists
        parts = []
        for cell in range(self._ivf.nlist):
            size = lists.list_size(cell)
            if size:
                ids_ptr = lists.get_ids(cell)
                parts.append(faiss.rev_swig_ptr(ids_ptr, size).copy())
                lists.release_ids(cell, ids_ptr)
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def faiss_index(self) -> faiss.Index:
        if self._ivf is not None:
            return self._ivf
        assert self._flat is not None
        return self._flat.faiss_index()

    def maintain(self, source: VectorSource) -> None:
        n_vectors = self.ntotal
        if self._ivf is None:
            nlist = self.target_nlist(n_vectors)
            if n_vectors < self.config.ivf_min_points_per_cell * nlist:
                return
        elif n_vectors < self.config.ivf_retrain_growth * max(self.trained_at, 1):
            return
        self.train(*source())

    def train(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Train a fresh IVF index on ``vectors`` and fill it with them."""
        nlist = self.target_nlist(len(ids))
        logger.info("training IVF index: %d cells on %d vectors", nlist, len(ids))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.max_points_per_centroid = self.train_points_per_cell
        ivf.cp.seed = 1234
        n_sample = min(len(vectors), self.train_points_per_cell * nlist)
        # A fixed-seed sample keeps training reproducible for a given store.
        sample_rows = np.random.default_rng(0).choice(len(vectors), n_sample, replace=False)
        sample_rows.sort()
        ivf.train(vectors[sample_rows])
        ivf.add_with_ids(vectors, ids)
        # Hand the quantizer to the IVF index, which frees it with itself.
        quantizer.this.disown()
        ivf.own_fields = True
        self._ivf = ivf
        self._flat = None
        self.trained_at = len(ids)

    @classmethod
    def from_faiss(cls, index: faiss.Index, dim: int, config: MemoryConfig) -> IVFIndex:
        index = _owned_downcast(index)
        if index.d != dim:
            raise IncompatibleIndexError(f"expected dimension {dim}, got {index.d}")
        if isinstance(index, faiss.IndexIVFFlat):
            if index.metric_type != faiss.METRIC_INNER_PRODUCT:
                raise IncompatibleIndexError("expected an inner-product IVF index")
            if config.ivf_nlist is not None and index.nlist != config.ivf_nlist:
                raise IncompatibleIndexError(
                    f"saved IVF index has nlist={index.nlist}, config sets {config.ivf_nlist}"
                )
        return cls(dim, config, index)


INDEX_REGISTRY: dict[str, type[VectorIndex]] = {
    "flat": FlatIndex,
    "hnsw": HNSWIndex,
    "ivf": IVFIndex,
}


def make_index(dim: int, config: MemoryConfig) -> VectorIndex:
    """Create an empty index adapter of the kind ``config.index`` names."""
    return INDEX_REGISTRY[check_index_kind(config.index)](dim, config)


def wrap_index(index: faiss.Index, dim: int, config: MemoryConfig) -> VectorIndex:
    """Wrap a loaded faiss index in the adapter of ``config.index``, or raise IncompatibleIndexError."""
    return INDEX_REGISTRY[check_index_kind(config.index)].from_faiss(index, dim, config)
