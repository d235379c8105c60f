"""Exact arithmetic, comparison and logic in value mode, and their limits."""

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosym.symbolic import (
    LimitExceededError,
    Limits,
    ProgramRuntimeError,
    ProgramValidationError,
    execute,
)


def run(program, **kwargs):
    return execute(program, **kwargs).value


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("(add 123 456)", 579),
        ("(+ 1 2 3 4)", 10),
        ("(sub 3/4 -6/8)", Fraction(3, 2)),
        ("(mul -12 12)", -144),
        ("(div 3 6)", Fraction(1, 2)),
        ("(div 6 3)", 2),
        ("(mod -7 3)", 2),
        ("(mod 7 -3)", -2),
        ("(pow 2 100)", 2**100),
        ("(pow 2 -3)", Fraction(1, 8)),
        ("(pow 2/3 2)", Fraction(4, 9)),
        ("(neg 5)", -5),
        ("(abs -5/3)", Fraction(5, 3)),
        ("(min 3 1/2 7)", Fraction(1, 2)),
        ("(max 3 1/2 7)", 7),
    ],
)
def test_arithmetic_value(program, expected):
    value = run(program)
    assert value == expected
    assert type(value) is type(expected)


def test_arithmetic_forty_digit_numbers():
    a = 1234567890123456789012345678901234567890
    b = 9876543210987654321098765432109876543210
    assert run(f"(mul {a} {b})") == a * b


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        ("(lt 1 2)", True),
        ("(le 2 2)", True),
        ("(gt 1/3 1/2)", False),
        ("(ge -1 -2)", True),
        ("(eq 2/4 1/2)", True),
        ("(= alice alice)", True),
        ("(ne alice bob)", True),
        ("(and (lt 1 2) (gt 2 1))", True),
        ("(or (lt 2 1) (gt 1 2))", False),
        ("(not (lt 2 1))", True),
        ("(implies (lt 2 1) (lt 3 1))", True),
        ("(distinct 1 2 3)", True),
        ("(distinct 1 2 1)", False),
    ],
)
def test_comparison_and_logic_value(program, expected):
    assert run(program) is expected


def test_eq_distinguishes_boolean_from_integer():
    assert run("(eq (lt 1 2) 1)") is False


def test_div_by_zero_raises_runtime_error():
    with pytest.raises(ProgramRuntimeError, match="division by zero") as info:
        execute("(add 1 (div 5 (sub 2 2)))")
    assert info.value.offset == 7


def test_mod_by_zero_raises_runtime_error():
    with pytest.raises(ProgramRuntimeError, match="modulo by zero"):
        execute("(mod 5 0)")


def test_pow_zero_to_negative_raises_runtime_error():
    with pytest.raises(ProgramRuntimeError, match="divides by zero"):
        execute("(pow 0 -1)")


def test_pow_rejects_rational_exponent():
    with pytest.raises(ProgramValidationError, match="integer"):
        execute("(pow 2 1/2)")


def test_pow_of_huge_exponent_fails_before_computing():
    start = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        execute("(pow 10 (pow 10 10))")
    assert info.value.limit == "max_exponent"
    assert time.perf_counter() - start < 0.5


def test_pow_result_too_long_fails_before_computing():
    start = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        execute("(pow 99 9999)")
    assert info.value.limit == "max_integer_digits"
    assert time.perf_counter() - start < 0.5


def test_mul_of_huge_numbers_fails_before_computing():
    big = "9" * 900
    start = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        execute(f"(mul {big} {big} {big})")
    assert info.value.limit == "max_integer_digits"
    assert time.perf_counter() - start < 0.5


def test_add_result_over_digit_limit_raises():
    nines = "9" * 20
    with pytest.raises(LimitExceededError):
        execute(f"(add {nines} 1)", limits=Limits(max_integer_digits=20))


def test_result_at_digit_limit_is_accepted():
    assert run("(pow 10 19)", limits=Limits(max_integer_digits=20)) == 10**19


def test_arithmetic_rejects_symbol_argument():
    with pytest.raises(ProgramValidationError, match="argument 2 must be a number") as info:
        execute("(add 1 alice)")
    assert "alice" in str(info.value)


def test_arithmetic_rejects_boolean_argument():
    with pytest.raises(ProgramValidationError, match="boolean"):
        execute("(add (lt 1 2) 1)")


def test_logic_rejects_number_argument():
    with pytest.raises(ProgramValidationError, match="boolean"):
        execute("(and 1 (lt 1 2))")


def test_wrong_arity_raises_validation_error():
    with pytest.raises(ProgramValidationError, match="takes 1 argument, got 2"):
        execute("(neg 1 2)")


def test_unknown_operation_raises_validation_error():
    with pytest.raises(ProgramValidationError, match="'mul'"):
        execute("(mull 2 3)")


# Property tests against Python's own int and Fraction arithmetic.

_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: Fraction(a) / b,
    "min": min,
    "max": max,
}


@st.composite
def _programs(draw, depth=3):
    # Returns (program text, expected value); divisors are drawn non-zero.
    if depth == 0 or draw(st.booleans()):
        value = draw(
            st.one_of(
                st.integers(-(10**40), 10**40),
                st.fractions(max_denominator=10**6),
            )
        )
        if type(value) is Fraction and value.denominator == 1:
            value = value.numerator
        text = str(value) if type(value) is int else f"{value.numerator}/{value.denominator}"
        return text, value
    op = draw(st.sampled_from(sorted(_BINARY)))
    left_text, left = draw(_programs(depth - 1))
    right_text, right = draw(_programs(depth - 1))
    if op == "div" and right == 0:
        right_text, right = "7", 7
    return f"({op} {left_text} {right_text})", _BINARY[op](left, right)


@settings(max_examples=100, deadline=None)
@given(_programs())
def test_random_programs_match_python_arithmetic(case):
    text, expected = case
    assert execute(text, record_trace=False).value == expected
