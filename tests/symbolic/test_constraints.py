"""Integer constraint problems solved with z3."""

import pytest

from neurosym.symbolic import (
    Limits,
    ProgramRuntimeError,
    ProgramValidationError,
    SolverTimeoutError,
    UnsatisfiableError,
    execute,
    format_value,
)


def test_argmax_finds_tallest():
    assert execute("(argmax (> alice bob) (> bob carol))").value == "alice"


def test_argmin_finds_shortest():
    assert execute("(argmin (> alice bob) (> bob carol))").value == "carol"


def test_argmax_rejects_undetermined_order():
    with pytest.raises(ProgramRuntimeError, match="do not determine"):
        execute("(argmax (> alice carol) (> bob carol))")


def test_satisfy_seating_puzzle():
    program = (
        "(satisfy (domain 1 3 alice bob carol) (distinct alice bob carol)"
        " (= alice 1) (< carol bob))"
    )
    assert execute(program).value == {"alice": 1, "bob": 3, "carol": 2}


def test_satisfy_formats_by_variable_name():
    assert format_value(execute("(satisfy (= b 2) (= a (+ b 1)))").value) == "a=3,b=2"


def test_find_unique_seat():
    program = "(find bob (domain 1 3 alice bob carol) (distinct alice bob carol) (= alice 1) (< carol bob))"
    assert execute(program).value == 3


def test_find_rejects_ambiguous_value():
    with pytest.raises(ProgramRuntimeError, match="more than one value"):
        execute("(find x (> x 1) (< x 5))")


def test_find_integer_constraint():
    assert execute("(find x (= (+ (* 3 x) 4) 19))").value == 5


def test_check_satisfiable():
    assert execute("(check (> x 1) (< x 3))").value is True


def test_check_unsatisfiable_returns_no():
    assert execute("(check (> x 1) (< x 0))").value is False


def test_satisfy_unsatisfiable_raises():
    with pytest.raises(UnsatisfiableError):
        execute("(satisfy (> x 1) (< x 0))")


def test_entails_transitive_order():
    assert execute("(entails (> a b) (> b c) (> a c))").value is True


def test_entails_undetermined_is_no():
    assert execute("(entails (> a c) (> b c) (> a b))").value is False


def test_entails_contradictory_premises_raise():
    with pytest.raises(UnsatisfiableError):
        execute("(entails (> a b) (> b a) (> a c))")


def test_solver_timeout_raises():
    # Factoring a 40-digit semiprime with nonlinear integer arithmetic cannot finish in 1 ms.
    semiprime = 1000000000000000000117 * 1000000000000000000193
    program = f"(satisfy (= (* p q) {semiprime}) (> p 1) (> q 1))"
    with pytest.raises(SolverTimeoutError):
        execute(program, limits=Limits(solver_timeout_ms=1))


def test_constraint_rejects_rational():
    with pytest.raises(ProgramValidationError, match="integers"):
        execute("(satisfy (= x 1/2))")


def test_constraint_rejects_non_formula():
    with pytest.raises(ProgramValidationError, match="constraint"):
        execute("(satisfy (+ x 1))")


def test_domain_outside_constraints_is_rejected():
    with pytest.raises(ProgramValidationError, match="constraint mode"):
        execute("(domain 1 3 x)")
