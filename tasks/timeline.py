"""``episodic.timeline``: timestamped stories whose questions need the order of events.

People move between places and hand a few objects to one another; every sentence
starts with its time. The questions are about the past, not the end of the story:

- ``before``: where was a person before they went to a place (the place they left
  on their latest move there);
- ``holder``: who had an object at a stated time;
- ``at``: where a person was at a stated time.

A sample::

       2  At 2 Mary went to the kitchen .
       3  At 3 Mary took the ball .
       5  At 5 Mary went to the garden .
       7  At 7 Mary gave the ball to John .
       Q  who had the ball at 6 ?
       A  Mary

``story_length`` goes to 100,000 sentences, far beyond a model's window; the
``test_long`` and ``test_2000`` splits hold long stories.
"""

from __future__ import annotations

import random
from typing import Any

from neurosym.errors import TaskError
from neurosym.tasks.episodic import MOVE_VERBS, OBJECTS, PEOPLE, PLACES, TAKE_VERBS
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.registry import GeneratorTask, register_task

KINDS = ("before", "holder", "at")
GIVE_VERBS = ["gave", "handed", "passed"]
IDLE = ["{p} waited .", "{p} looked around .", "{p} sat down ."]


@register_task("episodic.timeline")
class TimelineTask(GeneratorTask):
    """Timestamped-story task with three question kinds: where X was before Y, who had an object at time t, and where X was at time t."""

    description = "timestamped stories; where was X before Y, who had the ball at time t, where was X at t"
    difficulty = {
        "story_length": 20,
        "people": 4,
        "places": 6,
        "objects": 1,
        "idle": 0.1,
        "before_questions": 0.4,
        "holder_questions": 0.3,
        "max_gap": 2,
        "questions_per_story": 1,
    }
    eval_splits = {
        "test": ("test", {}),
        "test_long": ("test", {"story_length": 200}),
        "test_2000": ("test", {"story_length": 2000}),
    }
    default_sizes = {"train": 10000, "valid": 500, "test": 300}

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        _validate(knobs)
        rng = random.Random(seed)
        examples: list[Example] = []
        while len(examples) < n:
            story = simulate(rng, knobs)
            asked: set[str] = set()
            for _ in range(4 * knobs["questions_per_story"]):
                if len(examples) == n or len(asked) == knobs["questions_per_story"]:
                    break
                question = ask(rng, story, _pick_kind(rng, knobs))
                if question is None or question[0] in asked:
                    continue
                text, answer, program, kind = question
                asked.add(text)
                examples.append(Example(
                    context=story.sentences, question=text, answer=answer, program=program, facts=story.facts,
                    entities=sorted(story.people | story.objects),
                    meta={"task": self.name, "split": split, "question_kind": kind, **knobs},
                ))
        return examples


def _pick_kind(rng: random.Random, knobs: dict[str, Any]) -> str:
    roll = rng.random()
    if roll < knobs["before_questions"]:
        return "before"
    if roll < knobs["before_questions"] + knobs["holder_questions"]:
        return "holder"
    return "at"


def _validate(knobs: dict[str, Any]) -> None:
    limits = {"story_length": (2, 100_000), "people": (2, len(PEOPLE)), "places": (2, len(PLACES)),
              "objects": (1, len(OBJECTS)), "max_gap": (1, 100), "questions_per_story": (1, 100)}
    for key, (low, high) in limits.items():
        value = knobs[key]
        if not isinstance(value, int) or not low <= value <= high:
            raise TaskError(f"episodic.timeline knob {key}={value!r} must be an integer in [{low}, {high}]")
    for key in ("idle", "before_questions", "holder_questions"):
        value = knobs[key]
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise TaskError(f"episodic.timeline knob {key}={value!r} must be a fraction in [0, 1]")
    if knobs["before_questions"] + knobs["holder_questions"] > 1.0:
        raise TaskError("episodic.timeline: before_questions + holder_questions must be at most 1")


class Story:
    """Sentences, facts and the state history of one generated story."""

    def __init__(self) -> None:
        self.sentences: list[Sentence] = []
        self.facts: list[Fact] = []
        self.people: set[str] = set()
        self.objects: set[str] = set()
        self.moves: dict[str, list[tuple[int, str]]] = {}  # person -> [(time, place)]
        self.holders: dict[str, list[tuple[int, str]]] = {}  # object -> [(time, holder)]

    def place_of(self, person: str) -> str | None:
        history = self.moves.get(person)
        return history[-1][1] if history else None


def simulate(rng: random.Random, knobs: dict[str, Any]) -> Story:
    """Run one story: each step a person moves, takes or gives an object, or idles."""
    people = rng.sample(PEOPLE, knobs["people"])
    places = rng.sample(PLACES, knobs["places"])
    objects = rng.sample(OBJECTS, knobs["objects"])
    story = Story()
    holder: dict[str, str | None] = dict.fromkeys(objects)
    time = 0
    for _ in range(knobs["story_length"]):
        time += rng.randint(1, knobs["max_gap"])
        person = rng.choice(people)
        here = story.place_of(person)
        held = [o for o in objects if holder[o] == person]
        free = [o for o in objects if holder[o] is None]
        roll = rng.random()
        if roll < knobs["idle"]:
            text = rng.choice(IDLE).format(p=person)
        elif here is not None and roll < 0.6 and (held or free) and rng.random() < 0.5:
            if held:
                obj = rng.choice(held)
                other = rng.choice([p for p in people if p != person])
                text = f"{person} {rng.choice(GIVE_VERBS)} the {obj} to {other} ."
                holder[obj] = other
                story.people.add(other)
            else:
                obj = rng.choice(free)
                text = f"{person} {rng.choice(TAKE_VERBS)} the {obj} ."
                holder[obj] = person
            story.objects.add(obj)
            story.holders.setdefault(obj, []).append((time, holder[obj]))
            story.facts.append(Fact(obj, "held_by", holder[obj], time))
        else:
            place = rng.choice([p for p in places if p != here])
            text = f"{person} {rng.choice(MOVE_VERBS)} the {place} ."
            story.moves.setdefault(person, []).append((time, place))
            story.facts.append(Fact(person, "location", place, time))
        story.people.add(person)
        story.sentences.append(Sentence(f"At {time} {text}", time))
    return story


def ask(rng: random.Random, story: Story, kind: str) -> tuple[str, str, str | None, str] | None:
    """Return (question, answer, program, kind), or None if the story cannot support the kind."""
    end = story.sentences[-1].time
    if kind == "before":
        # (person, place) pairs where the person came to the place from another place
        pairs = sorted({(person, history[i][1]) for person, history in story.moves.items()
                        for i in range(1, len(history))})
        if not pairs:
            return None
        person, place = rng.choice(pairs)
        history = story.moves[person]
        last = max(i for i in range(1, len(history)) if history[i][1] == place)
        return f"where was {person} before the {place} ?", history[last - 1][1], None, kind
    if kind == "holder":
        if not story.holders:
            return None
        obj = rng.choice(sorted(story.holders))
        first = story.holders[obj][0][0]
        time = rng.randint(first, end)
        answer = [who for when, who in story.holders[obj] if when <= time][-1]
        return f"who had the {obj} at {time} ?", answer, f"(at held_by {obj} {time})", kind
    if not story.moves:
        return None
    person = rng.choice(sorted(story.moves))
    time = rng.randint(story.moves[person][0][0], end)
    place = [where for when, where in story.moves[person] if when <= time][-1]
    return f"where was {person} at {time} ?", place, f"(at location {person} {time})", kind
