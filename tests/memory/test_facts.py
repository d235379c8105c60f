"""Fact queries: latest, facts_about and timeline, against brute force."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from memory_test_utils import DIM, unit_rows

from neurosym.memory import EpisodicMemory, Fact


def add_facts(memory: EpisodicMemory, facts: list[tuple[str, str, str, int]]) -> list[int]:
    keys = unit_rows(np.random.default_rng(0), len(facts))
    return memory.add_batch(
        keys, times=[f[3] for f in facts], triples=[f[:3] for f in facts]
    )


def test_latest_out_of_order_times(memory):
    add_facts(memory, [
        ("mary", "location", "garden", 5),
        ("mary", "location", "kitchen", 2),
        ("mary", "location", "office", 9),
    ])
    assert memory.latest("mary", "location") == Fact("mary", "location", "office", 9)
    assert memory.latest("mary", "location", as_of=6) == Fact("mary", "location", "garden", 5)
    assert memory.latest("mary", "location", as_of=4) == Fact("mary", "location", "kitchen", 2)


def test_latest_before_first_fact_is_none(memory):
    add_facts(memory, [("mary", "location", "garden", 5)])
    assert memory.latest("mary", "location", as_of=4) is None
    assert memory.latest("john", "location") is None


def test_latest_tie_later_insert_wins(memory):
    add_facts(memory, [
        ("mary", "location", "garden", 5),
        ("mary", "location", "kitchen", 5),
    ])
    assert memory.latest("mary", "location", as_of=5).object == "kitchen"
    memory.add(unit_rows(np.random.default_rng(1), 1)[0], time=5,
               triple=("mary", "location", "hall"))
    assert memory.latest("mary", "location").object == "hall"


def test_facts_about_subject_and_object(memory):
    add_facts(memory, [
        ("mary", "holds", "apple", 3),
        ("john", "gave", "mary", 1),
        ("bill", "location", "park", 2),
    ])
    assert memory.facts_about("mary") == [
        Fact("john", "gave", "mary", 1),
        Fact("mary", "holds", "apple", 3),
    ]


def test_timeline_orders_by_time(memory):
    ids = add_facts(memory, [
        ("mary", "location", "garden", 7),
        ("mary", "location", "kitchen", 1),
        ("bill", "sees", "mary", 4),
    ])
    memory.add(unit_rows(np.random.default_rng(2), 1)[0], time=0, text="mary sleeps")
    assert [event.id for event in memory.timeline("mary")] == [ids[1], ids[2], ids[0]]


fact_lists = st.lists(
    st.tuples(
        st.sampled_from(["mary", "john"]),
        st.sampled_from(["location", "holds"]),
        st.sampled_from(["garden", "kitchen", "ball"]),
        st.integers(0, 6),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None)
@given(facts=fact_lists, as_of=st.one_of(st.none(), st.integers(-1, 7)))
def test_latest_matches_brute_force(facts, as_of):
    with EpisodicMemory.open(None, dim=DIM) as memory:
        if facts:
            add_facts(memory, facts)
        for subject in ("mary", "john"):
            for relation in ("location", "holds"):
                candidates = [
                    (time, order, obj) for order, (s, r, obj, time) in enumerate(facts)
                    if s == subject and r == relation and (as_of is None or time <= as_of)
                ]
                expected = None
                if candidates:
                    time, _, obj = max(candidates)
                    expected = Fact(subject, relation, obj, time)
                assert memory.latest(subject, relation, as_of=as_of) == expected
