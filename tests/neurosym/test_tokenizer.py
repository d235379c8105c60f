from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosym.errors import TokenizerError
from neurosym.tokenizer import Tokenizer, canonical_text, pre_tokenize

WORDS = st.sampled_from(["mary", "went", "to", "the", "kitchen", ".", "?", ",", "(", ")", "add", "$n1"])
NUMBERS = st.integers(min_value=0, max_value=10**30).map(str)
TEXTS = st.lists(st.one_of(WORDS, NUMBERS), min_size=1, max_size=20).map(" ".join)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_round_trip_of_known_text(text: str) -> None:
    tokenizer = Tokenizer.build([text])
    assert tokenizer.decode(tokenizer.encode(text)) == canonical_text(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(NUMBERS, min_size=2, max_size=5))
def test_adjacent_numbers_stay_separate(numbers: list[str]) -> None:
    tokenizer = Tokenizer.build([])
    text = " ".join(numbers)
    assert tokenizer.decode(tokenizer.encode(text)).split() == numbers


def test_digits_are_single_tokens() -> None:
    assert pre_tokenize("what is 407 + 83 ?") == ["what", "is", "4", "0", "7", "+", "8", "3", "?"]


def test_layout_tokens_cannot_be_forged_from_text() -> None:
    tokenizer = Tokenizer.build(["a"])
    assert tokenizer.question_id not in tokenizer.encode("<q> a <a>")


def test_unknown_words_are_counted() -> None:
    tokenizer = Tokenizer.build(["mary went home"])
    ids = tokenizer.encode("mary flew home")
    assert ids[1] == tokenizer.unk_id
    assert tokenizer.unknown_count == 1
    assert tokenizer.unknown_words["flew"] == 1


def test_save_load_round_trip(tmp_path: Path) -> None:
    tokenizer = Tokenizer.build(["mary went to the kitchen ."])
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = Tokenizer.load(tmp_path / "tokenizer.json")
    assert loaded.vocab == tokenizer.vocab


def test_load_rejects_garbage(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(b"\x00\x01 not json")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        Tokenizer.load(path)


def test_load_rejects_foreign_json(tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"model": {"type": "BPE"}}))
    with pytest.raises(TokenizerError, match="not a neurosym tokenizer"):
        Tokenizer.load(path)


def test_decode_rejects_out_of_range_id() -> None:
    tokenizer = Tokenizer.build([])
    with pytest.raises(TokenizerError, match="outside the vocabulary"):
        tokenizer.decode([len(tokenizer)])
