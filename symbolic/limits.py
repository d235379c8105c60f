"""Resource limits for parsing and running programs.

A program comes from a model, so every cost it can cause is bounded before it is
paid: text size and node count at parse time, nesting depth before evaluation, and
integer size, exponents, symbolic expansion and solver time before each operation.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from neurosym.errors import ConfigError

# The evaluator and the sympy/z3 converters recurse once per nesting level, so the
# depth limit must stay well below Python's default recursion limit of 1000.
MAX_ALLOWED_DEPTH = 300


@dataclass(frozen=True)
class Limits:
    """Bounds on one program's size and on the work it may cause.

    Attributes:
        max_program_chars: longest accepted program text, in characters.
        max_nodes: most AST nodes (atoms and calls) in one program.
        max_depth: deepest nesting of calls; an atom alone has depth 0, ``(add 1 2)``
            depth 1. At most 300, because evaluation recurses once per level.
        max_integer_digits: most decimal digits of any integer, literal or
            intermediate, and of a rational's numerator and denominator. At most
            Python's ``sys.get_int_max_str_digits()`` (4300 by default), so every
            result can be printed.
        max_exponent: largest absolute exponent that ``pow`` accepts on numbers.
        max_symbolic_degree: largest exponent that ``pow`` accepts on a symbolic
            (non-numeric) base inside algebra, and the largest polynomial degree that
            ``solve`` accepts.
        max_expanded_terms: most terms an algebraic expression may have when fully
            expanded, estimated before ``expand``, ``simplify``, ``factor`` or
            ``solve`` runs.
        solver_timeout_ms: time limit for each z3 check, in milliseconds.
        max_facts: maximum number of facts that one ``with-facts`` call may state.
    """

    max_program_chars: int = 10_000
    max_nodes: int = 2_000
    max_depth: int = 64
    max_integer_digits: int = 1_000
    max_exponent: int = 10_000
    max_symbolic_degree: int = 16
    max_expanded_terms: int = 2_000
    solver_timeout_ms: int = 2_000
    max_facts: int = 500

    def __post_init__(self) -> None:
        for name in (
            "max_program_chars",
            "max_nodes",
            "max_depth",
            "max_integer_digits",
            "max_exponent",
            "max_symbolic_degree",
            "max_expanded_terms",
            "solver_timeout_ms",
            "max_facts",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ConfigError(f"Limits.{name} must be a positive int, got {value!r}")
        if self.max_depth > MAX_ALLOWED_DEPTH:
            raise ConfigError(
                f"Limits.max_depth must be at most {MAX_ALLOWED_DEPTH} because evaluation "
                f"recurses once per nesting level, got {self.max_depth}"
            )
        str_digits = sys.get_int_max_str_digits()
        if str_digits and self.max_integer_digits > str_digits:
            raise ConfigError(
                f"Limits.max_integer_digits={self.max_integer_digits} exceeds Python's "
                f"int/str conversion limit of {str_digits} digits; lower it or raise "
                "the limit with sys.set_int_max_str_digits"
            )

    @property
    def integer_bound(self) -> int:
        """Smallest integer magnitude that breaks ``max_integer_digits``."""
        return _integer_bound(self.max_integer_digits)


_BOUNDS: dict[int, int] = {}


def _integer_bound(digits: int) -> int:
    bound = _BOUNDS.get(digits)
    if bound is None:
        bound = _BOUNDS[digits] = 10**digits
    return bound
