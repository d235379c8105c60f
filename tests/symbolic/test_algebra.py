"""solve, simplify, expand, factor and evaluate on sympy objects built from the AST."""

from fractions import Fraction

import pytest
import sympy

from neurosym.symbolic import (
    LimitExceededError,
    ProgramRuntimeError,
    ProgramValidationError,
    UnsatisfiableError,
    execute,
    format_value,
)


def answer(program, **kwargs):
    return format_value(execute(program, **kwargs).value)


def test_solve_linear_equation():
    assert execute("(solve (= (+ (* 2 x) 3) 7) x)").value == (2,)


def test_solve_linear_equation_with_rational_root():
    assert execute("(solve (= (* 3 x) 2) x)").value == (Fraction(2, 3),)


def test_solve_quadratic_sorts_roots():
    assert execute("(solve (= (^ x 2) (+ x 6)) x)").value == (-2, 3)


def test_solve_quadratic_with_irrational_roots():
    assert answer("(solve (= (^ x 2) 2) x)") == "-sqrt(2),sqrt(2)"


def test_solve_quadratic_lists_real_before_complex():
    value = execute("(solve (= (* (- x 1) (+ (^ x 2) 1)) 0) x)").value
    assert value[0] == 1
    assert value[1:] == (-sympy.I, sympy.I)


def test_solve_bare_expression_means_equal_to_zero():
    assert execute("(solve (- (^ x 2) 9) x)").value == (-3, 3)


def test_solve_two_by_two_system():
    value = execute("(solve (and (= (+ x y) 3) (= (- x y) 1)) x y)").value
    assert value == {"x": 2, "y": 1}


def test_solve_system_keeps_variable_order():
    assert answer("(solve (and (= (+ x y) 3) (= (- x y) 1)) y x)") == "y=1,x=2"


def test_solve_with_bound_coefficients():
    value = execute("(solve (= (+ (* $a x) $b) 0) x)", bindings={"a": 4, "b": -2}).value
    assert value == (Fraction(1, 2),)


def test_solve_without_solution_raises_unsatisfiable():
    with pytest.raises(UnsatisfiableError):
        execute("(solve (= (+ x 1) x) x)")


def test_solve_identity_raises_runtime_error():
    with pytest.raises(ProgramRuntimeError, match="every value"):
        execute("(solve (= (* 2 x) (+ x x)) x)")


def test_solve_rejects_degree_five():
    with pytest.raises(ProgramValidationError, match="degree 5"):
        execute("(solve (= (^ x 5) 2) x)")


def test_solve_rejects_comparison_inside_equation():
    with pytest.raises(ProgramValidationError, match="no algebra form"):
        execute("(solve (lt x 1) x)")


def test_simplify_cancels_common_factor():
    assert answer("(simplify (/ (- (^ x 2) 1) (- x 1)))") == "x + 1"


def test_expand_binomial():
    assert answer("(expand (^ (+ x 1) 3))") == "x**3 + 3*x**2 + 3*x + 1"


def test_factor_difference_of_squares():
    assert answer("(factor (- (^ x 2) 4))") == "(x - 2)*(x + 2)"


def test_evaluate_substitutes_values():
    assert execute("(evaluate (+ (* 2 x) y) (= x 3) (= y 1/2))").value == Fraction(13, 2)


def test_evaluate_rejects_non_substitution():
    with pytest.raises(ProgramValidationError, match="substitution"):
        execute("(evaluate (+ x 1) (+ x 2))")


def test_algebra_numbers_use_exact_arithmetic():
    assert execute("(evaluate (div 1 3))").value == Fraction(1, 3)


def test_algebra_division_by_zero_raises():
    with pytest.raises(ProgramRuntimeError, match="by zero"):
        execute("(simplify (/ x 0))")


def test_expand_of_huge_power_is_rejected_before_expanding():
    with pytest.raises(LimitExceededError) as info:
        execute("(expand (^ (^ (+ a b c) 16) 16))")
    assert info.value.limit in {"max_expanded_terms", "max_symbolic_degree"}


def test_symbolic_power_exponent_limit():
    with pytest.raises(LimitExceededError) as info:
        execute("(expand (^ (+ x 1) 100))")
    assert info.value.limit == "max_symbolic_degree"


def test_expanded_terms_limit():
    with pytest.raises(LimitExceededError) as info:
        execute("(expand (^ (^ (+ x y z w v) 10) 2))")
    assert info.value.limit == "max_expanded_terms"


def test_value_operation_inside_algebra_is_converted():
    value = execute("(solve (= x (add 1 2)) x)").value
    assert value == (3,)


def test_string_inside_algebra_is_rejected():
    with pytest.raises(ProgramValidationError, match="string"):
        execute('(simplify (+ x "one"))')
