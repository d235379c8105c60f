"""``constraints.ordering``: who is tallest, or the full order, from pairwise comparisons.

People get a hidden order by one attribute (height, age, weight, speed or wealth).
The story states comparisons of neighbours in that order, in a random order and
wording ("Alice is taller than Bob.", "Bob is shorter than Alice."), plus
``extra_comparisons`` comparisons of people further apart, so every order and
extreme follows from the story. The question is who is largest or smallest, or
the order of everyone from largest to smallest. The gold program writes each
comparison as a z3 constraint (``(> Alice Bob)``, ``(< Bob Alice)``) and asks
``argmax``, ``argmin`` or ``order``, and running it gives the answer. A sample with
three people::

       0  Tom is older than Quinn.
       1  Tom is younger than Amy.
       2  Amy is older than Quinn.
       Q  who is the youngest ?
       A  Quinn
       P  (argmin (> Tom Quinn) (< Tom Amy) (> Amy Quinn))
"""

from __future__ import annotations

import random
from typing import Any

from neurosym.errors import TaskError
from neurosym.symbolic import execute
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.kinship import FEMALE_NAMES, MALE_NAMES
from neurosym.tasks.registry import GeneratorTask, check_range_knobs, register_task

# comparative of "more", comparative of "less", superlative of each
ATTRIBUTES = [
    ("taller", "shorter", "tallest", "shortest"),
    ("older", "younger", "oldest", "youngest"),
    ("heavier", "lighter", "heaviest", "lightest"),
    ("faster", "slower", "fastest", "slowest"),
    ("richer", "poorer", "richest", "poorest"),
]
NAMES = sorted(MALE_NAMES + FEMALE_NAMES)
QUESTION_KINDS = ("largest", "smallest", "order")


@register_task("constraints.ordering")
class OrderingTask(GeneratorTask):
    """The extreme or the full order of people from pairwise comparisons."""

    description = (
        "who is tallest (oldest, ...) or the full order of min_people..max_people people "
        "from pairwise comparisons (OOD splits: 7-10 and 15-20 people)"
    )
    difficulty = {"min_people": 3, "max_people": 5, "extra_comparisons": 1, "order_questions": 0.3}
    eval_splits = {
        "test": ("test", {}),
        "test_ood": ("test", {"min_people": 7, "max_people": 10}),
        "test_large": ("test", {"min_people": 15, "max_people": 20}),
    }

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        check_range_knobs(knobs, "min_people", "max_people", 2, len(NAMES))
        extra = knobs["extra_comparisons"]
        if not isinstance(extra, int) or extra < 0:
            raise TaskError(f"extra_comparisons={extra!r} must be a non-negative integer")
        fraction = knobs["order_questions"]
        if not isinstance(fraction, (int, float)) or not 0.0 <= fraction <= 1.0:
            raise TaskError(f"order_questions={fraction!r} must be a fraction in [0, 1]")
        rng = random.Random(seed)
        return [self._one(rng, split, knobs) for _ in range(n)]

    def _one(self, rng: random.Random, split: str, knobs: dict[str, Any]) -> Example:
        more, less, most, least = rng.choice(ATTRIBUTES)
        count = rng.randint(knobs["min_people"], knobs["max_people"])
        ranking = rng.sample(NAMES, count)  # largest first

        pairs = [(ranking[i], ranking[i + 1]) for i in range(count - 1)]
        distant = [(ranking[i], ranking[j]) for i in range(count) for j in range(i + 2, count)]
        pairs += rng.sample(distant, min(knobs["extra_comparisons"], len(distant)))
        rng.shuffle(pairs)

        facts: list[Fact] = []
        constraints: list[str] = []
        for time, (larger, smaller) in enumerate(pairs):
            if rng.random() < 0.5:
                facts.append(Fact(larger, more, smaller, time))
                constraints.append(f"(> {larger} {smaller})")
            else:
                facts.append(Fact(smaller, less, larger, time))
                constraints.append(f"(< {smaller} {larger})")
        context = [Sentence(f"{f.subject} is {f.relation} than {f.object}.", f.time) for f in facts]

        if rng.random() < knobs["order_questions"]:
            kind, question, operation = "order", f"what is the order from {most} to {least} ?", "order"
        elif rng.random() < 0.5:
            kind, question, operation = "largest", f"who is the {most} ?", "argmax"
        else:
            kind, question, operation = "smallest", f"who is the {least} ?", "argmin"
        program = f"({operation} {' '.join(constraints)})"
        return Example(
            context=context,
            question=question,
            answer=execute(program, record_trace=False).answer,
            program=program,
            facts=facts,
            entities=sorted(ranking),
            meta={"task": self.name, "split": split, "question_kind": kind, "people": count,
                  "ranking": ranking, "attribute": more, **knobs},
        )
