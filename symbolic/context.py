"""State shared by the operations while one program runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, NamedTuple

from neurosym.symbolic.errors import LimitExceededError, ProgramRuntimeError
from neurosym.symbolic.limits import Limits

if TYPE_CHECKING:
    from neurosym.symbolic.facts import FactSource
    from neurosym.symbolic.graph import KnowledgeGraph

_LOG2_10 = math.log2(10)


class TraceStep(NamedTuple):
    """One evaluated call: the operation as written, its argument values and its result."""

    op: str
    inputs: tuple[object, ...]
    output: object


class RunContext:
    """Limits, data sources and the trace of one ``execute`` call."""

    __slots__ = ("limits", "graph", "memory", "bindings", "trace", "bound", "max_bits")

    def __init__(
        self,
        limits: Limits,
        graph: KnowledgeGraph | None,
        memory: FactSource | None,
        bindings: Mapping[str, object],
        trace: list[TraceStep] | None,
    ) -> None:
        self.limits = limits
        self.graph = graph
        self.memory = memory
        self.bindings = bindings
        self.trace = trace
        self.bound = limits.integer_bound
        # Any integer with more bits than this has more than max_integer_digits digits.
        self.max_bits = math.ceil(limits.max_integer_digits * _LOG2_10)

    def check_int(self, value: int, op: str) -> int:
        """Return ``value`` unless it has more digits than the limit allows."""
        bound = self.bound
        if -bound < value < bound:
            return value
        raise self.too_many_digits(op, int(abs(value).bit_length() / _LOG2_10) + 1)

    def check_number(self, value: int | Fraction, op: str) -> int | Fraction:
        """Return an int or reduced Fraction within the digit limit; Fraction p/1 becomes p."""
        if type(value) is int:
            return self.check_int(value, op)
        if value.denominator == 1:
            return self.check_int(value.numerator, op)
        self.check_int(value.numerator, op)
        self.check_int(value.denominator, op)
        return value

    def too_many_digits(self, op: str, digits: int) -> LimitExceededError:
        maximum = self.limits.max_integer_digits
        return LimitExceededError(
            f"{op}: result would have about {digits} digits, more than "
            f"Limits.max_integer_digits={maximum}; use smaller numbers or raise the limit",
            "max_integer_digits",
            maximum,
            digits,
        )

    def graph_for(self, op: str) -> KnowledgeGraph:
        """Return the knowledge graph, or raise if execute got none."""
        if self.graph is None:
            raise ProgramRuntimeError(
                f"{op} queries a knowledge graph, but none was given; pass graph= to execute"
            )
        return self.graph

    def facts_for(self, op: str) -> FactSource:
        """Return the memory when given, else the knowledge graph, for fact queries."""
        if self.memory is not None:
            return self.memory
        if self.graph is not None:
            return self.graph
        raise ProgramRuntimeError(
            f"{op} queries stored facts, but neither memory= nor graph= was given to execute"
        )
