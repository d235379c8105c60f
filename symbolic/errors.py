"""Errors raised by the program language, the executor and the knowledge graph.

Every class derives from :class:`neurosym.errors.NeurosymError`, so callers can catch
all neurosym errors at once, or one kind of program failure at a time::

    SymbolicError
    ├── GraphError                    invalid fact or gender given to a KnowledgeGraph
    └── ProgramError                  a program failed; ``offset`` is where, when known
        ├── ProgramSyntaxError        text that is not the grammar, or not UTF-8
        ├── ProgramValidationError    unknown operation, wrong arity, wrong argument type
        ├── LimitExceededError        a Limits field was exceeded
        └── ProgramRuntimeError       a well-formed program failed while running
            ├── UnknownEntityError    an entity the graph does not contain
            ├── CompositionError      no kinship rule composes two relations
            ├── SolverTimeoutError    z3 ran out of time
            └── UnsatisfiableError    the constraints or equations have no solution
"""

from __future__ import annotations

from neurosym.errors import NeurosymError


class SymbolicError(NeurosymError):
    """Base class of every error raised by ``neurosym.symbolic``."""


class GraphError(SymbolicError, ValueError):
    """A fact, entity or gender given to a knowledge graph is invalid."""


class ProgramError(SymbolicError):
    """A program could not be parsed, validated or run.

    ``offset`` is the character offset of the bad node in the program text, or None
    when the program was built as an AST or the failure has no single position.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class ProgramSyntaxError(ProgramError, ValueError):
    """The program text is not valid UTF-8 or does not follow the grammar."""


class ProgramValidationError(ProgramError, ValueError):
    """The program names an unknown operation, or an operation gets the wrong arguments."""


class LimitExceededError(ProgramError):
    """The program or an intermediate value exceeded a field of ``Limits``.

    ``limit`` is the name of the ``Limits`` field, ``maximum`` its value and ``actual``
    the size that was found or estimated.
    """

    def __init__(
        self, message: str, limit: str, maximum: int, actual: int, offset: int | None = None
    ) -> None:
        super().__init__(message, offset)
        self.limit = limit
        self.maximum = maximum
        self.actual = actual


class ProgramRuntimeError(ProgramError):
    """A well-formed program failed while running (division by zero, missing fact, ...)."""


class UnknownEntityError(ProgramRuntimeError):
    """A query named an entity that the knowledge graph does not contain."""


class CompositionError(ProgramRuntimeError):
    """No kinship rule composes ``first`` followed by ``second``."""

    def __init__(self, message: str, first: str, second: str) -> None:
        super().__init__(message)
        self.first = first
        self.second = second


class SolverTimeoutError(ProgramRuntimeError, TimeoutError):
    """z3 returned ``unknown`` because it reached ``Limits.solver_timeout_ms``."""


class UnsatisfiableError(ProgramRuntimeError):
    """The constraints or equations have no solution."""
