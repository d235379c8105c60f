"""``algebra.linear``: solve a linear equation in one variable.

Coefficients have ``min_digits..max_digits`` digits, and the gold program mirrors
the equation with references to its numbers (see :mod:`neurosym.tasks.bindings`).
The answer comes from running that program through the executor (sympy's
``solve`` underneath), never from parsing the question text. A fraction
``integer_solutions`` of the items have an integer solution. The rest usually have
a rational one, written ``p/q``. A sample::

    Q  solve 4 * x + 3 = 2 * x + 8 for x
    A  5/2
    P  (solve (= (+ (* $n1 x) $n2) (+ (* $n3 x) $n4)) x)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from neurosym.errors import TaskError
from neurosym.symbolic import execute
from neurosym.tasks.arithmetic import random_operand
from neurosym.tasks.bindings import input_bindings
from neurosym.tasks.example import Example
from neurosym.tasks.registry import GeneratorTask, register_task

VARIABLES = ("x", "y", "z")
MAX_COEFFICIENT_DIGITS = 100

# Each form renders (question text, program) from its numbers and the variable. The
# numbers appear in the text in the order of the list, so $n1 is the first of them.
Form = Callable[[list[int], str], tuple[str, str]]


def _form_affine(numbers: list[int], v: str) -> tuple[str, str]:
    a, b, c = numbers
    return f"{a} * {v} + {b} = {c}", f"(solve (= (+ (* $n1 {v}) $n2) $n3) {v})"


def _form_difference(numbers: list[int], v: str) -> tuple[str, str]:
    a, b, c = numbers
    return f"{a} * {v} - {b} = {c}", f"(solve (= (- (* $n1 {v}) $n2) $n3) {v})"


def _form_reversed(numbers: list[int], v: str) -> tuple[str, str]:
    b, a, c = numbers
    return f"{b} - {a} * {v} = {c}", f"(solve (= (- $n1 (* $n2 {v})) $n3) {v})"


def _form_scaled_sum(numbers: list[int], v: str) -> tuple[str, str]:
    a, b, c = numbers
    return f"{a} * ({v} + {b}) = {c}", f"(solve (= (* $n1 (+ {v} $n2)) $n3) {v})"


def _form_both_sides(numbers: list[int], v: str) -> tuple[str, str]:
    a, b, c, d = numbers
    return (
        f"{a} * {v} + {b} = {c} * {v} + {d}",
        f"(solve (= (+ (* $n1 {v}) $n2) (+ (* $n3 {v}) $n4)) {v})",
    )


def _solve_for_right_side(form: Form, numbers: list[int], solution: int) -> int:
    """Return the right-hand constant that makes ``solution`` solve a three-number form."""
    a, b = numbers[0], numbers[1]
    if form is _form_affine:
        return a * solution + b
    if form is _form_difference:
        return a * solution - b
    if form is _form_reversed:
        return a - b * solution
    return a * (solution + b)


FORMS: tuple[Form, ...] = (_form_affine, _form_difference, _form_reversed, _form_scaled_sum, _form_both_sides)


@register_task("algebra.linear")
class LinearEquationTask(GeneratorTask):
    """One linear equation in x, y or z with integer or rational solution."""

    description = (
        "solve a linear equation such as 2 * x + 3 = 7 for x; coefficients of "
        "min_digits..max_digits digits (OOD split: 3-4 digits)"
    )
    difficulty = {"min_digits": 1, "max_digits": 2, "integer_solutions": 0.5}
    eval_splits = {
        "test": ("test", {}),
        "test_ood": ("test", {"min_digits": 3, "max_digits": 4}),
    }

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        min_digits, max_digits = knobs["min_digits"], knobs["max_digits"]
        fraction = knobs["integer_solutions"]
        if not (isinstance(min_digits, int) and isinstance(max_digits, int)) or not (
            1 <= min_digits <= max_digits <= MAX_COEFFICIENT_DIGITS
        ):
            raise TaskError(
                f"need integers 1 <= min_digits <= max_digits <= {MAX_COEFFICIENT_DIGITS}, "
                f"got min_digits={min_digits!r}, max_digits={max_digits!r}"
            )
        if not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
            raise TaskError(f"integer_solutions={fraction!r} must be a fraction in [0, 1]")
        rng = random.Random(seed)
        return [self._one(rng, split, knobs) for _ in range(n)]

    def _one(self, rng: random.Random, split: str, knobs: dict[str, Any]) -> Example:
        min_digits, max_digits = knobs["min_digits"], knobs["max_digits"]

        def coefficient() -> int:
            # Non-zero, so every form has exactly one solution.
            return max(1, random_operand(rng, min_digits, max_digits))

        variable = rng.choice(VARIABLES)
        form = rng.choice(FORMS)
        integer_solution = rng.random() < knobs["integer_solutions"]
        if form is _form_both_sides:
            a, c = coefficient(), coefficient()
            while c == a:
                c = coefficient()
            numbers = [a, coefficient(), c, coefficient()]
            if integer_solution:
                # a*x + b = c*x + d has the integer solution x when d = (a - c)*x + b.
                solution = rng.randint(-(10**max_digits), 10**max_digits)
                numbers[3] = (a - c) * solution + numbers[1]
        else:
            numbers = [coefficient(), coefficient(), coefficient()]
            if integer_solution:
                solution = rng.randint(-(10**max_digits), 10**max_digits)
                numbers[2] = _solve_for_right_side(form, numbers, solution)
        equation, program = form(numbers, variable)
        example = Example(
            context=[],
            question=f"solve {equation} for {variable}",
            answer="",
            program=program,
            meta={"task": self.name, "split": split, "form": form.__name__.removeprefix("_form_"), **knobs},
        )
        example.answer = execute(program, bindings=input_bindings(example)).answer
        return example
