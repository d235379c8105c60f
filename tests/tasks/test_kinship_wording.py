"""worded_against: a sentence that states a kinship fact with its two people swapped."""

from __future__ import annotations

from neurosym.tasks.example import Fact
from neurosym.tasks.kinship import as_worded, worded_against

MEN = {"Dan": "male", "Bob": "male"}


def test_worded_against_possessive_swapped() -> None:
    # The fact makes Bob the son of Dan, and the sentence makes Dan the son of Bob.
    assert worded_against(Fact("Dan", "son", "Bob", 0), "Bob's son, Dan, took him fishing.", MEN)


def test_worded_against_named_relative_swapped() -> None:
    assert worded_against(Fact("Dan", "son", "Bob", 0), "Bob took his son Dan out for pizza.", MEN)


def test_worded_against_false_when_sentence_agrees() -> None:
    assert not worded_against(Fact("Bob", "son", "Dan", 0), "Bob took his son Dan out for pizza.", MEN)


def test_worded_against_same_gender_siblings() -> None:
    # "Dan and his brother Bob": Bob is Dan's brother and Dan is Bob's brother.
    assert not worded_against(Fact("Bob", "brother", "Dan", 0), "Dan and his brother Bob went out.", MEN)


def test_worded_against_other_gender_sibling() -> None:
    genders = {"Amy": "female", "Bob": "male"}
    # The fact makes Amy Bob's sister; the sentence makes Bob, a man, Amy's sister.
    assert worded_against(Fact("Bob", "sister", "Amy", 0), "Amy and her sister Bob went out.", genders)


def test_worded_against_no_relation_word() -> None:
    assert not worded_against(Fact("Dan", "son", "Bob", 0), "Dan and Bob went fishing.", MEN)


def test_worded_against_ignores_non_kinship_relations() -> None:
    assert not worded_against(Fact("Dan", "location", "kitchen", 0), "The kitchen is where Dan went.", MEN)


def test_as_worded_turns_edge_named_by_a_synonym() -> None:
    genders = {"Amy": "female", "Bob": "male"}
    # The edge makes Bob Amy's son, and "his mom Amy" words it from Bob's side.
    assert as_worded(Fact("Amy", "son", "Bob", 0), "Bob took his mom Amy out.", genders)[:3] == ("Bob", "mother", "Amy")


def test_as_worded_turns_edge_named_by_a_plural() -> None:
    genders = {"Amy": "female", "Bob": "female"}
    assert as_worded(Fact("Bob", "mother", "Amy", 0), "Amy baked with her daughters Bob and Cy.", genders)[:3] == (
        "Amy", "daughter", "Bob")


def test_as_worded_uses_previous_sentence() -> None:
    genders = {"Amy": "female", "Bob": "male"}
    fact = as_worded(Fact("Bob", "mother", "Amy", 1), "His name is Bob.", genders, previous="Amy went out with her son.")
    assert fact[:3] == ("Amy", "son", "Bob")


def test_worded_against_ignores_hyphenated_relation() -> None:
    # "son-in-law" does not word the relation "son".
    assert not worded_against(Fact("Dan", "son", "Bob", 0), "Bob's son-in-law Dan came too.", MEN)
