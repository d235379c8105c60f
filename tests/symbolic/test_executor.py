"""execute: bindings, trace, AST input, limits, format_value and throughput."""

import subprocess
import sys
from fractions import Fraction

import pytest
import sympy

from neurosym.errors import ConfigError, NeurosymError
from neurosym.symbolic import (
    Call,
    LimitExceededError,
    Limits,
    Number,
    ProgramError,
    ProgramRuntimeError,
    ProgramSyntaxError,
    ProgramValidationError,
    Reference,
    benchmark_executor,
    execute,
    format_value,
)


def test_execute_returns_value_and_trace():
    result = execute("(add (mul 2 3) 4)")
    assert result.value == 10
    assert [step.op for step in result.trace] == ["mul", "add"]
    assert result.trace[1].inputs == (6, 4)
    assert result.trace[1].output == 10


def test_execute_without_trace():
    assert execute("(add 1 2)", record_trace=False).trace == []


def test_bindings_replace_references():
    a = 10**39 + 7
    assert execute("(add $a $b)", bindings={"a": a, "b": 1}).value == a + 1


def test_bindings_accept_fraction_and_str():
    assert execute("(list $half $name)", bindings={"half": Fraction(1, 2), "name": "mary"}).value == (
        Fraction(1, 2),
        "mary",
    )


def test_unbound_reference_names_bound_ones():
    with pytest.raises(ProgramRuntimeError, match=r"\$b .*bound: \$a"):
        execute("(add $a $b)", bindings={"a": 1})


def test_float_binding_is_rejected():
    with pytest.raises(ProgramValidationError, match="Fraction"):
        execute("(add $a 1)", bindings={"a": 0.5})


def test_oversized_binding_is_rejected():
    with pytest.raises(LimitExceededError):
        execute("(add $a 1)", bindings={"a": 10**30}, limits=Limits(max_integer_digits=20))


def test_execute_accepts_ast():
    assert execute(Call("add", (Number(1), Reference("a"))), bindings={"a": 2}).value == 3


def test_execute_validates_ast():
    with pytest.raises(ProgramValidationError, match="takes 2 arguments"):
        execute(Call("sub", (Number(1),)))


def test_execute_accepts_bytes():
    assert execute(b"(add 1 2)").value == 3


def test_execute_rejects_non_utf8_bytes():
    with pytest.raises(ProgramSyntaxError, match="UTF-8"):
        execute(b"(add 1 \xc3\x28)")


def test_execute_rejects_python_code():
    with pytest.raises(ProgramSyntaxError):
        execute("__import__('os').system('ls')")


def test_execute_rejects_deep_nesting():
    depth = 100_000
    with pytest.raises(LimitExceededError):
        execute("(neg " * depth + "1" + ")" * depth, limits=Limits(max_program_chars=10**6))


def test_errors_share_neurosym_base():
    with pytest.raises(NeurosymError):
        execute("(div 1 0)")


def test_runtime_error_carries_offset():
    with pytest.raises(ProgramError) as info:
        execute("(add 1 (div 1 0))")
    assert info.value.offset == 7


@pytest.mark.parametrize(
    "field", ["max_program_chars", "max_nodes", "max_depth", "max_integer_digits",
              "max_exponent", "max_symbolic_degree", "max_expanded_terms", "solver_timeout_ms"],
)
def test_limits_reject_non_positive(field):
    with pytest.raises(ConfigError, match=field):
        Limits(**{field: 0})


def test_limits_reject_depth_above_recursion_bound():
    with pytest.raises(ConfigError, match="max_depth"):
        Limits(max_depth=10_000)


def test_limits_reject_digits_above_python_limit():
    with pytest.raises(ConfigError, match="int_max_str_digits"):
        Limits(max_integer_digits=10**6)


def test_limits_are_frozen():
    with pytest.raises(AttributeError):
        Limits().max_depth = 5


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "yes"),
        (False, "no"),
        (-12, "-12"),
        (Fraction(-3, 4), "-3/4"),
        ("kitchen", "kitchen"),
        (("apple", "football"), "apple,football"),
        ({"x": 2, "y": Fraction(1, 2)}, "x=2,y=1/2"),
        (({"x": 1}, {"x": 2}), "x=1;x=2"),
        (sympy.Rational(2, 6), "1/3"),
        (sympy.sqrt(2), "sqrt(2)"),
        (None, "none"),
    ],
)
def test_format_value(value, expected):
    assert format_value(value) == expected


def test_format_value_rejects_unknown_type():
    with pytest.raises(ProgramValidationError, match="cannot format"):
        format_value(1.5)


def test_execution_result_answer():
    assert execute("(lt 1 2)").answer == "yes"


def test_benchmark_executor_reports_rate():
    report = benchmark_executor(n=500, seed=1)
    assert report["programs"] == 500
    assert report["programs_per_second"] > 0


def test_import_does_not_load_torch():
    code = "import sys, neurosym.symbolic; print('torch' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert output == "False"
