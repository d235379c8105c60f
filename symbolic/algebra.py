"""Algebra on sympy objects built from the AST, never from text.

In algebra mode a symbol is a ``sympy.Symbol`` (no assumptions, so complex roots are
kept), numbers are ``sympy.Integer``/``sympy.Rational``, and the arithmetic operations
build expressions: ``(+ (* 2 x) 3)`` is ``2*x + 3``. When every argument of an
arithmetic operation is a number, the exact value-mode arithmetic runs instead, with
its size checks. ``(= A B)`` builds an unevaluated ``sympy.Eq`` and ``(and E ...)`` a
tuple of equations.

Operations (each returns a plain value when the result is a number):

- ``(solve EQUATION VAR ...)``: EQUATION is ``(= A B)``, a bare expression meaning
  ``= 0``, or ``(and ...)`` of several. Equations must be polynomial or rational in
  the variables, of degree at most ``MAX_SOLVE_DEGREE`` (4). With one variable the
  result is a tuple of its solutions, real ones first in increasing order, then
  complex ones by real and imaginary part. With several variables the result is a
  dict ``{variable: value}`` in the order the variables were given, or a tuple of
  such dicts when there are several solutions. No solution raises
  ``UnsatisfiableError``.
- ``(simplify E)``, ``(expand E)``, ``(factor E)``: sympy's transformation of E.
- ``(evaluate E (= VAR VALUE) ...)``: E with each VAR replaced by VALUE.

Cost bounds: before ``solve``, ``simplify``, ``expand`` and ``factor``, the number of
terms of the fully expanded input is estimated and checked against
``Limits.max_expanded_terms``, and a symbolic power's exponent is checked against
``Limits.max_symbolic_degree``. Numbers in every result are checked against
``Limits.max_integer_digits``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import sympy
from sympy.polys.polyerrors import PolynomialError

from neurosym.symbolic import arithmetic
from neurosym.symbolic.arithmetic import describe
from neurosym.symbolic.context import RunContext
from neurosym.symbolic.errors import (
    LimitExceededError,
    ProgramRuntimeError,
    ProgramValidationError,
    UnsatisfiableError,
)

MAX_SOLVE_DEGREE = 4
"""Highest polynomial degree ``solve`` accepts; degree 4 is the last with radical formulas."""

_SYMBOLS: dict[str, sympy.Symbol] = {}


def symbol(name: str) -> sympy.Symbol:
    """Return the sympy variable for a program symbol."""
    variable = _SYMBOLS.get(name)
    if variable is None:
        variable = _SYMBOLS[name] = sympy.Symbol(name)
    return variable


def to_sympy(value: object, op: str = "algebra") -> sympy.Basic:
    """Convert a value-mode value (number, boolean, sympy object) for use in algebra."""
    if type(value) is int:
        return sympy.Integer(value)
    if type(value) is Fraction:
        return sympy.Rational(value.numerator, value.denominator)
    if type(value) is bool:
        return sympy.true if value else sympy.false
    if isinstance(value, sympy.Basic):
        return value
    raise ProgramValidationError(
        f"{op}: {describe(value)} cannot be used in an algebraic expression; use a number "
        "or a variable"
    )


def from_sympy(value: object) -> object:
    """Convert sympy numbers and truth values to int, Fraction and bool."""
    if isinstance(value, sympy.Integer):
        return int(value)
    if isinstance(value, sympy.Rational):
        return Fraction(int(value.p), int(value.q))
    if value is sympy.true:
        return True
    if value is sympy.false:
        return False
    if isinstance(value, tuple):
        return tuple(from_sympy(item) for item in value)
    return value


def _plain_numbers(args: list) -> list | None:
    # The args as int/Fraction when all are sympy rationals, else None.
    plain = []
    for arg in args:
        if not isinstance(arg, sympy.Rational):
            return None
        plain.append(from_sympy(arg))
    return plain


def _expressions(op: str, args: list) -> list:
    for index, arg in enumerate(args):
        if not isinstance(arg, sympy.Expr):
            raise arithmetic.wrong_type(op, index, "an algebraic expression", arg)
    return args


def _check_digits(run: RunContext, expression: sympy.Basic, op: str) -> sympy.Basic:
    if isinstance(expression, sympy.Basic):
        for number in expression.atoms(sympy.Rational):
            run.check_int(int(number.p), op)
            run.check_int(int(number.q), op)
    return expression


def _numeric_or_symbolic(run: RunContext, op: str, args: list, numeric, symbolic) -> object:
    plain = _plain_numbers(_expressions(op, args))
    if plain is not None:
        return to_sympy(numeric(run, plain))
    return _check_digits(run, symbolic(args), op)


def add(run: RunContext, args: list) -> sympy.Expr:
    return _numeric_or_symbolic(run, "add", args, arithmetic.add, lambda a: sympy.Add(*a))


def sub(run: RunContext, args: list) -> sympy.Expr:
    return _numeric_or_symbolic(run, "sub", args, arithmetic.sub, lambda a: a[0] - a[1])


def mul(run: RunContext, args: list) -> sympy.Expr:
    return _numeric_or_symbolic(run, "mul", args, arithmetic.mul, lambda a: sympy.Mul(*a))


def div(run: RunContext, args: list) -> sympy.Expr:
    _expressions("div", args)
    if args[1] == 0:
        raise ProgramRuntimeError(f"div: division of {args[0]} by zero; check the divisor")
    return _numeric_or_symbolic(run, "div", args, arithmetic.div, lambda a: a[0] / a[1])


def neg(run: RunContext, args: list) -> sympy.Expr:
    return _numeric_or_symbolic(run, "neg", args, arithmetic.neg, lambda a: -a[0])


def absolute(run: RunContext, args: list) -> sympy.Expr:
    return _numeric_or_symbolic(run, "abs", args, arithmetic.absolute, lambda a: sympy.Abs(a[0]))


def power(run: RunContext, args: list) -> sympy.Expr:
    base, exponent = _expressions("pow", args)
    plain = _plain_numbers(args)
    if plain is not None:
        return to_sympy(arithmetic.power(run, plain))
    maximum = run.limits.max_symbolic_degree
    if not isinstance(exponent, sympy.Integer):
        raise ProgramValidationError(
            f"pow: a symbolic power needs an integer exponent, got {exponent}"
        )
    if abs(int(exponent)) > maximum:
        raise LimitExceededError(
            f"pow: exponent {exponent} on the symbolic base {base} exceeds "
            f"Limits.max_symbolic_degree={maximum}",
            "max_symbolic_degree",
            maximum,
            abs(int(exponent)),
        )
    if base == 0 and exponent < 0:
        raise ProgramRuntimeError(f"pow: 0 to the negative power {exponent} divides by zero")
    return _check_digits(run, base**exponent, "pow")


def equation(run: RunContext, args: list) -> sympy.Eq:
    left, right = _expressions("eq", args)
    return sympy.Eq(left, right, evaluate=False)


def conjunction(run: RunContext, args: list) -> tuple:
    equations: list = []
    for index, arg in enumerate(args):
        if isinstance(arg, tuple):
            equations.extend(arg)
        elif isinstance(arg, (sympy.Eq, sympy.Expr)):
            equations.append(arg)
        else:
            raise arithmetic.wrong_type("and", index, "an equation", arg)
    return tuple(equations)


def estimate_terms(expression: sympy.Basic, cap: int) -> int:
    """Estimate an upper bound on the terms of ``expression`` fully expanded.

    Sums add their terms' counts, products multiply them, and a power ``b**n`` of a
    ``t``-term base has at most ``comb(t + n - 1, n)`` terms (the number of monomials of
    degree n in t variables). Counts above ``cap`` return ``cap + 1`` early.
    """
    if expression.is_Atom:
        return 1
    if isinstance(expression, sympy.Add):
        total = 0
        for arg in expression.args:
            total += estimate_terms(arg, cap)
            if total > cap:
                return cap + 1
        return total
    if isinstance(expression, sympy.Mul):
        total = 1
        for arg in expression.args:
            total *= estimate_terms(arg, cap)
            if total > cap:
                return cap + 1
        return total
    if isinstance(expression, sympy.Pow):
        base_terms = estimate_terms(expression.base, cap)
        exponent = expression.exp
        if base_terms == 1 or not isinstance(exponent, sympy.Integer):
            return base_terms
        power_of = abs(int(exponent))
        if power_of > cap:  # comb(t + n - 1, n) >= n + 1 for t >= 2
            return cap + 1
        return min(math.comb(base_terms + power_of - 1, power_of), cap + 1)
    total = 1
    for arg in expression.args:
        total += estimate_terms(arg, cap)
        if total > cap:
            return cap + 1
    return total


def _check_size(run: RunContext, expression: sympy.Basic, op: str) -> None:
    maximum = run.limits.max_expanded_terms
    terms = estimate_terms(expression, maximum)
    if terms > maximum:
        raise LimitExceededError(
            f"{op}: the expression could expand to more than Limits.max_expanded_terms="
            f"{maximum} terms; simplify the input or raise the limit",
            "max_expanded_terms",
            maximum,
            terms,
        )


def _single_expression(op: str, args: list) -> sympy.Expr:
    expression = args[0]
    if not isinstance(expression, (sympy.Expr, sympy.Eq)):
        raise arithmetic.wrong_type(op, 0, "an algebraic expression", expression)
    return expression


def _transform(run: RunContext, args: list, op: str, function) -> object:
    expression = _single_expression(op, args)
    _check_size(run, expression, op)
    return from_sympy(_check_digits(run, function(expression), op))


def simplify(run: RunContext, args: list) -> object:
    # NOTE: sympy has no time limit; the size check bounds the input, not the work.
    return _transform(run, args, "simplify", sympy.simplify)


def expand(run: RunContext, args: list) -> object:
    return _transform(run, args, "expand", sympy.expand)


def factor(run: RunContext, args: list) -> object:
    return _transform(run, args, "factor", sympy.factor)


def evaluate(run: RunContext, args: list) -> object:
    expression = _single_expression("evaluate", args)
    replacements: dict = {}
    for index, item in enumerate(args[1:], start=1):
        if not isinstance(item, sympy.Eq) or not isinstance(item.lhs, sympy.Symbol):
            raise arithmetic.wrong_type("evaluate", index, "a substitution (= VAR VALUE)", item)
        replacements[item.lhs] = item.rhs
    _check_size(run, expression, "evaluate")
    result = expression.subs(replacements)
    if isinstance(result, sympy.Expr) and not result.free_symbols:
        result = sympy.simplify(result)
    if isinstance(result, sympy.Eq):
        result = sympy.simplify(result.lhs - result.rhs) == 0
    return from_sympy(_check_digits(run, result, "evaluate"))


def _equations(arg: object) -> list[sympy.Expr]:
    items = list(arg) if isinstance(arg, tuple) else [arg]
    expressions = []
    for item in items:
        if isinstance(item, sympy.Eq):
            expressions.append(item.lhs - item.rhs)
        elif isinstance(item, sympy.Expr):
            expressions.append(item)
        else:
            raise arithmetic.wrong_type("solve", 0, "an equation (= A B) or (and ...)", item)
    return expressions


def _check_solvable(expression: sympy.Expr, variables: list[sympy.Symbol]) -> None:
    numerator, _ = sympy.fraction(sympy.together(expression))
    try:
        polynomial = sympy.Poly(numerator, *variables)
    except PolynomialError:
        raise ProgramValidationError(
            f"solve: {expression} = 0 is not a polynomial or rational equation in "
            f"{', '.join(map(str, variables))}"
        ) from None
    degree = polynomial.total_degree()
    if degree > MAX_SOLVE_DEGREE:
        raise ProgramValidationError(
            f"solve: {expression} = 0 has degree {degree}; solve handles degree at most "
            f"{MAX_SOLVE_DEGREE}"
        )


def _solution_key(value: sympy.Expr) -> tuple:
    if value.free_symbols:
        return (2, 0.0, 0.0, str(value))
    number = complex(sympy.N(value, 30))
    return (0 if value.is_real else 1, number.real, number.imag, str(value))


def solve(run: RunContext, args: list) -> object:
    expressions = _equations(args[0])
    names = [arithmetic.require_str("solve", args, index) for index in range(1, len(args))]
    if len(set(names)) != len(names):
        raise ProgramValidationError(f"solve: variables {names} repeat a name; list each once")
    variables = [symbol(name) for name in names]

    for expression in expressions:
        _check_size(run, expression, "solve")
        _check_solvable(expression, variables)
    expressions = [expression for expression in expressions if sympy.expand(expression) != 0]
    if not expressions:
        raise ProgramRuntimeError(
            f"solve: the equations hold for every value of {', '.join(names)}, so there is "
            "no single answer"
        )

    # NOTE: sympy.solve has no time limit; the degree and size checks keep inputs small.
    solutions = sympy.solve(expressions, variables, dict=True)
    if not solutions:
        raise UnsatisfiableError(
            f"solve: the equations have no solution for {', '.join(names)}"
        )
    for solution in solutions:
        for value in solution.values():
            _check_digits(run, value, "solve")

    if len(variables) == 1:
        variable = variables[0]
        values = [solution.get(variable, variable) for solution in solutions]
        if any(value == variable for value in values):
            raise ProgramRuntimeError(
                f"solve: every value of {variable} is a solution, so there is no single answer"
            )
        return tuple(from_sympy(value) for value in sorted(values, key=_solution_key))
    assignments = [
        {name: from_sympy(solution.get(variable, variable)) for name, variable in zip(names, variables, strict=True)}
        for solution in solutions
    ]
    if len(assignments) == 1:
        return assignments[0]
    keys = [tuple(_solution_key(solution.get(v, v)) for v in variables) for solution in solutions]
    order = sorted(range(len(assignments)), key=keys.__getitem__)
    return tuple(assignments[index] for index in order)
