"""Kinship composition on small families, and against CLUTRR's targets."""

import ast
import csv

import pytest

from neurosym.symbolic import CompositionError, GraphError, KnowledgeGraph, ProgramRuntimeError
from neurosym.symbolic.kinship import (
    CLUTRR_COMPOSITION,
    compose,
    compose_pair,
    inverse,
    with_gender,
)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("father", "mother", "grandmother"),
        ("mother", "father", "grandfather"),
        ("father", "brother", "uncle"),
        ("mother", "sister", "aunt"),
        ("brother", "son", "nephew"),
        ("sister", "daughter", "niece"),
        ("son", "daughter", "granddaughter"),
        ("wife", "father", "father-in-law"),
        ("husband", "mother", "mother-in-law"),
        ("son", "wife", "daughter-in-law"),
        ("daughter", "husband", "son-in-law"),
        ("father", "son", "brother"),
        ("parent", "parent", "grandparent"),
    ],
)
def test_compose_pair(first, second, expected):
    assert compose_pair(first, second) == expected


def test_compose_pair_unknown_rule_names_both_relations():
    with pytest.raises(CompositionError) as info:
        compose_pair("grandfather", "father")
    assert info.value.first == "grandfather"
    assert info.value.second == "father"
    assert "'grandfather' followed by 'father'" in str(info.value)


def test_compose_chain_left_to_right():
    assert compose(["wife", "father", "wife"]) == "parent-in-law"


def test_compose_chain_tries_other_bracketing():
    # CLUTRR's table has no rule for (child, parent), but son∘(mother∘mother) works.
    assert compose(["son", "mother", "mother"], CLUTRR_COMPOSITION) == "parent"


def test_inverse_uses_gender_of_subject():
    assert inverse("father", "female") == "daughter"


def test_with_gender_unknown_gender_is_neutral():
    assert with_gender("grandmother", None) == "grandparent"


@pytest.fixture
def family():
    # Alice's father is Bob; Bob's mother is Carol; Bob's brother is Dan;
    # Dan's son is Eve's husband... kept small: Eve is Dan's daughter.
    return KnowledgeGraph.from_facts(
        [
            ("alice", "father", "bob", 0),
            ("bob", "mother", "carol", 1),
            ("bob", "brother", "dan", 2),
            ("dan", "daughter", "eve", 3),
            ("frank", "wife", "alice", 4),
        ],
        genders={"alice": "female", "frank": "male"},
    )


def test_relation_along_forward_path(family):
    assert family.kinship("alice", "carol") == "grandmother"


def test_relation_against_edge_direction(family):
    assert family.kinship("carol", "alice") == "granddaughter"


def test_relation_uncle(family):
    assert family.kinship("alice", "dan") == "uncle"


def test_relation_in_law(family):
    assert family.kinship("frank", "bob") == "father-in-law"


def test_relation_single_edge_inverse(family):
    assert family.kinship("bob", "alice") == "daughter"


def test_relation_no_rule_raises_composition_error(family):
    with pytest.raises(CompositionError, match="no kinship rule"):
        family.kinship("alice", "eve")


def test_relation_without_gender_is_neutral():
    graph = KnowledgeGraph.from_facts([("a", "parent", "b", 0), ("b", "parent", "c", 0)])
    assert graph.kinship("a", "c") == "grandparent"


def test_relation_to_self_raises(family):
    with pytest.raises(ProgramRuntimeError, match="itself"):
        family.kinship("alice", "alice")


def test_relation_without_path_raises():
    graph = KnowledgeGraph.from_facts([("a", "father", "b", 0), ("c", "father", "d", 0)])
    with pytest.raises(ProgramRuntimeError, match="no chain"):
        graph.kinship("a", "d")


def test_gender_conflict_raises_graph_error():
    graph = KnowledgeGraph.from_facts([("a", "father", "b", 0)])
    with pytest.raises(GraphError, match="already male"):
        graph.add_fact("c", "mother", "b", 1)


def test_relation_matches_clutrr_targets(clutrr_dir):
    rows = []
    for path in sorted(clutrr_dir.glob("data_*/*_test.csv")):
        with path.open(newline="") as handle:
            rows.extend(csv.DictReader(handle))
    if not rows:
        pytest.skip(f"no CLUTRR test CSV files under {clutrr_dir}")
    correct = 0
    for row in rows:
        genders = dict(item.split(":") for item in row["genders"].split(","))
        names = list(genders)
        edges = ast.literal_eval(row["story_edges"])
        kinds = ast.literal_eval(row["edge_types"])
        source, target = ast.literal_eval(row["query_edge"])
        # A few CLUTRR rows list more story edges than edge types; the extras are dropped.
        pairs = zip(edges, kinds, strict=False)
        facts = [(names[a], kind, names[b], t) for t, ((a, b), kind) in enumerate(pairs)]
        graph = KnowledgeGraph.from_facts(facts, genders=genders, rules=CLUTRR_COMPOSITION)
        try:
            correct += graph.kinship(names[source], names[target]) == row["target"]
        except ProgramRuntimeError:
            pass
    assert correct / len(rows) > 0.9
