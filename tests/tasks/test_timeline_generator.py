"""episodic.timeline: answers checked against a replay of the story text, knobs, long stories."""

from __future__ import annotations

import re

import pytest

from neurosym.errors import TaskError
from neurosym.symbolic import KnowledgeGraph, execute
from neurosym.tasks import get_task
from neurosym.tasks.example import Example

SENTENCE = re.compile(r"^At (\d+) (\w+) (.+) \.$")
GIVE = re.compile(r"^(?:gave|handed|passed) the (\w+) to (\w+)$")
TAKE = re.compile(r"^(?:picked up|took|grabbed) the (\w+)$")
MOVE = re.compile(r"^(?:went|moved|walked|travelled|ran|headed) to the (\w+)$")


def replay(example: Example) -> tuple[dict[str, list[tuple[int, str]]], dict[str, list[tuple[int, str]]]]:
    """Rebuild every person's moves and every object's holders from the sentence text alone."""
    moves: dict[str, list[tuple[int, str]]] = {}
    holders: dict[str, list[tuple[int, str]]] = {}
    for sentence in example.context:
        time, person, rest = SENTENCE.match(sentence.text).groups()
        time = int(time)
        if match := GIVE.match(rest):
            holders.setdefault(match[1], []).append((time, match[2]))
        elif match := TAKE.match(rest):
            holders.setdefault(match[1], []).append((time, person))
        elif match := MOVE.match(rest):
            moves.setdefault(person, []).append((time, match[1]))
    return moves, holders


def brute_force_answer(example: Example) -> str:
    moves, holders = replay(example)
    question = example.question
    if match := re.match(r"^where was (\w+) before the (\w+) \?$", question):
        history = moves[match[1]]
        last = max(i for i, (_, place) in enumerate(history) if place == match[2])
        return history[last - 1][1]
    if match := re.match(r"^who had the (\w+) at (\d+) \?$", question):
        return [who for when, who in holders[match[1]] if when <= int(match[2])][-1]
    match = re.match(r"^where was (\w+) at (\d+) \?$", question)
    return [place for when, place in moves[match[1]] if when <= int(match[2])][-1]


@pytest.fixture(scope="module")
def timeline_examples() -> list[Example]:
    return get_task("episodic.timeline").examples("train", n=300, seed=3, story_length=30, questions_per_story=3)


def test_timeline_answers_match_a_replay_of_the_story(timeline_examples) -> None:
    wrong = [e.question for e in timeline_examples if brute_force_answer(e) != e.answer]
    assert wrong == []


def test_timeline_asks_every_question_kind(timeline_examples) -> None:
    assert {e.meta["question_kind"] for e in timeline_examples} == {"before", "holder", "at"}


def test_timeline_programs_run_to_the_answer(timeline_examples) -> None:
    for example in (e for e in timeline_examples if e.program):
        graph = KnowledgeGraph()
        for fact in example.facts:
            graph.add_fact(*fact)
        assert execute(example.program, graph=graph).answer == example.answer


def test_timeline_sentence_times_increase(timeline_examples) -> None:
    times = [s.time for s in timeline_examples[0].context]
    assert times == sorted(set(times))


def test_timeline_split_is_reproducible() -> None:
    task = get_task("episodic.timeline")
    assert task.examples("test", n=5, seed=1) == task.examples("test", n=5, seed=1)


def test_timeline_long_story_has_the_asked_length() -> None:
    example = get_task("episodic.timeline").examples("test", n=1, story_length=2000)[0]
    assert len(example.context) == 2000


def test_timeline_long_story_answer_matches_replay() -> None:
    examples = get_task("episodic.timeline").examples("test", n=6, story_length=2000, questions_per_story=6)
    assert [brute_force_answer(e) for e in examples] == [e.answer for e in examples]


def test_timeline_eval_splits_hold_long_stories() -> None:
    assert get_task("episodic.timeline").eval_splits["test_2000"][1]["story_length"] == 2000


@pytest.mark.parametrize("knob,value", [("people", 1), ("story_length", 1), ("idle", 1.5), ("max_gap", 0)])
def test_timeline_rejects_bad_knobs(knob: str, value) -> None:  # noqa: ANN001
    with pytest.raises(TaskError, match=knob):
        get_task("episodic.timeline").examples("test", n=1, **{knob: value})


def test_timeline_rejects_question_fractions_over_one() -> None:
    with pytest.raises(TaskError, match="at most 1"):
        get_task("episodic.timeline").examples("test", n=1, before_questions=0.7, holder_questions=0.5)


def test_location_supports_two_thousand_sentence_stories() -> None:
    example = get_task("episodic.location").examples("test", n=1, story_length=2000)[0]
    assert len(example.context) == 2000
