"""Index adapters: approximate kinds against exact search, tombstones and IVF training."""

from __future__ import annotations

import numpy as np
import pytest
from memory_test_utils import clustered_rows

from neurosym.memory import INDEX_KINDS, INDEX_REGISTRY, EpisodicMemory, MemoryConfig

DIM = 32


def recall_at_10(memory: EpisodicMemory, keys: np.ndarray, queries: np.ndarray) -> float:
    exact = np.argsort(-(queries @ keys.T), axis=1)[:, :10] + 1
    found = memory.search(queries, 10)
    overlaps = [len({h.id for h in hits} & set(row.tolist())) for hits, row in zip(found, exact, strict=True)]
    return sum(overlaps) / (10 * len(queries))


def test_registry_covers_every_kind():
    assert set(INDEX_REGISTRY) == set(INDEX_KINDS)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_recall_against_exact(kind):
    rng = np.random.default_rng(5)
    keys = clustered_rows(rng, 3000, DIM, n_clusters=20)
    queries = clustered_rows(rng, 50, DIM, n_clusters=20)
    config = MemoryConfig(index=kind, ivf_nlist=32, ivf_nprobe=8, hnsw_m=16)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        memory.add_batch(keys)
        assert memory._index.exact is False
        assert recall_at_10(memory, keys, queries) >= 0.9


def test_flat_recall_is_exact():
    rng = np.random.default_rng(6)
    keys = clustered_rows(rng, 1000, DIM, n_clusters=10)
    queries = clustered_rows(rng, 20, DIM, n_clusters=10)
    with EpisodicMemory.open(None, dim=DIM) as memory:
        memory.add_batch(keys)
        assert recall_at_10(memory, keys, queries) == 1.0


def test_hnsw_delete_uses_tombstones_then_rebuilds():
    rng = np.random.default_rng(7)
    keys = clustered_rows(rng, 400, DIM, n_clusters=5)
    config = MemoryConfig(index="hnsw", hnsw_rebuild_fraction=0.25)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        memory.add_batch(keys)
        memory.delete(range(1, 51))
        assert len(memory._index.tombstones) == 50
        assert all(h.id > 50 for h in memory.search(keys[:5], 20)[0])
        memory.delete(range(51, 151))
        assert memory._index.tombstones == set()
        assert memory._index.faiss_index().ntotal == 250
        assert memory.search(keys[200], 1)[0].id == 201


def test_ivf_searches_exactly_until_trained():
    rng = np.random.default_rng(8)
    config = MemoryConfig(index="ivf", ivf_nlist=4, ivf_min_points_per_cell=39)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        memory.add_batch(clustered_rows(rng, 155, DIM, n_clusters=4))
        assert memory._index.trained is False
        memory.add(clustered_rows(rng, 1, DIM, n_clusters=4)[0])
        assert memory._index.trained is True


def test_ivf_retrains_after_growth():
    rng = np.random.default_rng(9)
    config = MemoryConfig(index="ivf", ivf_nlist=4, ivf_retrain_growth=2.0)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        memory.add_batch(clustered_rows(rng, 200, DIM, n_clusters=4))
        assert memory._index.trained_at == 200
        memory.add_batch(clustered_rows(rng, 100, DIM, n_clusters=4))
        assert memory._index.trained_at == 200
        memory.add_batch(clustered_rows(rng, 100, DIM, n_clusters=4))
        assert memory._index.trained_at == 400


def test_ivf_delete_removes_vectors():
    rng = np.random.default_rng(10)
    keys = clustered_rows(rng, 300, DIM, n_clusters=4)
    config = MemoryConfig(index="ivf", ivf_nlist=4, ivf_nprobe=4)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        memory.add_batch(keys)
        memory.delete([10, 11])
        assert memory._index.faiss_index().ntotal == 298
        assert memory.search(keys[9], 1)[0].id != 10
