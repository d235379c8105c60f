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
    item_references,
    mask_entities,
    query_of,
    reading_items,
    stated_genders,
)

CLUTRR_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "clutrr"
READING_TASKS = ["relational.kinship", "episodic.location"]


def _round_trip_answer(example: Example) -> str:
    """Return the answer of the program assembled from the gold reading items."""
    items = reading_items(example)
    program = assemble_program([item.program for item in items[:-1]],
                               [sentence.time for sentence in example.context], items[-1].program,
                               stated_genders(example), [item.meta["references"] for item in items])
    return execute(program, bindings=input_bindings(example), record_trace=False).answer


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
    expected = mask_entities(example.context[1].text, item.meta["references"])
    assert item.context == [Sentence(expected, 1)]


def test_sentence_item_reads_names_as_references() -> None:
    example = get_task("relational.kinship").examples("train", n=1, seed=2)[0]
    item = reading_items(example)[0]
    assert not any(name in item.question for name in example.entities)


def test_item_references_follow_first_mention() -> None:
    references = item_references(["Bob met Amy .", "Amy waved at Cora ."], ["Amy", "Bob", "Cora", "Dan"])
    assert references == {"Bob": "e1", "Amy": "e2", "Cora": "e3"}


def test_item_references_stop_at_pool_size() -> None:
    names = [f"N{index}" for index in range(MAX_REFERENCES + 3)]
    assert len(item_references([" ".join(names)], names)) == MAX_REFERENCES


def test_question_item_numbers_its_own_names() -> None:
    example = get_task("relational.kinship").examples("test", n=1, seed=3, min_chain=9, max_chain=9)[0]
    item = reading_items(example)[-1]
    assert item.question.startswith("how is $e1 related to $e2")


def test_mask_entities_keeps_longer_names_whole() -> None:
    assert mask_entities("Ann met Anna .", {"Ann": "e1", "Anna": "e2"}) == "$e1 met $e2 ."


def test_stated_genders_use_meta() -> None:
    example = Example(context=[Sentence("Amy met Bob .", 0)], question="q", answer="a",
                      entities=["Amy", "Bob"], meta={"genders": {"Amy": "female", "Bob": "male"}})
    assert stated_genders(example) == ["(fact Amy gender female)", "(fact Bob gender male)"]


def test_assemble_writes_names_for_references() -> None:
    program = assemble_program(["(fact $e1 father $e2)"], [0], "(relation $e2 $e1)",
                               references=[{"Amy": "e1", "Bob": "e2"}, {"Bob": "e1", "Amy": "e2"}])
    assert program == "(with-facts (fact Amy father Bob 0) (relation Amy Bob))"


def test_assemble_rejects_unknown_reference() -> None:
    with pytest.raises(ProgramValidationError, match=r"sentence 1: \$e3 names no entity"):
        assemble_program(["(fact $e1 father $e3)"], [0], "(relation $e1 $e2)",
                         references=[{"Amy": "e1", "Bob": "e2"}, {"Amy": "e1", "Bob": "e2"}])


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
