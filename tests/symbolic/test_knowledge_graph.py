"""Paths, comparisons, object queries and time-aware fact lookup in the knowledge graph."""

import pytest

from neurosym.symbolic import (
    Fact,
    FactSource,
    GraphError,
    KnowledgeGraph,
    ProgramRuntimeError,
    UnknownEntityError,
    execute,
    format_value,
)


@pytest.fixture
def house():
    # north of the garden is the kitchen; east of the kitchen is the hallway;
    # the office hangs off the hallway; the shed is unconnected.
    graph = KnowledgeGraph.from_facts(
        [
            ("garden", "north", "kitchen", 0),
            ("kitchen", "east", "hallway", 1),
            ("hallway", "north", "office", 2),
        ]
    )
    graph.add_entity("shed")
    return graph


def test_path_follows_edges_forward(house):
    assert house.path("garden", "office") == ["garden", "kitchen", "hallway", "office"]


def test_path_follows_edges_backward(house):
    assert house.path("office", "garden") == ["office", "hallway", "kitchen", "garden"]


def test_directions_invert_backward_steps(house):
    assert house.directions("office", "garden") == ["south", "west", "south"]


def test_path_restricted_to_relations(house):
    with pytest.raises(ProgramRuntimeError, match="no path"):
        house.path("garden", "office", relations=["north"])


def test_reachable_true(house):
    assert house.reachable("garden", "office") is True


def test_reachable_false_for_isolated_entity(house):
    assert house.reachable("garden", "shed") is False


def test_unknown_entity_suggests_close_name(house):
    with pytest.raises(UnknownEntityError, match="'kitchen'"):
        house.path("kitchn", "garden")


def test_path_operation(house):
    assert format_value(execute("(path kitchen office)", graph=house).value) == "kitchen,hallway,office"


def test_directions_operation(house):
    assert execute("(directions garden office)", graph=house).value == ("north", "east", "north")


@pytest.fixture
def heights():
    return KnowledgeGraph.from_facts(
        [
            ("alice", "taller", "bob", 0),
            ("carol", "shorter", "bob", 1),
            ("dan", "taller", "carol", 2),
        ]
    )


def test_comparative_transitive(heights):
    assert execute("(taller alice carol)", graph=heights).value is True


def test_comparative_reversed(heights):
    assert execute("(taller carol alice)", graph=heights).value is False


def test_comparative_opposite_word(heights):
    assert execute("(shorter carol alice)", graph=heights).value is True


def test_comparative_undetermined_raises(heights):
    with pytest.raises(ProgramRuntimeError, match="do not say"):
        execute("(taller alice dan)", graph=heights)


def test_objects_and_count_include_inverse_kinship():
    graph = KnowledgeGraph.from_facts(
        [("alice", "father", "bob", 0), ("carl", "father", "bob", 1), ("bob", "daughter", "dora", 2)],
        genders={"carl": "male", "alice": "female"},
    )
    assert execute("(objects daughter bob)", graph=graph).value == ("alice", "dora")
    assert execute("(count son bob)", graph=graph).value == 1
    assert execute("(count child bob)", graph=graph).value == 3


@pytest.fixture
def story():
    graph = KnowledgeGraph()
    graph.add_fact("mary", "location", "kitchen", 3)
    graph.add_fact("mary", "location", "garden", 7)
    graph.add_fact("mary", "location", "office", 1)  # added late, happened early
    graph.add_fact("mary", "location", "hallway", 7)  # same time as garden, added later
    graph.add_fact("john", "age", 30, 2)
    return graph


def test_latest_tie_prefers_later_insertion(story):
    assert story.latest("mary", "location").object == "hallway"


def test_latest_as_of_with_out_of_order_facts(story):
    assert story.latest("mary", "location", as_of=2).object == "office"


def test_latest_as_of_between_times(story):
    assert story.latest("mary", "location", as_of=5).object == "kitchen"


def test_latest_before_first_fact_is_none(story):
    assert story.latest("mary", "location", as_of=0) is None


def test_facts_about_sorted_by_time(story):
    times = [fact.time for fact in story.facts_about("mary")]
    assert times == [1, 3, 7, 7]


def test_graph_is_fact_source(story):
    assert isinstance(story, FactSource)


def test_latest_operation(story):
    assert execute("(latest location mary)", graph=story).value == "hallway"


def test_at_operation(story):
    assert execute("(at location mary 6)", graph=story).value == "kitchen"


def test_history_operation(story):
    assert execute("(history location mary)", graph=story).value == ("office", "kitchen", "garden", "hallway")


def test_latest_integer_object_feeds_arithmetic(story):
    assert execute("(add (latest age john) 1)", graph=story).value == 31


def test_latest_missing_fact_raises(story):
    with pytest.raises(ProgramRuntimeError, match="no 'location' fact about 'john'"):
        execute("(latest location john)", graph=story)


class _ListMemory:
    """A minimal FactSource that is not a KnowledgeGraph."""

    def __init__(self, facts):
        self.facts = list(facts)

    def latest(self, subject, relation, as_of=None):
        matches = [
            (fact.time, index, fact)
            for index, fact in enumerate(self.facts)
            if fact.subject == subject and fact.relation == relation
            and (as_of is None or fact.time <= as_of)
        ]
        return max(matches)[2] if matches else None

    def facts_about(self, entity):
        return sorted(
            (fact for fact in self.facts if entity in (fact.subject, fact.object)),
            key=lambda fact: fact.time,
        )


def test_memory_takes_precedence_over_graph(story):
    memory = _ListMemory([Fact("mary", "location", "attic", 9)])
    assert execute("(latest location mary)", graph=story, memory=memory).value == "attic"


def test_fact_query_without_source_raises():
    with pytest.raises(ProgramRuntimeError, match="memory= nor graph="):
        execute("(latest location mary)")


def test_graph_query_without_graph_raises():
    with pytest.raises(ProgramRuntimeError, match="pass graph="):
        execute("(relation alice bob)")


def test_add_fact_rejects_non_integer_time():
    with pytest.raises(GraphError, match="time"):
        KnowledgeGraph().add_fact("mary", "location", "kitchen", 1.5)


def test_from_facts_rejects_three_tuples():
    with pytest.raises(GraphError, match="subject, relation, object, time"):
        KnowledgeGraph.from_facts([("mary", "location", "kitchen")])


def test_gender_fact_sets_subject_gender() -> None:
    graph = KnowledgeGraph()
    graph.add_fact("wayne", "gender", "male")
    assert graph.gender("wayne") == "male"


def test_gender_fact_adds_no_edge() -> None:
    graph = KnowledgeGraph()
    graph.add_fact("wayne", "gender", "male")
    assert "male" not in graph


def test_gender_fact_genders_relation_answer() -> None:
    program = "(with-facts (fact lorraine father wayne) (fact lorraine gender female) (relation wayne lorraine))"
    assert execute(program).answer == "daughter"


def test_gender_fact_rejects_unknown_gender() -> None:
    with pytest.raises(GraphError, match="must be 'male' or 'female'"):
        KnowledgeGraph().add_fact("wayne", "gender", "tall")
