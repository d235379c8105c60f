"""Exact arithmetic, comparison and logic on plain Python values.

Numbers are ``int`` or reduced ``Fraction`` (never ``float`` and never ``bool``), and a
Fraction whose denominator is 1 is returned as ``int``. Every result is checked
against ``Limits.max_integer_digits``, and ``mul`` and ``pow`` estimate the size of
their result from bit lengths before computing it.
"""

from __future__ import annotations

from fractions import Fraction

from neurosym.symbolic.context import RunContext
from neurosym.symbolic.errors import (
    LimitExceededError,
    ProgramRuntimeError,
    ProgramValidationError,
)

_NUMBER_TYPES = (int, Fraction)


def describe(value: object) -> str:
    """Name a value's kind and show it, for error messages."""
    if type(value) is bool:
        return f"boolean {'yes' if value else 'no'}"
    if type(value) is int or type(value) is Fraction:
        return f"number {value}"
    if type(value) is str:
        return f"symbol {value!r}"
    if type(value) is tuple:
        return f"list of {len(value)} values"
    if type(value) is dict:
        return f"assignment {value!r}"
    preview = repr(value)
    if len(preview) > 60:
        preview = preview[:57] + "..."
    return f"{type(value).__name__} {preview}"


def wrong_type(op: str, index: int, expected: str, value: object) -> ProgramValidationError:
    """Build the error for argument ``index`` (0-based) of ``op`` having the wrong type."""
    hint = ""
    if type(value) is str and expected == "a number":
        hint = (
            "; symbols are variables only inside solve, simplify, expand, factor, "
            "evaluate and the constraint operations"
        )
    return ProgramValidationError(
        f"{op}: argument {index + 1} must be {expected}, got {describe(value)}{hint}"
    )


def require_number(op: str, args: list, index: int) -> int | Fraction:
    value = args[index]
    if type(value) is int or type(value) is Fraction:
        return value
    raise wrong_type(op, index, "a number", value)


def require_numbers(op: str, args: list) -> list:
    for index, value in enumerate(args):
        if type(value) is not int and type(value) is not Fraction:
            raise wrong_type(op, index, "a number", value)
    return args


def require_bool(op: str, args: list, index: int) -> bool:
    value = args[index]
    if type(value) is bool:
        return value
    raise wrong_type(op, index, "a boolean (yes/no)", value)


def require_str(op: str, args: list, index: int) -> str:
    value = args[index]
    if type(value) is str:
        return value
    raise wrong_type(op, index, "a symbol or string", value)


def add(run: RunContext, args: list) -> int | Fraction:
    total = 0
    for value in require_numbers("add", args):
        total += value
    return run.check_number(total, "add")


def sub(run: RunContext, args: list) -> int | Fraction:
    first, second = require_numbers("sub", args)
    return run.check_number(first - second, "sub")


def neg(run: RunContext, args: list) -> int | Fraction:
    return -require_number("neg", args, 0)


def absolute(run: RunContext, args: list) -> int | Fraction:
    return abs(require_number("abs", args, 0))


def _bit_lengths(value: int | Fraction) -> tuple[int, int]:
    if type(value) is int:
        return value.bit_length(), 1
    return value.numerator.bit_length(), value.denominator.bit_length()


def mul(run: RunContext, args: list) -> int | Fraction:
    require_numbers("mul", args)
    # A product of factors with b1, b2, ... bits has at least sum(b) - (n - 1) bits, so
    # a sum over max_bits proves the result too large without computing it.
    numerator_bits = 0
    denominator_bits = 0
    for value in args:
        top, bottom = _bit_lengths(value)
        numerator_bits += top - 1
        denominator_bits += bottom - 1
    if max(numerator_bits, denominator_bits) > run.max_bits:
        raise run.too_many_digits("mul", int(max(numerator_bits, denominator_bits) * 0.30103))
    product = 1
    for value in args:
        product *= value
    return run.check_number(product, "mul")


def div(run: RunContext, args: list) -> int | Fraction:
    first, second = require_numbers("div", args)
    if second == 0:
        raise ProgramRuntimeError(f"div: division by zero ({first} / 0); check the divisor")
    quotient = Fraction(first) / second
    return run.check_number(quotient, "div")


def mod(run: RunContext, args: list) -> int | Fraction:
    first, second = require_numbers("mod", args)
    if second == 0:
        raise ProgramRuntimeError(f"mod: modulo by zero ({first} mod 0); check the divisor")
    return run.check_number(first % second, "mod")


def power(run: RunContext, args: list) -> int | Fraction:
    base, exponent = require_numbers("pow", args)
    if type(exponent) is not int:
        raise ProgramValidationError(
            f"pow: exponent must be an integer, got {exponent}; roots are not exact numbers"
        )
    maximum = run.limits.max_exponent
    if abs(exponent) > maximum:
        raise LimitExceededError(
            f"pow: exponent {exponent} exceeds Limits.max_exponent={maximum}",
            "max_exponent",
            maximum,
            abs(exponent),
        )
    if base == 0 and exponent < 0:
        raise ProgramRuntimeError(f"pow: 0 to the negative power {exponent} divides by zero")
    top, bottom = _bit_lengths(base)
    # |base| >= 2**(bits - 1), so the result has at least (bits - 1) * |exponent| bits.
    estimated_bits = (max(top, bottom) - 1) * abs(exponent)
    if estimated_bits > run.max_bits:
        raise run.too_many_digits("pow", int(estimated_bits * 0.30103))
    if exponent < 0:
        result = Fraction(1) / Fraction(base) ** -exponent
    else:
        result = base**exponent
    return run.check_number(result, "pow")


def minimum(run: RunContext, args: list) -> int | Fraction:
    return min(require_numbers("min", args))


def maximum(run: RunContext, args: list) -> int | Fraction:
    return max(require_numbers("max", args))


def less(run: RunContext, args: list) -> bool:
    first, second = require_numbers("lt", args)
    return first < second


def less_equal(run: RunContext, args: list) -> bool:
    first, second = require_numbers("le", args)
    return first <= second


def greater(run: RunContext, args: list) -> bool:
    first, second = require_numbers("gt", args)
    return first > second


def greater_equal(run: RunContext, args: list) -> bool:
    first, second = require_numbers("ge", args)
    return first >= second


def _same(first: object, second: object) -> bool:
    # Equal numbers always share a type because Fraction p/1 is stored as int, and
    # comparing types keeps True from equalling 1.
    return type(first) is type(second) and first == second


def equal(run: RunContext, args: list) -> bool:
    return _same(args[0], args[1])


def not_equal(run: RunContext, args: list) -> bool:
    return not _same(args[0], args[1])


def logical_and(run: RunContext, args: list) -> bool:
    for index in range(len(args)):
        require_bool("and", args, index)
    return all(args)


def logical_or(run: RunContext, args: list) -> bool:
    for index in range(len(args)):
        require_bool("or", args, index)
    return any(args)


def logical_not(run: RunContext, args: list) -> bool:
    return not require_bool("not", args, 0)


def implies(run: RunContext, args: list) -> bool:
    return (not require_bool("implies", args, 0)) or require_bool("implies", args, 1)


def distinct(run: RunContext, args: list) -> bool:
    for index, value in enumerate(args):
        for other in args[index + 1 :]:
            if _same(value, other):
                return False
    return True


def make_list(run: RunContext, args: list) -> tuple:
    return tuple(args)
