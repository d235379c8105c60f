"""Story queries (neurosym.symbolic.stories) run through the executor on inline facts."""

from __future__ import annotations

import pytest

from neurosym.symbolic import ProgramRuntimeError, ProgramValidationError, execute


def run(facts: str, query: str) -> str:
    return execute(f"(with-facts {facts} {query})", record_trace=False).answer


MOVES = ("(fact Mary location kitchen 1) (fact apple held_by Mary 2) (fact Mary location garden 3) "
         "(fact apple dropped_by Mary 4) (fact Mary location office 5)")


def test_place_before_follows_the_carrier() -> None:
    assert run(MOVES, "(place-before apple garden)") == "kitchen"


def test_place_before_of_a_person() -> None:
    assert run(MOVES, "(place-before Mary office)") == "garden"


def test_place_before_orders_day_periods_not_sentences() -> None:
    facts = "(fact Julie afternoon park 1) (fact Julie yesterday school 2) (fact Julie morning cinema 3)"
    assert run(facts, "(place-before Julie park)") == "cinema"


def test_place_before_first_place_raises() -> None:
    with pytest.raises(ProgramRuntimeError, match="no place of 'Mary' before 'kitchen'"):
        run(MOVES, "(place-before Mary kitchen)")


def test_is_in_current_place_is_yes() -> None:
    assert run(MOVES, "(is-in Mary office)") == "yes"


def test_is_in_other_place_is_no() -> None:
    assert run(MOVES, "(is-in Mary kitchen)") == "no"


def test_is_in_after_negation_is_no() -> None:
    assert run("(fact Bill location park 1) (fact Bill not_location park 2)", "(is-in Bill park)") == "no"


def test_is_in_either_place_is_maybe() -> None:
    facts = "(fact Fred maybe_location school 1) (fact Fred maybe_location park 1)"
    assert run(facts, "(is-in Fred park)") == "maybe"


def test_is_in_outside_either_places_is_no() -> None:
    facts = "(fact Fred maybe_location school 1) (fact Fred maybe_location park 1)"
    assert run(facts, "(is-in Fred office)") == "no"


def test_is_in_newer_location_overrides_either() -> None:
    facts = "(fact Fred maybe_location school 1) (fact Fred maybe_location park 1) (fact Fred location park 2)"
    assert run(facts, "(is-in Fred park)") == "yes"


HOLDING = ("(fact milk held_by Sandra 1) (fact apple held_by Sandra 2) (fact milk dropped_by Sandra 3) "
           "(fact milk held_by Sandra 4) (fact ball given_by John 5) (fact ball given_to Sandra 5)")


def test_carried_keeps_the_order_of_first_getting() -> None:
    assert run(HOLDING, "(carried Sandra)") == "milk,apple,ball"


def test_carried_excludes_what_was_given_away() -> None:
    facts = HOLDING + " (fact apple given_by Sandra 6) (fact apple given_to John 6)"
    assert run(facts, "(carried Sandra)") == "milk,ball"


def test_count_of_carried_is_spelled() -> None:
    assert run(HOLDING, "(spell (size (carried Sandra)))") == "three"


def test_spell_zero_is_none() -> None:
    assert execute("(spell 0)").answer == "none"


def test_spell_out_of_range_raises() -> None:
    with pytest.raises(ProgramValidationError, match="an integer from 0 to 10"):
        execute("(spell 11)")


def test_if_empty_gives_the_word() -> None:
    assert run(HOLDING, "(if-empty (carried John) nothing)") == "nothing"


def test_if_empty_keeps_a_list() -> None:
    assert run(HOLDING, "(if-empty (carried Sandra) nothing)") == "milk,apple,ball"


def test_given_object_is_located_with_its_receiver() -> None:
    assert run(HOLDING + " (fact Sandra location hallway 6)", "(locate ball)") == "hallway"


GIFTS = ("(fact apple given_by Fred 1) (fact apple given_to Jeff 1) (fact ball given_by Fred 2) "
         "(fact ball given_to Bill 2) (fact apple given_by Jeff 3) (fact apple given_to Fred 3)")


def test_common_finds_the_gift_between_two_people() -> None:
    assert run(GIFTS, "(common given_by Fred given_to Jeff)") == "apple"


def test_same_time_finds_gift_receiver() -> None:
    assert run(GIFTS, "(same-time apple given_by Fred given_to)") == "Jeff"


def test_same_time_finds_gift_giver() -> None:
    assert run(GIFTS, "(same-time apple given_to Fred given_by)") == "Jeff"


def test_common_without_a_match_raises() -> None:
    with pytest.raises(ProgramRuntimeError, match="common: nothing has given_by 'Bill'"):
        run(GIFTS, "(common given_by Bill given_to Jeff)")


def test_subject_of_newest_fact_with_object() -> None:
    assert run(GIFTS, "(subject given_to Fred)") == "apple"


MAP = "(fact kitchen north office 1) (fact garden west office 2)"


def test_neighbor_reads_a_fact_forward() -> None:
    assert run(MAP, "(neighbor north kitchen)") == "office"


def test_neighbor_reads_a_fact_backward() -> None:
    assert run(MAP, "(neighbor east office)") == "garden"


def test_neighbor_unknown_direction_raises() -> None:
    with pytest.raises(ProgramRuntimeError, match="'up-left' is not a direction"):
        run(MAP, "(neighbor up-left kitchen)")


def test_initials_of_directions() -> None:
    assert run(MAP, "(initials (directions garden kitchen))") == "w,s"


KINDS = ("(fact Lily is_a swan 1) (fact Lily color white 2) (fact Greg is_a swan 3) (fact Greg color gray 4) "
         "(fact Brian is_a swan 5)")


def test_induce_uses_last_named_kind_member() -> None:
    assert run(KINDS, "(induce color Brian)") == "gray"


def test_induce_prefers_the_subjects_own_value() -> None:
    assert run(KINDS, "(induce color Lily)") == "white"


def test_induce_without_kind_raises() -> None:
    with pytest.raises(ProgramRuntimeError, match="no kind"):
        run(KINDS + " (fact Ann color red 6)", "(induce size Ann)")


GRID = "(fact triangle above pink_rectangle 1) (fact blue_square left triangle 2)"


def test_grid_right_across_rows() -> None:
    assert run(GRID, "(right pink_rectangle blue_square)") == "yes"


def test_grid_below_is_no_when_above() -> None:
    assert run(GRID, "(below blue_square pink_rectangle)") == "no"


def test_grid_above_is_yes() -> None:
    assert run(GRID, "(above blue_square pink_rectangle)") == "yes"


def test_grid_left_is_no_when_right() -> None:
    assert run(GRID, "(left pink_rectangle blue_square)") == "no"


def test_grid_unconnected_object_raises() -> None:
    with pytest.raises(ProgramRuntimeError, match="do not place 'red_sphere'"):
        run(GRID + " (fact red_sphere left yellow_square 3)", "(left red_sphere triangle)")
