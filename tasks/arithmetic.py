"""Arithmetic tasks whose operands' digit counts are difficulty knobs.

Training on few digits and testing on more makes the out-of-distribution split
explicit. A sample of ``arithmetic.add`` with ``max_digits=3``::

    Q  what is 407 + 83 ?
    A  490
    P  (add 407 83)
"""

from __future__ import annotations

import random
from typing import Any

from neurosym.tasks.example import Example
from neurosym.tasks.registry import GeneratorTask, register_task

from neurosym.errors import TaskError


def random_operand(rng: random.Random, min_digits: int, max_digits: int) -> int:
    """Draw a digit count uniformly, then a number with exactly that many digits."""
    digits = rng.randint(min_digits, max_digits)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def _check_digits(min_digits: Any, max_digits: Any) -> None:
    if not (isinstance(min_digits, int) and isinstance(max_digits, int)):
        raise TaskError(f"digit knobs must be integers, got min_digits={min_digits!r}, max_digits={max_digits!r}")
    if not 1 <= min_digits <= max_digits:
        raise TaskError(f"need 1 <= min_digits <= max_digits, got {min_digits} and {max_digits}")


@register_task("arithmetic.add")
class AddTask(GeneratorTask):
    """Addition of two non-negative integers."""

    description = "a + b for integers with min_digits..max_digits digits (OOD split: 6-8 digits)"
    difficulty = {"min_digits": 1, "max_digits": 3}
    eval_splits = {
        "test": ("test", {}),
        "test_ood": ("test", {"min_digits": 4, "max_digits": 5}),
    }

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
                    question=f"what is {a} + {b} ?",
                    answer=str(a + b),
                    program=f"(add {a} {b})",
                    meta={"task": self.name, "split": split, **knobs},
                )
            )
        return examples
