"""Training items of program mode for stories read one sentence at a time (runs.encode_all)."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurosym.runs import build_tokenizer, encode_all
from neurosym.tasks import get_task


@pytest.fixture(scope="module")
def story(babi_dir: Path) -> list:
    examples = get_task("babi.qa1").examples("train", data_dir=babi_dir, variant="en")
    return [e for e in examples if e.meta["story"] == examples[0].meta["story"]]


def _encode(examples: list, fallback: bool = True) -> list:
    tokenizer = build_tokenizer({"babi.qa1": examples})
    return encode_all(examples, tokenizer, 256, mode="program", by_sentence=True, fallback=fallback)


def test_encode_all_trains_each_story_sentence_once(story: list) -> None:
    sentences = len(story[-1].context)
    assert len(_encode(story, fallback=False)) == sentences + len(story)


def test_encode_all_adds_neural_layout_for_fallback(story: list) -> None:
    assert len(_encode(story)) == len(_encode(story, fallback=False)) + len(story)


def test_encode_all_keeps_repeated_sentences_of_other_stories(babi_dir: Path) -> None:
    examples = get_task("babi.qa1").examples("train", n=40, data_dir=babi_dir, variant="en")
    stories = {e.meta["story"]: len(e.context) for e in examples}
    assert len(_encode(examples, fallback=False)) == sum(stories.values()) + len(examples)
