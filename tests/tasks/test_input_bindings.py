"""input_bindings: the question's integers bind $n1, $n2, ... in order and exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from neurosym.symbolic import execute
from neurosym.tasks import Example
from neurosym.tasks.bindings import find_integers, input_bindings

SEPARATORS = st.sampled_from([" ", ", ", " + ", " - ", " * ", " = ", " and ", " (", ") ", "; "])
BIG_INTEGERS = st.integers(min_value=-(10**60), max_value=10**60)


def _question(numbers: list[int], separators: list[str]) -> str:
    parts = ["what is "]
    for number, separator in zip(numbers, separators, strict=True):
        parts.append(str(number))
        parts.append(separator)
    parts.append("?")
    return "".join(parts)


@given(st.lists(BIG_INTEGERS, max_size=8).flatmap(
    lambda numbers: st.tuples(st.just(numbers), st.lists(SEPARATORS, min_size=len(numbers), max_size=len(numbers)))
))
def test_bindings_return_embedded_integers(case: tuple[list[int], list[str]]) -> None:
    numbers, separators = case
    example = Example(context=[], question=_question(numbers, separators), answer="")
    assert input_bindings(example) == {f"n{index}": value for index, value in enumerate(numbers, start=1)}


@given(BIG_INTEGERS, BIG_INTEGERS)
def test_bindings_feed_program_exactly(first: int, second: int) -> None:
    example = Example(context=[], question=f"what is {first} + {second} ?", answer="")
    assert execute("(add $n1 $n2)", bindings=input_bindings(example)).value == first + second


def test_bindings_ignore_digits_inside_words() -> None:
    assert find_integers("x2 and 3rd but 12") == [12]


def test_bindings_minus_between_digits_is_operator() -> None:
    assert find_integers("7-5") == [7, 5]


def test_bindings_minus_after_space_is_sign() -> None:
    assert find_integers("407 - -83") == [407, -83]


def test_bindings_ignore_context() -> None:
    example = Example(context=[], question="what is 1 + 2 ?", answer="3")
    example.context.append(("9 apples", 0))
    assert input_bindings(example) == {"n1": 1, "n2": 2}


def test_bindings_empty_without_numbers() -> None:
    assert input_bindings(Example(context=[], question="how is Bob related to Amy ?", answer="")) == {}
