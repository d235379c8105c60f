"""The bindings that a gold program's ``$references`` read from its example.

A program in program mode refers to the question's numbers instead of copying them,
so ``(add $n1 $n2)`` adds two 40-digit numbers as easily as two 1-digit ones. One
rule, the same for every task, turns an example into the executor's bindings:

- a number is a maximal run of ASCII digits ``0-9`` with no letter, digit or
  underscore directly before or after it (``x2`` and ``3rd`` contain none);
- a ``-`` directly before the digits is a sign when it starts the text or follows
  whitespace or ``(``, so ``-5`` and ``(-5`` are negative but ``7-5`` is 7 and 5;
- only integers are read, so ``1.5`` is the two numbers 1 and 5;
- the numbers of the question, in order of appearance, bind ``n1``, ``n2``, ... as
  exact Python ``int`` values. The context is not read.

``input_bindings(Example([], "what is 407 - -83 ?", "490"))`` is
``{"n1": 407, "n2": -83}``.
"""

from __future__ import annotations

import re

from neurosym.tasks.example import Example

_NUMBER_RE = re.compile(r"(?:(?<![^\s(])-)?(?<![A-Za-z0-9_])[0-9]+(?![A-Za-z0-9_])", re.ASCII)


def find_integers(text: str) -> list[int]:
    """Return the integers written in ``text``, in order of appearance (see module docs)."""
    return [int(match.group()) for match in _NUMBER_RE.finditer(text)]


def input_bindings(example: Example) -> dict[str, object]:
    """Return the executor bindings of ``example``: ``n1``, ``n2``, ... for the question's integers."""
    return {f"n{index}": value for index, value in enumerate(find_integers(example.question), start=1)}


def mask_integers(text: str) -> str:
    """Replace each integer that :func:`find_integers` reads with ``$n1``, ``$n2``, … in order.

    In program and tool modes the model reads the masked question, so a 40-digit
    operand is one reference token, exactly as long as a 1-digit one.
    """
    counter = iter(range(1, 1 << 30))
    return _NUMBER_RE.sub(lambda _match: f"$n{next(counter)}", text)
