"""Integer constraint problems solved with z3.

In constraint mode a symbol is a z3 integer variable and the arithmetic, comparison
and logic operations build z3 formulas, so ``(< alice bob)`` states that alice's value is
less than bob's. Ordering puzzles give each person a number (a height, a seat), and
``(domain 1 3 alice bob carol)`` with ``(distinct alice bob carol)`` makes the
numbers a seating.

Operations:

- ``(satisfy C ...)``: one model as a dict ``{variable: int}`` sorted by variable
  name. Which model z3 returns when several exist is not specified.
- ``(check C ...)``: True when satisfiable, False when unsatisfiable.
- ``(entails C ... CONCLUSION)``: True when every model of the premises satisfies
  CONCLUSION, else False.
- ``(find VAR C ...)``: VAR's value, which must be the same in every model.
- ``(argmax C ...)``, ``(argmin C ...)``: the name of the variable that is strictly
  largest (smallest) in every model.
- ``(order C ...)``: the variable names from largest to smallest, a strict order that
  every model shares.

Every solver call is limited to ``Limits.solver_timeout_ms`` and raises
``SolverTimeoutError`` when z3 gives up. Unsatisfiable premises raise
``UnsatisfiableError`` (except in ``check``), and constraints that allow several
answers to ``find``, ``argmax``, ``argmin`` or ``order`` raise ``ProgramRuntimeError``.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import z3

from neurosym.symbolic.arithmetic import describe, require_str, wrong_type
from neurosym.symbolic.context import RunContext
from neurosym.symbolic.errors import (
    ProgramRuntimeError,
    ProgramValidationError,
    SolverTimeoutError,
    UnsatisfiableError,
)


def variable(name: str) -> z3.ArithRef:
    """Return the z3 integer variable for a program symbol."""
    return z3.Int(name)


def to_z3(value: object, op: str = "constraint") -> z3.ExprRef:
    """Convert a value-mode value (int or boolean) for use in a constraint."""
    if type(value) is bool:
        return z3.BoolVal(value)
    if type(value) is int:
        return z3.IntVal(value)
    if isinstance(value, z3.ExprRef):
        return value
    if type(value) is Fraction:
        raise ProgramValidationError(
            f"{op}: constraint problems use integers, got the rational {value}"
        )
    raise ProgramValidationError(
        f"{op}: {describe(value)} cannot be used in a constraint; use an integer or a variable"
    )


def _integers(op: str, args: list) -> list:
    for index, arg in enumerate(args):
        if not z3.is_int(arg):
            raise wrong_type(op, index, "an integer expression", arg)
    return args


def _formulas(op: str, args: list) -> list:
    for index, arg in enumerate(args):
        if not z3.is_bool(arg):
            raise wrong_type(op, index, "a constraint (a comparison or logic formula)", arg)
    return args


def add(run: RunContext, args: list) -> z3.ArithRef:
    return z3.Sum(*_integers("add", args))


def sub(run: RunContext, args: list) -> z3.ArithRef:
    first, second = _integers("sub", args)
    return first - second


def mul(run: RunContext, args: list) -> z3.ArithRef:
    return z3.Product(*_integers("mul", args))


def neg(run: RunContext, args: list) -> z3.ArithRef:
    return -_integers("neg", args)[0]


def absolute(run: RunContext, args: list) -> z3.ArithRef:
    value = _integers("abs", args)[0]
    return z3.If(value < 0, -value, value)


def minimum(run: RunContext, args: list) -> z3.ArithRef:
    result, *rest = _integers("min", args)
    for value in rest:
        result = z3.If(value < result, value, result)
    return result


def maximum(run: RunContext, args: list) -> z3.ArithRef:
    result, *rest = _integers("max", args)
    for value in rest:
        result = z3.If(value > result, value, result)
    return result


def less(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _integers("lt", args)
    return first < second


def less_equal(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _integers("le", args)
    return first <= second


def greater(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _integers("gt", args)
    return first > second


def greater_equal(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _integers("ge", args)
    return first >= second


def _same_sort(op: str, args: list) -> list:
    if not (all(z3.is_int(arg) for arg in args) or all(z3.is_bool(arg) for arg in args)):
        raise ProgramValidationError(
            f"{op}: compare integers with integers or formulas with formulas, got "
            f"{', '.join(str(arg) for arg in args)}"
        )
    return args


def equal(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _same_sort("eq", args)
    return first == second


def not_equal(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _same_sort("ne", args)
    return first != second


def logical_and(run: RunContext, args: list) -> z3.BoolRef:
    return z3.And(*_formulas("and", args))


def logical_or(run: RunContext, args: list) -> z3.BoolRef:
    return z3.Or(*_formulas("or", args))


def logical_not(run: RunContext, args: list) -> z3.BoolRef:
    return z3.Not(_formulas("not", args)[0])


def implies(run: RunContext, args: list) -> z3.BoolRef:
    first, second = _formulas("implies", args)
    return z3.Implies(first, second)


def distinct(run: RunContext, args: list) -> z3.BoolRef:
    if len(args) == 1:
        return z3.BoolVal(True)
    return z3.Distinct(*_same_sort("distinct", args))


def domain(run: RunContext, args: list) -> z3.BoolRef:
    low, high, *variables = _integers("domain", args)
    return z3.And(*[z3.And(low <= item, item <= high) for item in variables])


def _variables(constraints: list) -> list[z3.ArithRef]:
    # Uninterpreted constants in the formulas, sorted by name; iterative walk.
    found: dict[str, z3.ArithRef] = {}
    seen: set[int] = set()
    pending = list(constraints)
    while pending:
        expression = pending.pop()
        key = expression.get_id()
        if key in seen:
            continue
        seen.add(key)
        if z3.is_const(expression) and expression.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            found[str(expression)] = expression
        else:
            pending.extend(expression.children())
    return [found[name] for name in sorted(found)]


def _check(run: RunContext, op: str, constraints: list) -> z3.ModelRef | None:
    # The model when satisfiable, None when unsatisfiable; raises on timeout.
    solver = z3.Solver()
    solver.set("timeout", run.limits.solver_timeout_ms)
    solver.add(*constraints)
    result = solver.check()
    if result == z3.sat:
        return solver.model()
    if result == z3.unsat:
        return None
    reason = solver.reason_unknown()
    if "timeout" in reason or "canceled" in reason:
        raise SolverTimeoutError(
            f"{op}: z3 timed out after Limits.solver_timeout_ms="
            f"{run.limits.solver_timeout_ms}; simplify the constraints or raise the limit"
        )
    raise ProgramRuntimeError(f"{op}: z3 could not decide the constraints ({reason})")


def _model_or_raise(run: RunContext, op: str, constraints: list) -> z3.ModelRef:
    model = _check(run, op, constraints)
    if model is None:
        raise UnsatisfiableError(
            f"{op}: the constraints contradict each other, so no assignment satisfies them"
        )
    return model


def _value(model: z3.ModelRef, item: z3.ArithRef) -> int:
    return model.eval(item, model_completion=True).as_long()


def satisfy(run: RunContext, args: list) -> dict[str, int]:
    constraints = _formulas("satisfy", args)
    model = _model_or_raise(run, "satisfy", constraints)
    return {str(item): _value(model, item) for item in _variables(constraints)}


def check(run: RunContext, args: list) -> bool:
    return _check(run, "check", _formulas("check", args)) is not None


def entails(run: RunContext, args: list) -> bool:
    *premises, conclusion = _formulas("entails", args)
    _model_or_raise(run, "entails", premises)
    return _check(run, "entails", [*premises, z3.Not(conclusion)]) is None


def find(run: RunContext, args: list) -> int:
    name = require_str("find", args, 0)
    constraints = _formulas("find", args[1:])
    target = variable(name)
    if name not in {str(item) for item in _variables(constraints)}:
        raise ProgramValidationError(f"find: no constraint mentions the variable {name!r}")
    model = _model_or_raise(run, "find", constraints)
    value = _value(model, target)
    if _check(run, "find", [*constraints, target != value]) is not None:
        raise ProgramRuntimeError(
            f"find: the constraints allow more than one value of {name!r} (one is {value}); "
            "add constraints that fix it"
        )
    return value


def _extreme(run: RunContext, args: list, op: str, largest: bool) -> str:
    constraints = _formulas(op, args)
    variables = _variables(constraints)
    if not variables:
        raise ProgramValidationError(f"{op}: the constraints mention no variables")
    model = _model_or_raise(run, op, constraints)
    values = {str(item): _value(model, item) for item in variables}
    pick = max if largest else min
    best_name = pick(values, key=values.__getitem__)
    best = variable(best_name)
    others = [item for item in variables if str(item) != best_name]
    if others:
        rivals = [item >= best if largest else item <= best for item in others]
        if _check(run, op, [*constraints, z3.Or(*rivals)]) is not None:
            word = "largest" if largest else "smallest"
            raise ProgramRuntimeError(
                f"{op}: the constraints do not determine which variable is {word}; "
                "add constraints that order them"
            )
    return best_name


def argmax(run: RunContext, args: list) -> str:
    return _extreme(run, args, "argmax", largest=True)


def argmin(run: RunContext, args: list) -> str:
    return _extreme(run, args, "argmin", largest=False)


def order(run: RunContext, args: list) -> tuple[str, ...]:
    constraints = _formulas("order", args)
    variables = _variables(constraints)
    if not variables:
        raise ProgramValidationError("order: the constraints mention no variables")
    model = _model_or_raise(run, "order", constraints)
    values = {str(item): _value(model, item) for item in variables}
    ranked = sorted(variables, key=lambda item: (-values[str(item)], str(item)))
    # Any model with another order breaks some strict step of this one, by transitivity.
    broken_steps = [later >= earlier for earlier, later in itertools.pairwise(ranked)]
    if broken_steps and _check(run, "order", [*constraints, z3.Or(*broken_steps)]) is not None:
        raise ProgramRuntimeError(
            "order: the constraints allow more than one order of the variables; "
            "add constraints that order them"
        )
    return tuple(str(item) for item in ranked)
