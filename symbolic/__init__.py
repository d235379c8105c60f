"""neurosym.symbolic: a program language and executor for exact symbolic reasoning.

Programs are S-expressions such as ``(add 123 456)``, ``(solve (= (+ (* 2 x) 3) 7) x)``,
``(relation alice carol)`` or ``(latest location mary)``. :func:`parse` turns text into
a typed AST, :func:`execute` runs it against an optional :class:`KnowledgeGraph` and
fact source, and :func:`format_value` writes the canonical answer string. The
operations are listed in :data:`OPERATIONS` and documented in
``neurosym.symbolic.operations``.

This package depends on networkx, sympy and z3 only, never on torch; sympy and z3
are imported on the first algebra or constraint operation.
"""

from neurosym.symbolic.benchmark import benchmark_executor, random_arithmetic_program
from neurosym.symbolic.context import TraceStep
from neurosym.symbolic.errors import (
    CompositionError,
    GraphError,
    LimitExceededError,
    ProgramError,
    ProgramRuntimeError,
    ProgramSyntaxError,
    ProgramValidationError,
    SolverTimeoutError,
    SymbolicError,
    UnknownEntityError,
    UnsatisfiableError,
)
from neurosym.symbolic.executor import ExecutionResult, execute, format_value
from neurosym.symbolic.facts import Fact, FactSource
from neurosym.symbolic.graph import COMPARATIVES, INVERSE_DIRECTIONS, KnowledgeGraph
from neurosym.symbolic.language import (
    Call,
    Node,
    Number,
    Reference,
    String,
    Symbol,
    parse,
    to_text,
    validate,
)
from neurosym.symbolic.limits import Limits
from neurosym.symbolic.operations import OPERATIONS, Operation

__all__ = [
    "COMPARATIVES",
    "INVERSE_DIRECTIONS",
    "OPERATIONS",
    "Call",
    "CompositionError",
    "ExecutionResult",
    "Fact",
    "FactSource",
    "GraphError",
    "KnowledgeGraph",
    "LimitExceededError",
    "Limits",
    "Node",
    "Number",
    "Operation",
    "ProgramError",
    "ProgramRuntimeError",
    "ProgramSyntaxError",
    "ProgramValidationError",
    "Reference",
    "SolverTimeoutError",
    "String",
    "Symbol",
    "SymbolicError",
    "TraceStep",
    "UnknownEntityError",
    "UnsatisfiableError",
    "benchmark_executor",
    "execute",
    "format_value",
    "parse",
    "random_arithmetic_program",
    "to_text",
    "validate",
]
