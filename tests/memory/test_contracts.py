"""Contracts with neurosym.symbolic: the memory is a FactSource and feeds a KnowledgeGraph."""

from __future__ import annotations

import pytest
from memory_test_utils import unit_rows

facts_module = pytest.importorskip("neurosym.symbolic.facts")
graph_module = pytest.importorskip("neurosym.symbolic.graph")


def test_memory_is_a_fact_source(memory):
    assert isinstance(memory, facts_module.FactSource)


def test_memory_fact_equals_symbolic_fact(memory, rng):
    memory.add(unit_rows(rng, 1)[0], time=3, triple=("mary", "location", "kitchen"))
    assert memory.latest("mary", "location") == facts_module.Fact("mary", "location", "kitchen", 3)


def test_consolidate_fills_knowledge_graph(memory, rng):
    memory.add_batch(
        unit_rows(rng, 2), times=[1, 4],
        triples=[("mary", "location", "kitchen"), ("mary", "location", "garden")],
    )
    graph = graph_module.KnowledgeGraph()
    memory.consolidate(graph=graph)
    assert graph.latest("mary", "location").object == "garden"
    assert graph.latest("mary", "location", as_of=2) is None


def _story_memory(memory, rng):
    memory.add_batch(
        unit_rows(rng, 4), times=[1, 5, 3, 5],
        triples=[("mary", "location", "kitchen"), ("mary", "location", "garden"),
                 ("mary", "location", "office"), ("mary", "location", "attic")],
    )
    return memory


def test_executor_latest_reads_memory(memory, rng):
    execute = pytest.importorskip("neurosym.symbolic").execute
    # Two facts share time 5; the later-inserted one wins.
    assert execute("(latest location mary)", memory=_story_memory(memory, rng)).value == "attic"


def test_executor_at_reads_memory_out_of_order(memory, rng):
    execute = pytest.importorskip("neurosym.symbolic").execute
    assert execute("(at location mary 4)", memory=_story_memory(memory, rng)).value == "office"
