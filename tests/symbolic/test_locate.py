"""The ``locate`` operation: the place of an entity, followed through the people who carry it."""

from __future__ import annotations

import pytest

from neurosym.symbolic import ProgramRuntimeError, ProgramValidationError, execute

STORY = (
    "(with-facts (fact John location kitchen 1) (fact apple held_by John 2) "
    "(fact John location garden 4) (fact apple dropped_by John 6) (fact John location attic 8) {query})"
)


def _locate(query: str) -> str:
    return execute(STORY.format(query=query)).answer


def test_locate_person_gives_latest_location() -> None:
    assert _locate("(locate John)") == "attic"


def test_locate_carried_object_moves_with_holder() -> None:
    assert _locate("(locate apple 5)") == "garden"


def test_locate_object_at_pickup_time_is_holder_place() -> None:
    assert _locate("(locate apple 3)") == "kitchen"


def test_locate_dropped_object_stays_where_dropped() -> None:
    assert _locate("(locate apple)") == "garden"


def test_locate_before_any_fact_raises_runtime_error() -> None:
    with pytest.raises(ProgramRuntimeError, match="no location, held_by, given_to, dropped_by fact"):
        _locate("(locate apple 0)")


def test_locate_rejects_symbol_time() -> None:
    with pytest.raises(ProgramValidationError):
        _locate("(locate apple later)")


def test_locate_carrier_loop_raises_runtime_error() -> None:
    program = "(with-facts (fact box held_by bag 1) (fact bag held_by box 2) (locate box))"
    with pytest.raises(ProgramRuntimeError, match="loop"):
        execute(program)


def test_locate_follows_nested_carriers() -> None:
    program = ("(with-facts (fact Ann location hall 1) (fact bag held_by Ann 2) (fact key held_by bag 3) "
               "(fact Ann location porch 4) (locate key))")
    assert execute(program).answer == "porch"


def test_locate_stated_location_overrides_older_holder() -> None:
    program = "(with-facts (fact apple held_by John 1) (fact John location hall 1) (fact apple location shelf 2) (locate apple))"
    assert execute(program).answer == "shelf"
