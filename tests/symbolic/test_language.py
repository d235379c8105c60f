"""Parser, printer and AST validation of the program language."""

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurosym.symbolic import (
    Call,
    LimitExceededError,
    Limits,
    Number,
    ProgramSyntaxError,
    ProgramValidationError,
    Reference,
    String,
    Symbol,
    parse,
    to_text,
    validate,
)


def test_parse_call_with_every_atom_kind():
    node = parse('(list -12 3/4 alice $a "two words")')
    assert node == Call(
        "list",
        (Number(-12), Number(Fraction(3, 4)), Symbol("alice"), Reference("a"), String("two words")),
    )


def test_parse_integer_of_many_digits():
    digits = "9" * 500
    assert parse(digits) == Number(int(digits))


def test_parse_reduces_rationals():
    assert parse("-6/8") == Number(Fraction(-3, 4))


def test_parse_rational_with_unit_denominator_is_integer():
    node = parse("4/2")
    assert type(node.value) is int
    assert node.value == 2


def test_parse_operator_aliases():
    node = parse("(= (+ (* 2 x) 3) 7)")
    assert node.op == "="
    assert node.args[0].op == "+"
    assert node.args[0].args[0].op == "*"


def test_parse_records_offsets():
    node = parse("(add 1 (mul 2 3))")
    assert node.args[1].offset == 7
    assert node.args[1].args[0].offset == 12


def test_parse_string_escapes():
    node = parse(r'(list "say \"hi\" \\ bye")')
    assert node.args[0] == String('say "hi" \\ bye')


def test_to_text_is_canonical():
    assert to_text(parse("  ( add\n 007   -0  6/8 )")) == "(add 7 0 3/4)"


def test_to_text_escapes_strings():
    text = r'(list "a \"b\" \\")'
    assert to_text(parse(text)) == text


def test_to_text_prints_deep_ast_without_recursion():
    node = Number(1)
    for _ in range(5000):
        node = Call("neg", (node,))
    text = to_text(node)
    assert text.startswith("(neg (neg")
    assert text.count("(") == 5000


def test_parse_rejects_python_code():
    with pytest.raises(ProgramSyntaxError) as info:
        parse("__import__('os').system('ls')")
    assert "'os'" in str(info.value)


def test_parse_rejects_unbalanced_open():
    with pytest.raises(ProgramSyntaxError, match="not closed"):
        parse("(add 1 (mul 2 3)")


def test_parse_rejects_unbalanced_close():
    with pytest.raises(ProgramSyntaxError, match="closes nothing") as info:
        parse("(add 1 2))")
    assert info.value.offset == 9


def test_parse_rejects_empty_call():
    with pytest.raises(ProgramSyntaxError, match="empty call"):
        parse("()")


def test_parse_rejects_number_in_operation_position():
    with pytest.raises(ProgramSyntaxError, match="operation name"):
        parse("(1 2)")


def test_parse_rejects_empty_program():
    with pytest.raises(ProgramSyntaxError, match="empty"):
        parse("   ")


def test_parse_rejects_two_expressions():
    with pytest.raises(ProgramSyntaxError, match="exactly one expression"):
        parse("(add 1 2) (add 3 4)")


def test_parse_rejects_glued_tokens():
    with pytest.raises(ProgramSyntaxError, match="12abc"):
        parse("(add 12abc 1)")


def test_parse_rejects_zero_denominator():
    with pytest.raises(ProgramSyntaxError, match="zero denominator"):
        parse("(add 1/0 1)")


def test_parse_rejects_unicode_digits():
    with pytest.raises(ProgramSyntaxError):
        parse("(add \u0663 1)")


def test_parse_rejects_non_utf8_bytes():
    with pytest.raises(ProgramSyntaxError, match="UTF-8") as info:
        parse(b"(add \xff 1)")
    assert info.value.offset == 5


def test_parse_accepts_utf8_bytes():
    assert parse('(list "caf\u00e9")'.encode()) == Call("list", (String("caf\u00e9"),))


def test_parse_rejects_non_text_input():
    with pytest.raises(ProgramSyntaxError, match="str or bytes"):
        parse(42)


def test_parse_unknown_operation_lists_close_matches():
    with pytest.raises(ProgramValidationError, match="did you mean") as info:
        parse("(ad 1 2)")
    assert "'add'" in str(info.value)
    assert info.value.offset == 1


def test_parse_wrong_arity_names_operation_and_count():
    with pytest.raises(ProgramValidationError) as info:
        parse("(sub 1 2 3)")
    message = str(info.value)
    assert "sub" in message
    assert "takes 2 arguments, got 3" in message


def test_parse_deep_nesting_fails_fast_on_depth():
    depth = 100_000
    text = "(neg " * depth + "1" + ")" * depth
    start = time.perf_counter()
    with pytest.raises(LimitExceededError) as info:
        parse(text, Limits(max_program_chars=10 * depth))
    assert info.value.limit == "max_depth"
    assert time.perf_counter() - start < 1.0


def test_parse_deep_nesting_default_limits():
    depth = 100_000
    with pytest.raises(LimitExceededError):
        parse("(" * depth + ")" * depth)


def test_parse_accepts_nesting_at_depth_limit():
    text = "(neg " * 64 + "1" + ")" * 64
    assert to_text(parse(text)) == text


def test_parse_rejects_too_many_nodes():
    text = "(add " + " ".join(["1"] * 50) + ")"
    with pytest.raises(LimitExceededError) as info:
        parse(text, Limits(max_nodes=20))
    assert info.value.limit == "max_nodes"


def test_parse_rejects_too_many_characters():
    with pytest.raises(LimitExceededError) as info:
        parse("(add 1 2)", Limits(max_program_chars=5))
    assert info.value.limit == "max_program_chars"


def test_parse_rejects_too_many_digits():
    with pytest.raises(LimitExceededError) as info:
        parse("1" * 30, Limits(max_integer_digits=20))
    assert info.value.limit == "max_integer_digits"


def test_validate_accepts_hand_built_ast():
    stats = validate(Call("add", (Number(1), Call("neg", (Number(2),)))))
    assert stats.depth == 2
    assert stats.nodes == 4


def test_validate_rejects_unknown_operation():
    with pytest.raises(ProgramValidationError, match="unknown operation"):
        validate(Call("launch", (Number(1),)))


def test_validate_rejects_bad_symbol_name():
    with pytest.raises(ProgramValidationError, match="invalid symbol"):
        validate(Call("list", (Symbol("two words"),)))


def test_validate_rejects_unreduced_number():
    with pytest.raises(ProgramValidationError, match="Number value"):
        validate(Number(Fraction(4, 2)))


def test_validate_rejects_deep_ast():
    node = Number(1)
    for _ in range(100_000):
        node = Call("neg", (node,))
    with pytest.raises(LimitExceededError) as info:
        validate(node)
    assert info.value.limit == "max_depth"


# Property tests

_names = st.from_regex(r"[a-z][a-z0-9_\-]{0,6}", fullmatch=True)
_atoms = st.one_of(
    st.integers(-(10**30), 10**30).map(Number),
    st.fractions().filter(lambda f: f.denominator != 1).map(Number),
    _names.map(Symbol),
    st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).map(Reference),
    st.text(max_size=8).map(String),
)
_trees = st.recursive(
    _atoms,
    lambda children: st.lists(children, min_size=0, max_size=4).map(
        lambda args: Call("list", tuple(args))
    ),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(_trees)
def test_parse_of_to_text_returns_same_ast(node):
    assert parse(to_text(node)) == node


@settings(max_examples=100, deadline=None)
@given(_trees)
def test_to_text_is_stable_after_round_trip(node):
    text = to_text(node)
    assert to_text(parse(text)) == text
