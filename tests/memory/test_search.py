"""Search: ranking, filters, recency scoring, batches and deletion."""

from __future__ import annotations

import numpy as np
import pytest
from memory_test_utils import DIM, brute_force_top, unit_rows

from neurosym.memory import EpisodicMemory, MemoryConfig


def test_search_matches_brute_force(memory, rng):
    keys = unit_rows(rng, 200)
    ids = np.array(memory.add_batch(keys))
    query = rng.standard_normal(DIM)
    hits = memory.search(query, 7)
    assert [hit.id for hit in hits] == brute_force_top(keys, ids, query, 7)


def test_search_similarity_is_cosine(memory, rng):
    keys = rng.standard_normal((5, DIM)) * 3.0
    memory.add_batch(keys)
    query = rng.standard_normal(DIM) * 0.1
    hit = memory.search(query, 1)[0]
    expected = keys[hit.id - 1] @ query / (np.linalg.norm(keys[hit.id - 1]) * np.linalg.norm(query))
    assert hit.similarity == pytest.approx(expected, abs=1e-5)


def test_search_stores_normalised_keys(memory, rng):
    event_id = memory.add(rng.standard_normal(DIM) * 10.0)
    assert np.linalg.norm(memory.get(event_id).key) == pytest.approx(1.0, abs=1e-6)


def test_search_as_of_filter_still_returns_k(memory, rng):
    keys = unit_rows(rng, 300)
    memory.add_batch(keys, times=list(range(300)))
    query = keys[290]  # the best matches lie after as_of
    hits = memory.search(query, 10, as_of=40)
    assert len(hits) == 10
    assert all(hit.event.time <= 40 for hit in hits)
    allowed = np.arange(41)
    assert [hit.id for hit in hits] == brute_force_top(keys[:41], allowed + 1, query, 10)


def test_search_since_and_episode_filters(memory, rng):
    keys = unit_rows(rng, 120)
    episodes = [f"ep{i % 3}" for i in range(120)]
    memory.add_batch(keys, times=list(range(120)), episodes=episodes)
    hits = memory.search(keys[0], 10, since=50, episode="ep1")
    assert len(hits) == 10
    assert all(hit.event.episode == "ep1" for hit in hits)
    assert all(hit.event.time >= 50 for hit in hits)


def test_search_filter_with_fewer_matches_returns_all(memory, rng):
    memory.add_batch(unit_rows(rng, 50), times=list(range(50)))
    hits = memory.search(rng.standard_normal(DIM), 10, as_of=2)
    assert sorted(hit.event.time for hit in hits) == [0, 1, 2]


def test_search_unknown_episode_returns_empty(memory, rng):
    memory.add_batch(unit_rows(rng, 5))
    assert memory.search(rng.standard_normal(DIM), 3, episode="missing") == []


def test_search_empty_store_returns_empty(memory, rng):
    assert memory.search(rng.standard_normal(DIM), 3) == []


def test_search_recency_score_formula(rng):
    config = MemoryConfig(recency_weight=0.3)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        keys = unit_rows(rng, 40)
        memory.add_batch(keys, times=list(range(0, 80, 2)))
        query = rng.standard_normal(DIM)
        hits = memory.search(query, 40, as_of=70, recency_half_life=5.0)
        for hit in hits:
            cosine = keys[hit.id - 1] @ query / np.linalg.norm(query)
            recency = 2.0 ** (-(70 - hit.event.time) / 5.0)
            assert hit.score == pytest.approx(cosine + 0.3 * recency, abs=1e-5)


def test_search_recency_ranking_matches_brute_force(rng):
    config = MemoryConfig(recency_weight=1.0)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        keys = unit_rows(rng, 500)
        times = rng.integers(0, 1000, size=500)
        memory.add_batch(keys, times=times.tolist())
        query = rng.standard_normal(DIM)
        hits = memory.search(query, 10, recency_half_life=20.0)
        now = times.max()
        scores = keys @ (query / np.linalg.norm(query)) + 2.0 ** (-(now - times) / 20.0)
        expected = (np.lexsort((np.arange(500), -scores))[:10] + 1).tolist()
        assert [hit.id for hit in hits] == expected


def test_search_recency_prefers_recent_duplicate(memory, rng):
    key = unit_rows(rng, 1)[0]
    old_id = memory.add(key, time=0)
    new_id = memory.add(key, time=100)
    assert old_id < new_id
    hits = memory.search(key, 1, recency_half_life=10.0)
    assert hits[0].id == new_id


def test_search_batch_returns_list_per_query(memory, rng):
    keys = unit_rows(rng, 100)
    ids = np.array(memory.add_batch(keys))
    queries = rng.standard_normal((4, DIM))
    results = memory.search(queries, 5)
    assert len(results) == 4
    for query, hits in zip(queries, results, strict=True):
        assert [hit.id for hit in hits] == brute_force_top(keys, ids, query, 5)


def test_search_counts_accesses(memory, rng):
    keys = unit_rows(rng, 10)
    memory.add_batch(keys)
    memory.search(keys[3], 1)
    memory.search(keys[3], 1)
    assert memory.get(4).access_count == 2
    assert memory.get(5).access_count == 0


def test_delete_removes_from_search(memory, rng):
    keys = unit_rows(rng, 30)
    memory.add_batch(keys)
    assert memory.delete([4, 5, 999]) == 2
    assert 4 not in memory
    assert all(hit.id not in (4, 5) for hit in memory.search(keys[3], 30))
    assert len(memory) == 28


def test_add_default_times_count_up(memory, rng):
    memory.add(unit_rows(rng, 1)[0], time=10)
    ids = memory.add_batch(unit_rows(rng, 3))
    assert [memory.get(i).time for i in ids] == [11, 12, 13]


def test_add_keeps_payload_and_value(memory, rng):
    value = np.arange(5, dtype=np.float32)
    event_id = memory.add(unit_rows(rng, 1)[0], time=3, text="Mary went home.",
                          triple=("mary", "location", "home"), value=value, episode="story-1",
                          wall_time=12.5)
    event = memory.get(event_id)
    assert event.text == "Mary went home."
    assert event.fact == ("mary", "location", "home", 3)
    assert np.array_equal(event.value, value)
    assert event.episode == "story-1"
    assert event.wall_time == 12.5


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_filtered_search_approximate_kinds_return_k(kind, rng):
    config = MemoryConfig(index=kind, ivf_nlist=8, ivf_nprobe=1, hnsw_ef_search=16)
    with EpisodicMemory.open(None, dim=DIM, config=config) as memory:
        keys = unit_rows(rng, 600)
        memory.add_batch(keys, times=list(range(600)), episodes=["a"] * 590 + ["b"] * 10)
        hits = memory.search(keys[0], 10, episode="b")
        assert sorted(hit.id for hit in hits) == list(range(591, 601))
