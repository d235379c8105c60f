"""Run programs: parse, check limits, evaluate with a trace, format the answer.

``execute`` evaluates the AST depth-first. Evaluation recurses once per nesting
level, which is safe because ``parse``/``validate`` reject programs deeper than
``Limits.max_depth`` (at most 300) before anything runs.

Values are ``int``, ``Fraction``, ``bool``, ``str`` (entity and relation names),
``tuple`` (lists), ``dict`` (assignments from ``solve`` and ``satisfy``) and sympy
expressions. :func:`format_value` turns any of them into the canonical answer string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from neurosym.symbolic import arithmetic
from neurosym.symbolic.context import RunContext, TraceStep
from neurosym.symbolic.errors import ProgramError, ProgramRuntimeError, ProgramValidationError
from neurosym.symbolic.facts import FactSource
from neurosym.symbolic.graph import KnowledgeGraph
from neurosym.symbolic.language import (
    Call,
    Node,
    Number,
    Reference,
    String,
    Symbol,
    parse,
    validate,
)
from neurosym.symbolic.limits import Limits
from neurosym.symbolic.operations import (
    ALGEBRA,
    MODE_NAMES,
    OPERATIONS,
    VALUE,
)

_DEFAULT_LIMITS = Limits()
_EMPTY_BINDINGS: Mapping[str, object] = {}


@dataclass
class ExecutionResult:
    """The value of a program and the calls that produced it, innermost first."""

    value: object
    trace: list[TraceStep] = field(default_factory=list)

    @property
    def answer(self) -> str:
        """The value as a canonical answer string (see ``format_value``)."""
        return format_value(self.value)


def execute(
    program: str | bytes | Node,
    graph: KnowledgeGraph | None = None,
    memory: FactSource | None = None,
    limits: Limits = _DEFAULT_LIMITS,
    bindings: Mapping[str, object] | None = None,
    record_trace: bool = True,
) -> ExecutionResult:
    """Parse (or validate) and run a program.

    Args:
        program: program text, UTF-8 bytes, or an AST node.
        graph: knowledge graph for ``relation``, ``path``, comparatives and the fact
            queries when ``memory`` is None.
        memory: fact source for ``latest``, ``at`` and ``history``; it takes precedence
            over ``graph`` for those operations.
        limits: resource limits; see ``Limits``.
        bindings: values of ``$name`` references, keyed by name without the ``$``:
            ``execute("(add $a 1)", bindings={"a": 41})``. Values may be int,
            Fraction, bool or str.
        record_trace: record one ``TraceStep`` per call; False saves time.

    Raises:
        ProgramError: any subclass; ``offset`` locates the failing node in program
            text when known.
    """
    if isinstance(program, (Number, Symbol, String, Reference, Call)):
        validate(program, limits)
        node = program
    else:
        node = parse(program, limits)
    trace: list[TraceStep] | None = [] if record_trace else None
    run = RunContext(limits, graph, memory, bindings or _EMPTY_BINDINGS, trace)
    value = _evaluate(node, VALUE, run)
    if type(value) is Fraction and value.denominator == 1:
        value = value.numerator
    return ExecutionResult(value, trace if trace is not None else [])


def evaluate_node(node: Node, mode: int, run: RunContext) -> object:
    """Evaluate one AST node in ``mode`` within a running program (for deferred arguments)."""
    return _evaluate(node, mode, run)


def _evaluate(node: Node, mode: int, run: RunContext) -> object:
    node_type = type(node)
    if node_type is Call:
        return _call(node, mode, run)
    if node_type is Number:
        return node.value if mode == VALUE else _convert(node.value, mode, node.offset)
    if node_type is Symbol:
        if mode == VALUE:
            return node.name
        if mode == ALGEBRA:
            from neurosym.symbolic.algebra import symbol

            return symbol(node.name)
        from neurosym.symbolic.constraints import variable

        return variable(node.name)
    if node_type is Reference:
        return _reference(node, mode, run)
    if mode != VALUE:
        raise ProgramValidationError(
            f"string {node.value!r} at offset {node.offset} cannot be used in "
            f"{MODE_NAMES[mode]} mode; use a symbol or a number",
            node.offset,
        )
    return node.value


def _call(node: Call, mode: int, run: RunContext) -> object:
    operation = OPERATIONS[node.op]
    arg_modes = operation.arg_modes
    last = len(arg_modes) - 1
    evaluated = node.args[:-1] if operation.defers_last else node.args
    values = []
    for index, arg in enumerate(evaluated):
        arg_mode = arg_modes[index if index < last else last]
        values.append(_evaluate(arg, mode if arg_mode < 0 else arg_mode, run))
    if operation.defers_last:
        values.append(node.args[-1])

    implementation = operation.implementations[mode]
    convert = False
    if implementation is None:
        implementation = operation.implementations[VALUE]
        if implementation is None:
            raise ProgramValidationError(
                f"{node.op} at offset {node.offset} cannot be used in {MODE_NAMES[mode]} "
                f"mode; it works inside {_modes_of(operation)}",
                node.offset,
            )
        if operation.inherits_mode:
            raise ProgramValidationError(
                f"{node.op} at offset {node.offset} has no {MODE_NAMES[mode]} form; "
                f"inside {_context_name(mode)} use "
                f"{', '.join(_names_with_mode(mode))}",
                node.offset,
            )
        convert = True

    try:
        result = implementation(run, values)
    except ProgramError as error:
        if error.offset is None:
            error.offset = node.offset
        raise
    if convert:
        result = _convert(result, mode, node.offset)

    if run.trace is not None:
        run.trace.append(TraceStep(node.op, tuple(values), result))
    return result


def _convert(value: object, mode: int, offset: int) -> object:
    try:
        if mode == ALGEBRA:
            from neurosym.symbolic.algebra import to_sympy

            return to_sympy(value)
        from neurosym.symbolic.constraints import to_z3

        return to_z3(value)
    except ProgramError as error:
        error.offset = offset
        raise


def _reference(node: Reference, mode: int, run: RunContext) -> object:
    try:
        value = run.bindings[node.name]
    except KeyError:
        known = ", ".join(f"${name}" for name in sorted(run.bindings)) or "none"
        raise ProgramRuntimeError(
            f"reference ${node.name} at offset {node.offset} is not bound (bound: {known}); "
            f"pass bindings={{{node.name!r}: ...}} to execute",
            node.offset,
        ) from None
    if type(value) is Fraction and value.denominator == 1:
        value = value.numerator
    if type(value) is int or type(value) is Fraction:
        run.check_number(value, f"${node.name}")
    elif type(value) is not bool and type(value) is not str:
        raise ProgramValidationError(
            f"binding ${node.name} is {arithmetic.describe(value)}; bind an int, Fraction, "
            "bool or str (use Fraction for exact non-integers)",
            node.offset,
        )
    return value if mode == VALUE else _convert(value, mode, node.offset)


def _modes_of(operation: object) -> str:
    names = [MODE_NAMES[mode] for mode, impl in enumerate(operation.implementations) if impl]
    return " and ".join(names) + " mode"


def _context_name(mode: int) -> str:
    return "algebra (solve, simplify, ...)" if mode == ALGEBRA else "constraints (satisfy, ...)"


def _names_with_mode(mode: int) -> list[str]:
    return sorted(
        {operation.name for operation in OPERATIONS.values()
         if operation.implementations[mode] is not None and operation.inherits_mode}
    )


def format_value(value: object) -> str:
    """Return the canonical answer string for a program value.

    - bool: ``yes`` / ``no``
    - int: decimal; Fraction: ``p/q`` in lowest terms with the sign on p
    - str: unchanged
    - tuple or list: the items formatted and joined with ``,`` (no spaces), in the
      order the operation returned them (solve sorts, objects sorts, path walks);
      a list of dicts (several solutions of a system) is joined with ``;``
    - dict: ``name=value`` pairs joined with ``,`` in the dict's order (solve: the
      variables as given; satisfy: by name)
    - sympy objects: sympy integers and rationals as above, anything else as
      ``str(expr)`` (sympy's own printer, for example ``sqrt(2)`` or ``2*x + 3``)
    - None: ``none``
    """
    value_type = type(value)
    if value_type is bool:
        return "yes" if value else "no"
    if value_type is int or value_type is str:
        return str(value)
    if value_type is Fraction:
        if value.denominator == 1:
            return str(value.numerator)
        return f"{value.numerator}/{value.denominator}"
    if value_type is tuple or value_type is list:
        separator = ";" if any(type(item) is dict for item in value) else ","
        return separator.join(format_value(item) for item in value)
    if value_type is dict:
        return ",".join(f"{name}={format_value(item)}" for name, item in value.items())
    if value is None:
        return "none"
    if "sympy" in value_type.__module__:
        from neurosym.symbolic.algebra import from_sympy

        plain = from_sympy(value)
        if plain is not value:
            return format_value(plain)
        return str(value)
    raise ProgramValidationError(
        f"cannot format {arithmetic.describe(value)}; format_value accepts the values "
        "that execute returns"
    )
