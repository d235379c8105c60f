"""Maintenance: forget, decay and consolidate."""

from __future__ import annotations

from memory_test_utils import DIM, unit_rows

from neurosym.memory import Fact


class RecordingGraph:
    def __init__(self) -> None:
        self.facts: list[tuple[str, str, str, int]] = []

    def add_fact(self, subject: str, relation: str, object: str, time: int) -> None:
        self.facts.append((subject, relation, object, time))


def test_forget_deletes_older_events(memory, rng):
    memory.add_batch(unit_rows(rng, 10), times=list(range(10)))
    assert memory.forget(before=4) == 4
    assert sorted(e.time for e in memory.events()) == [4, 5, 6, 7, 8, 9]
    assert all(h.event.time >= 4 for h in memory.search(rng.standard_normal(DIM), 10))


def test_decay_keeps_recent_and_used_events(memory, rng):
    keys = unit_rows(rng, 10)
    memory.add_batch(keys, times=list(range(10)))
    memory.search(keys[1], 1)  # event 2 (time 1) is used once
    removed = memory.decay(min_age=5, max_access_count=0)
    # now = 9, so times 0..4 are old; time 1 was retrieved and stays.
    assert removed == 4
    assert sorted(e.time for e in memory.events()) == [1, 5, 6, 7, 8, 9]


def test_consolidate_merges_near_duplicates_in_episode(memory, rng):
    key = unit_rows(rng, 1)[0]
    near = key + 0.01 * unit_rows(rng, 1)[0]
    other = unit_rows(rng, 1)[0]
    first = memory.add(key, time=1, text="Mary is in the kitchen.", episode="a")
    memory.add(near, time=2, text="Mary is in the kitchen!", episode="a")
    memory.add(near, time=3, text="Mary is in the kitchen.", episode="b")
    memory.add(other, time=4, text="John left.", episode="a")
    memory.search(near, 1, episode="a")
    report = memory.consolidate(similarity=0.95)
    assert report.merged == 1
    assert len(memory) == 3
    survivor = memory.get(first)
    assert survivor.support == 2
    assert survivor.time == 1


def test_consolidate_does_not_merge_across_contradiction(memory, rng):
    key = unit_rows(rng, 1)[0]
    memory.add(key, time=1, triple=("mary", "location", "kitchen"))
    memory.add(key, time=2, triple=("mary", "location", "garden"))
    memory.add(key, time=3, triple=("mary", "location", "kitchen"))
    report = memory.consolidate(similarity=0.9)
    assert report.merged == 0
    assert memory.latest("mary", "location", as_of=2).object == "garden"


def test_consolidate_exports_stable_facts(memory, rng):
    keys = unit_rows(rng, 6)
    memory.add_batch(
        keys,
        times=[1, 2, 3, 4, 5, 6],
        triples=[
            ("mary", "location", "kitchen"),
            ("mary", "location", "kitchen"),
            ("mary", "location", "hall"),  # seen once, contradicted at time 4
            ("mary", "location", "garden"),  # last: not contradicted later
            ("john", "holds", "apple"),
            ("john", "holds", "apple"),
        ],
    )
    graph = RecordingGraph()
    report = memory.consolidate(similarity=0.999, graph=graph)
    assert graph.facts == [
        ("john", "holds", "apple", 5),
        ("mary", "location", "kitchen", 1),
        ("mary", "location", "garden", 4),
    ]
    assert report.exported == 3
    assert report.stable_facts == [Fact(*fact) for fact in graph.facts]


def test_consolidate_merged_duplicates_count_as_repeats(memory, rng):
    key = unit_rows(rng, 1)[0]
    memory.add(key, time=1, triple=("mary", "location", "kitchen"))
    memory.add(key, time=2, triple=("mary", "location", "kitchen"))
    memory.add(unit_rows(rng, 1)[0], time=3, triple=("mary", "location", "garden"))
    first = memory.consolidate(similarity=0.95)
    assert first.merged == 1
    second = memory.consolidate(similarity=0.95)
    assert Fact("mary", "location", "kitchen", 1) in second.stable_facts


def test_consolidate_empty_store(memory):
    report = memory.consolidate()
    assert report.merged == 0
    assert report.stable_facts == []
