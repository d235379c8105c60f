"""``relational.graph``: maps of places joined by compass directions.

Places sit on the cells of a grid, and the map is a forest. Every new place is
joined to one earlier place of its component through a free neighbouring cell. So
exactly one route joins two places of a component, and directions never contradict
each other. Each connection becomes one sentence ("The kitchen is north of the
garden."), in a random order. A question asks for the directions from one place to
another, the route (the places on the way, both ends included), or whether one can
get there at all; for the last kind, half the maps have two components. The gold
program states the connections with ``with-facts`` and asks ``directions``,
``path`` or ``reachable``, and running it gives the answer. A fact ``(garden, north,
kitchen)`` reads "north of the garden is the kitchen". A sample with four places::

       0  The courtyard is west of the garage.
       1  The market is north of the garage.
       2  The laundry is west of the market.
       Q  how do you go from the market to the courtyard ?
       A  south,west
       P  (with-facts (fact courtyard east garage) (fact garage north market) (fact market west laundry) (directions market courtyard))
"""

from __future__ import annotations

import random
from typing import Any

from neurosym.errors import TaskError
from neurosym.symbolic import INVERSE_DIRECTIONS, execute
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.programs import facts_program
from neurosym.tasks.registry import GeneratorTask, check_range_knobs, register_task

PLACES = ["kitchen", "garden", "office", "hallway", "bedroom", "bathroom", "cellar", "attic",
          "library", "garage", "porch", "studio", "pantry", "chapel", "stable", "tower",
          "courtyard", "gallery", "workshop", "nursery", "balcony", "laundry", "lobby", "vault",
          "barn", "mill", "bakery", "market", "harbour", "station", "museum", "theatre"]
# direction -> grid step (east is +x, north is +y)
STEPS: dict[str, tuple[int, int]] = {"north": (0, 1), "south": (0, -1), "east": (1, 0), "west": (-1, 0)}
TEMPLATES = ["The {b} is {direction} of the {a}.", "The {a} is {opposite} of the {b}.",
             "Going {direction} from the {a} leads to the {b}."]
QUESTION_KINDS = ("directions", "path", "reachable")


def _grow_component(rng: random.Random, places: list[str]) -> tuple[list[Fact], dict[str, tuple[int, int]]]:
    """Place ``places`` on a grid as one tree; return its connections and the coordinates."""
    cells = {places[0]: (0, 0)}
    occupied = {(0, 0)}
    facts: list[Fact] = []
    for place in places[1:]:
        while True:
            anchor = rng.choice(list(cells))
            x, y = cells[anchor]
            free = [name for name, (dx, dy) in STEPS.items() if (x + dx, y + dy) not in occupied]
            if free:
                break
        direction = rng.choice(free)
        dx, dy = STEPS[direction]
        cells[place] = (x + dx, y + dy)
        occupied.add(cells[place])
        facts.append(Fact(anchor, direction, place, 0))
    return facts, cells


@register_task("relational.graph")
class MapTask(GeneratorTask):
    """Directions, routes and reachability on a generated map of places."""

    description = (
        "maps of min_places..max_places places joined by compass directions; directions, "
        "route or reachability questions (OOD splits: 10-14 and 20-24 places)"
    )
    difficulty = {"min_places": 3, "max_places": 6, "path_questions": 0.3, "reachable_questions": 0.2}
    eval_splits = {
        "test": ("test", {}),
        "test_ood": ("test", {"min_places": 10, "max_places": 14}),
        "test_large": ("test", {"min_places": 20, "max_places": 24}),
    }

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        check_range_knobs(knobs, "min_places", "max_places", 2, len(PLACES))
        for key in ("path_questions", "reachable_questions"):
            if not isinstance(knobs[key], (int, float)) or not 0.0 <= knobs[key] <= 1.0:
                raise TaskError(f"{key}={knobs[key]!r} must be a fraction in [0, 1]")
        if knobs["path_questions"] + knobs["reachable_questions"] > 1.0:
            raise TaskError("path_questions + reachable_questions must be at most 1")
        rng = random.Random(seed)
        return [self._one(rng, split, knobs) for _ in range(n)]

    def _one(self, rng: random.Random, split: str, knobs: dict[str, Any]) -> Example:
        count = rng.randint(knobs["min_places"], knobs["max_places"])
        places = rng.sample(PLACES, count)
        roll = rng.random()
        if roll < knobs["reachable_questions"]:
            kind = "reachable"
        elif roll < knobs["reachable_questions"] + knobs["path_questions"]:
            kind = "path"
        else:
            kind = "directions"
        split_map = kind == "reachable" and count >= 4 and rng.random() < 0.5
        components = [places[: count // 2], places[count // 2 :]] if split_map else [places]

        facts: list[Fact] = []
        coordinates: dict[str, tuple[int, int]] = {}
        for component in components:
            component_facts, cells = _grow_component(rng, component)
            facts.extend(component_facts)
            coordinates.update(cells)
        rng.shuffle(facts)
        facts = [fact._replace(time=time) for time, fact in enumerate(facts)]

        if split_map:
            start, goal = rng.choice(components[0]), rng.choice(components[1])
            if rng.random() < 0.5:
                start, goal = goal, start
        else:
            start, goal = rng.sample(components[0], 2)
        question, body = {
            "directions": (f"how do you go from the {start} to the {goal} ?", f"(directions {start} {goal})"),
            "path": (f"which places are on the way from the {start} to the {goal} ?", f"(path {start} {goal})"),
            "reachable": (f"can you get from the {start} to the {goal} ?", f"(reachable {start} {goal})"),
        }[kind]
        program = facts_program(facts, body)
        context = [Sentence(self._sentence(rng, fact), fact.time) for fact in facts]
        return Example(
            context=context,
            question=question,
            answer=execute(program, record_trace=False).answer,
            program=program,
            facts=facts,
            entities=sorted(places),
            meta={
                "task": self.name,
                "split": split,
                "question_kind": kind,
                "places": count,
                "coordinates": {name: list(cell) for name, cell in coordinates.items()},
                "components": len(components),
                **knobs,
            },
        )

    @staticmethod
    def _sentence(rng: random.Random, fact: Fact) -> str:
        return rng.choice(TEMPLATES).format(
            a=fact.subject, b=fact.object, direction=fact.relation, opposite=INVERSE_DIRECTIONS[fact.relation]
        )
