"""Reading a story one sentence at a time: items, assembly and agreement with the gold program."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosym.symbolic import ProgramSyntaxError, ProgramValidationError, execute
from neurosym.tasks import Example, Sentence, get_task
from neurosym.tasks.bindings import input_bindings
from neurosym.tasks.reading import (
    MAX_REFERENCES,
    QUESTION_ITEM,
    SENTENCE_ITEM,
    assemble_program,
    can_read_by_sentence,
    entity_references,
    mask_entities,
    query_of,
    reading_items,
    stated_genders,
)

CLUTRR_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clutrr"
READING_TASKS = ["relational.kinship", "episodic.location"]


def _round_trip_answer(example: Example) -> str:
    """Answer from the program assembled out of the gold reading items."""
    items = reading_items(example)
    references = entity_references(example)
    program = assemble_program([item.program for item in items[:-1]],
                               [sentence.time for sentence in example.context], items[-1].program,
                               stated_genders(example, references))
    bindings = {**input_bindings(example), **{reference: name for name, reference in references.items()}}
    return execute(program, bindings=bindings, record_trace=False).answer


@pytest.mark.parametrize("name", READING_TASKS)
def test_reading_tasks_declare_sentence_layout(name: str) -> None:
    assert get_task(name).reads_by_sentence


def test_arithmetic_does_not_read_by_sentence() -> None:
    assert not get_task("arithmetic.add").reads_by_sentence


@pytest.mark.parametrize("name", READING_TASKS)
def test_reading_items_one_per_sentence_plus_question(name: str) -> None:
    example = get_task(name).examples("train", n=1, seed=2)[0]
    assert len(reading_items(example)) == len(example.context) + 1


def test_reading_items_mark_their_kind() -> None:
    example = get_task("relational.kinship").examples("train", n=1, seed=2)[0]
    kinds = [item.meta["reading"] for item in reading_items(example)]
    assert kinds == [SENTENCE_ITEM] * len(example.context) + [QUESTION_ITEM]


def test_sentence_item_sees_previous_sentence_only() -> None:
    example = get_task("relational.kinship").examples("train", n=1, seed=2, min_chain=4, max_chain=4)[0]
    item = reading_items(example)[2]
    assert item.context == [Sentence(mask_entities(example.context[1].text, entity_references(example)), 1)]


def test_sentence_item_reads_names_as_references() -> None:
    example = get_task("relational.kinship").examples("train", n=1, seed=2)[0]
    item = reading_items(example)[0]
    assert not any(name in item.question for name in example.entities)


def test_entity_references_stay_in_pool() -> None:
    example = get_task("relational.kinship").examples("train", n=1, seed=2, min_chain=10, max_chain=10)[0]
    numbers = [int(reference[1:]) for reference in entity_references(example).values()]
    assert all(1 <= number <= MAX_REFERENCES for number in numbers)


def test_entity_references_are_distinct() -> None:
    example = get_task("relational.kinship").examples("train", n=1, seed=2, min_chain=10, max_chain=10)[0]
    references = entity_references(example)
    assert len(set(references.values())) == len(references) == 11


def test_entity_references_reproducible() -> None:
    example = get_task("episodic.location").examples("train", n=1, seed=7)[0]
    assert entity_references(example) == entity_references(example)


def test_mask_entities_keeps_longer_names_whole() -> None:
    assert mask_entities("Ann met Anna .", {"Ann": "e1", "Anna": "e2"}) == "$e1 met $e2 ."


def test_stated_genders_use_meta() -> None:
    example = Example(context=[Sentence("Amy met Bob .", 0)], question="q", answer="a",
                      entities=["Amy", "Bob"], meta={"genders": {"Amy": "female", "Bob": "male"}})
    assert stated_genders(example, {"Amy": "e4", "Bob": "e9"}) == [
        "(fact $e4 gender female)", "(fact $e9 gender male)"]


def test_question_item_has_no_story() -> None:
    example = get_task("episodic.location").examples("train", n=1, seed=2)[0]
    assert reading_items(example)[-1].context == []


def test_distractor_sentence_gets_empty_program() -> None:
    examples = get_task("episodic.location").examples("train", n=50, seed=4, distractors=0.5)
    programs = [item.program for example in examples for item in reading_items(example)[:-1]]
    assert "" in programs


@pytest.mark.parametrize("name", READING_TASKS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31 - 1))
def test_assembled_gold_pieces_give_answer(name: str, seed: int) -> None:
    example = get_task(name).examples("test", n=1, seed=seed)[0]
    assert _round_trip_answer(example) == example.answer


def test_assembled_pieces_carry_sentence_times() -> None:
    program = assemble_program(["(fact Mary location kitchen)", ""], [4, 9], "(latest location Mary)")
    assert program == "(with-facts (fact Mary location kitchen 4) (latest location Mary))"


def test_assemble_rejects_other_operations() -> None:
    with pytest.raises(ProgramValidationError, match="sentence 1"):
        assemble_program(["(add 1 2)"], [0], "(latest location Mary)")


def test_assemble_rejects_unbalanced_piece() -> None:
    with pytest.raises(ProgramSyntaxError):
        assemble_program(["(fact Mary location kitchen"], [0], "(latest location Mary)")


def test_assemble_rejects_story_without_facts() -> None:
    with pytest.raises(ProgramValidationError, match="no facts"):
        assemble_program(["", ""], [0, 1], "(latest location Mary)")


def test_assemble_rejects_count_mismatch() -> None:
    with pytest.raises(ValueError, match="2 sentence programs for 1"):
        assemble_program(["", ""], [0], "(latest location Mary)")


def test_query_of_returns_body() -> None:
    assert query_of("(with-facts (fact a father b) (relation a b))") == "(relation a b)"


def test_query_of_plain_program_is_none() -> None:
    assert query_of("(add 1 2)") is None


def test_arithmetic_example_cannot_read_by_sentence() -> None:
    example = get_task("arithmetic.add").examples("train", n=1)[0]
    assert not can_read_by_sentence(example)


def test_reading_items_reject_example_without_facts() -> None:
    example = get_task("arithmetic.add").examples("train", n=1)[0]
    with pytest.raises(ValueError, match="does not read by sentence"):
        reading_items(example)


@pytest.mark.skipif(not CLUTRR_DIR.is_dir(), reason="needs ../shared/data/clutrr")
def test_clutrr_rows_with_agreeing_programs_read_by_sentence() -> None:
    examples = get_task("clutrr").examples("test", data_dir=str(CLUTRR_DIR), clutrr_task="1.10")
    readable = [example for example in examples if example.program is not None]
    assert all(_round_trip_answer(example) == example.answer for example in readable)
