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
