"""Arithmetic tasks whose operands' digit counts are difficulty knobs.

Training on few digits and testing on more makes the out-of-distribution split
explicit. Gold programs refer to the question's numbers as ``$n1``, ``$n2``, ...
(see :mod:`neurosym.tasks.bindings`), so a program is as short for 40-digit operands
as for 1-digit ones. A sample of ``arithmetic.add`` with ``max_digits=3``::

    Q  what is 407 + 83 ?
    A  490
    P  (add $n1 $n2)

and of ``arithmetic.expr``, whose program mirrors the expression tree::

    Q  what is 12 - (3 + 4) * 5 ?
    A  -23
    P  (sub $n1 (mul (add $n2 $n3) $n4))
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, ClassVar

from neurosym.errors import TaskError
from neurosym.tasks.example import Example
from neurosym.tasks.registry import GeneratorTask, register_task

# The executor rejects integers of more than Limits.max_integer_digits (1,000) digits
# by default, and a product of k operands of d digits has up to k * d digits.
MAX_RESULT_DIGITS = 1000

# Digit-count splits shared by the binary tasks: train on 1-3 digits, test on more.
DIGIT_EVAL_SPLITS: dict[str, tuple[str, dict[str, Any]]] = {
    "test": ("test", {}),
    "test_ood": ("test", {"min_digits": 4, "max_digits": 5}),
    "test_10": ("test", {"min_digits": 10, "max_digits": 10}),
    "test_20": ("test", {"min_digits": 20, "max_digits": 20}),
    "test_40": ("test", {"min_digits": 40, "max_digits": 40}),
}


def random_operand(rng: random.Random, min_digits: int, max_digits: int) -> int:
    """Draw a digit count uniformly, then a number with exactly that many digits."""
    digits = rng.randint(min_digits, max_digits)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def _check_digits(min_digits: Any, max_digits: Any, operands: int = 2) -> None:
    if not (isinstance(min_digits, int) and isinstance(max_digits, int)):
        raise TaskError(f"digit knobs must be integers, got min_digits={min_digits!r}, max_digits={max_digits!r}")
    if not 1 <= min_digits <= max_digits:
        raise TaskError(f"need 1 <= min_digits <= max_digits, got {min_digits} and {max_digits}")
    if operands * max_digits > MAX_RESULT_DIGITS:
        raise TaskError(
            f"max_digits={max_digits} with {operands} operands can give results of more than "
            f"{MAX_RESULT_DIGITS} digits, which the executor rejects; lower max_digits"
        )


class _BinaryTask(GeneratorTask):
    """``a <symbol> b`` for two non-negative integers; subclasses set the operation."""

    symbol: ClassVar[str]
    operation: ClassVar[str]
    difficulty = {"min_digits": 1, "max_digits": 3}
    eval_splits = DIGIT_EVAL_SPLITS

    @staticmethod
    def apply(a: int, b: int) -> int:
        raise NotImplementedError

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        min_digits, max_digits = knobs["min_digits"], knobs["max_digits"]
        _check_digits(min_digits, max_digits)
        rng = random.Random(seed)
        examples = []
        for _ in range(n):
            a = random_operand(rng, min_digits, max_digits)
            b = random_operand(rng, min_digits, max_digits)
            examples.append(
                Example(
                    context=[],
                    question=f"what is {a} {self.symbol} {b} ?",
                    answer=str(self.apply(a, b)),
                    program=f"({self.operation} $n1 $n2)",
                    meta={"task": self.name, "split": split, **knobs},
                )
            )
        return examples


@register_task("arithmetic.add")
class AddTask(_BinaryTask):
    """Addition of two non-negative integers."""

    description = "a + b for integers of min_digits..max_digits digits (OOD splits: 4-5, 10, 20, 40 digits)"
    symbol = "+"
    operation = "add"

    @staticmethod
    def apply(a: int, b: int) -> int:
        return a + b


@register_task("arithmetic.sub")
class SubTask(_BinaryTask):
    """Subtraction of two non-negative integers; the result may be negative."""

    description = "a - b for integers of min_digits..max_digits digits (OOD splits: 4-5, 10, 20, 40 digits)"
    symbol = "-"
    operation = "sub"

    @staticmethod
    def apply(a: int, b: int) -> int:
        return a - b


@register_task("arithmetic.mul")
class MulTask(_BinaryTask):
    """Multiplication of two non-negative integers."""

    description = "a * b for integers of min_digits..max_digits digits (OOD splits: 4-5, 10, 20, 40 digits)"
    symbol = "*"
    operation = "mul"

    @staticmethod
    def apply(a: int, b: int) -> int:
        return a * b


# operator -> (program operation, precedence); all three are left-associative.
OPERATORS: dict[str, tuple[str, int]] = {"+": ("add", 1), "-": ("sub", 1), "*": ("mul", 2)}


@dataclass
class _Expression:
    """A node of an expression tree: a leaf has a ``value``, an inner node an ``operator``."""

    value: int | None = None
    operator: str | None = None
    left: _Expression | None = None
    right: _Expression | None = None

    def precedence(self) -> int:
        return 3 if self.operator is None else OPERATORS[self.operator][1]

    def evaluate(self) -> int:
        if self.operator is None:
            return self.value
        left, right = self.left.evaluate(), self.right.evaluate()
        if self.operator == "+":
            return left + right
        if self.operator == "-":
            return left - right
        return left * right

    def render(self) -> str:
        """Write infix text with the parentheses that make standard parsing give this tree."""
        if self.operator is None:
            return str(self.value)
        left = self.left.render()
        right = self.right.render()
        if self.left.precedence() < self.precedence():
            left = f"({left})"
        # A right operand of equal precedence needs parentheses too, because the
        # operators group to the left: "a - (b + c)" is not "a - b + c".
        if self.right.precedence() <= self.precedence():
            right = f"({right})"
        return f"{left} {self.operator} {right}"

    def program(self, references: list[str]) -> str:
        """Write the tree as a program; leaves take the next reference, left to right."""
        if self.operator is None:
            return references.pop(0)
        left = self.left.program(references)
        right = self.right.program(references)
        return f"({OPERATORS[self.operator][0]} {left} {right})"


def _random_tree(rng: random.Random, operands: int, min_digits: int, max_digits: int) -> _Expression:
    if operands == 1:
        return _Expression(value=random_operand(rng, min_digits, max_digits))
    left_size = rng.randint(1, operands - 1)
    return _Expression(
        operator=rng.choice(list(OPERATORS)),
        left=_random_tree(rng, left_size, min_digits, max_digits),
        right=_random_tree(rng, operands - left_size, min_digits, max_digits),
    )


@register_task("arithmetic.expr")
class ExpressionTask(GeneratorTask):
    """Expressions mixing +, - and * with parentheses over non-negative integers."""

    description = (
        "expressions of min_operands..max_operands integers with + - * and parentheses "
        "(OOD splits: 6-8 operands, 4-5 digits)"
    )
    difficulty = {"min_operands": 2, "max_operands": 4, "min_digits": 1, "max_digits": 2}
    eval_splits = {
        "test": ("test", {}),
        "test_long": ("test", {"min_operands": 6, "max_operands": 8}),
        "test_ood": ("test", {"min_digits": 4, "max_digits": 5}),
        "test_10": ("test", {"min_digits": 10, "max_digits": 10}),
    }

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        min_operands, max_operands = knobs["min_operands"], knobs["max_operands"]
        if not (isinstance(min_operands, int) and isinstance(max_operands, int)) or not (
            2 <= min_operands <= max_operands <= 64
        ):
            raise TaskError(
                f"need integers 2 <= min_operands <= max_operands <= 64, got "
                f"min_operands={min_operands!r}, max_operands={max_operands!r}"
            )
        _check_digits(knobs["min_digits"], knobs["max_digits"], operands=max_operands)
        rng = random.Random(seed)
        examples = []
        for _ in range(n):
            operands = rng.randint(min_operands, max_operands)
            tree = _random_tree(rng, operands, knobs["min_digits"], knobs["max_digits"])
            references = [f"$n{index}" for index in range(1, operands + 1)]
            examples.append(
                Example(
                    context=[],
                    question=f"what is {tree.render()} ?",
                    answer=str(tree.evaluate()),
                    program=tree.program(references),
                    meta={"task": self.name, "split": split, "operands": operands, **knobs},
                )
            )
        return examples
