"""with-facts, fact and order: facts and questions stated inside one program."""

import pytest

from neurosym.symbolic import (
    KnowledgeGraph,
    LimitExceededError,
    Limits,
    ProgramRuntimeError,
    ProgramValidationError,
    execute,
    parse,
    to_text,
)

FAMILY = "(fact alice father bob) (fact bob mother carol)"


def test_with_facts_composes_kinship():
    result = execute(f"(with-facts {FAMILY} (relation alice carol))")
    assert result.value == "grandmother"


def test_with_facts_uses_clutrr_rules():
    # CLUTRR_COMPOSITION takes a child's grandparent to be one's parent.
    program = "(with-facts (fact a son b) (fact b grandmother c) (relation a c))"
    assert execute(program).value == "mother"


def test_with_facts_hides_the_given_graph():
    outside = KnowledgeGraph.from_facts([("alice", "father", "zed", 0)])
    result = execute(f"(with-facts {FAMILY} (relation alice bob))", graph=outside)
    assert result.value == "father"


def test_with_facts_restores_the_given_graph():
    outside = KnowledgeGraph.from_facts([("alice", "father", "zed", 0)])
    program = f"(list (with-facts {FAMILY} (relation alice bob)) (relation alice zed))"
    assert execute(program, graph=outside).value == ("father", "father")


def test_with_facts_default_times_are_positions():
    program = "(with-facts (fact mary location kitchen) (fact mary location garden) (history location mary))"
    assert execute(program).value == ("kitchen", "garden")


def test_with_facts_explicit_time_orders_facts():
    program = ("(with-facts (fact mary location kitchen 5) (fact mary location garden 2) "
               "(latest location mary))")
    assert execute(program).value == "kitchen"


def test_with_facts_directions():
    program = "(with-facts (fact garden north kitchen) (fact kitchen east hall) (directions hall garden))"
    assert execute(program).value == ("west", "south")


def test_with_facts_round_trips_as_text():
    text = f"(with-facts {FAMILY} (relation alice carol))"
    assert to_text(parse(text)) == text


def test_with_facts_rejects_non_fact_argument():
    with pytest.raises(ProgramValidationError, match="argument 1 must be a \\(fact"):
        execute("(with-facts 3 (relation a b))")


def test_with_facts_rejects_contradicting_genders():
    with pytest.raises(ProgramValidationError, match="fact 2"):
        execute("(with-facts (fact a father b) (fact c mother b) (relation a c))")


def test_with_facts_limit_on_fact_count():
    with pytest.raises(LimitExceededError) as info:
        execute(f"(with-facts {FAMILY} (relation alice carol))", limits=Limits(max_facts=1))
    assert info.value.limit == "max_facts"


def test_with_facts_needs_a_body():
    with pytest.raises(ProgramValidationError, match="at least 2"):
        parse("(with-facts)")


def test_fact_rejects_non_integer_time():
    with pytest.raises(ProgramValidationError, match="integer time"):
        execute("(with-facts (fact a father b x) (relation a b))")


def test_fact_query_on_unknown_entity_fails():
    with pytest.raises(ProgramRuntimeError, match="unknown entity"):
        execute(f"(with-facts {FAMILY} (relation alice dan))")


def test_order_sorts_largest_first():
    assert execute("(order (> b a) (> a c) (< d c))").value == ("b", "a", "c", "d")


def test_order_rejects_partial_order():
    with pytest.raises(ProgramRuntimeError, match="more than one order"):
        execute("(order (> a b) (> a c))")


def test_limits_reject_non_positive_max_facts():
    with pytest.raises(ValueError, match="max_facts"):
        Limits(max_facts=0)
