"""``episodic.location``: bAbI-like stories of people moving and carrying objects.

The built-in default task: it needs no download. People move between places,
pick objects up and put them down, and say things that change nothing
(distractors). The question asks where a person or an object is at the end of the
story, or where a person was at a stated time. With ``explicit_times`` (on when
time questions are asked) each sentence starts with its timestamp. A sample::

       1  At 1 Mary went to the kitchen .
       2  At 3 John picked up the apple .
       3  At 4 John moved to the garden .
       Q  where is the apple ?
       A  garden
       P  (with-facts (fact Mary location kitchen 1) (fact apple held_by John 3)
           (fact John location garden 4) (locate apple))

The facts are what each sentence states: ``(Mary, location, kitchen)``, ``(apple,
held_by, John)`` and ``(apple, dropped_by, John)``. The gold program states them with
their times and asks ``latest``, ``at`` (the question's time is ``$n1``) or
``locate``, which follows an object to the person who holds or dropped it.
"""

from __future__ import annotations

import random
from typing import Any

from neurosym.errors import TaskError
from neurosym.tasks.example import Example, Fact, Sentence
from neurosym.tasks.programs import facts_program
from neurosym.tasks.registry import GeneratorTask, register_task

PEOPLE = ["Mary", "John", "Sandra", "Daniel", "Alice", "Bob", "Carol", "Dave",
          "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Ken", "Laura"]
PLACES = ["kitchen", "garden", "office", "hallway", "bedroom", "bathroom", "cellar", "attic",
          "library", "garage", "porch", "studio"]
OBJECTS = ["apple", "football", "milk", "book", "key", "ball", "lamp", "cup", "box", "hat"]
MOVE_VERBS = ["went to", "moved to", "walked to", "travelled to", "ran to", "headed to"]
TAKE_VERBS = ["picked up", "took", "grabbed"]
DROP_VERBS = ["put down", "dropped", "left"]
DISTRACTORS = ["{p} said hello to {q} .", "{p} smiled at {q} .", "{p} thought about {q} .",
               "{p} waved .", "{p} yawned ."]

QUESTION_KINDS = ("person", "object", "person_at")


@register_task("episodic.location")
class LocationTask(GeneratorTask):
    """Location questions: a person or object now, or a person at a stated time."""

    description = "generated stories of people moving and carrying objects; where is X (now or at time t)"
    reads_by_sentence = True
    difficulty = {
        "story_length": 10,
        "people": 4,
        "places": 6,
        "objects": 3,
        "distractors": 0.1,
        "object_questions": 0.3,
        "time_questions": 0.2,
        "questions_per_story": 1,
    }
    eval_splits = {
        "test": ("test", {}),
        "test_long": ("test", {"story_length": 20}),
    }

    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        """Generate ``n`` examples; consecutive examples share a story ``questions_per_story`` at a time."""
        _validate(knobs)
        rng = random.Random(seed)
        examples: list[Example] = []
        empty_stories = 0
        while len(examples) < n:
            batch = self._story_examples(rng, split, knobs)[: n - len(examples)]
            empty_stories = 0 if batch else empty_stories + 1
            if empty_stories > 1000:
                raise TaskError(
                    f"episodic.location knobs {knobs} give stories with nothing to ask; "
                    "lower distractors or raise story_length"
                )
            examples += batch
        return examples

    def _story_examples(self, rng: random.Random, split: str, knobs: dict[str, Any]) -> list[Example]:
        explicit_times = knobs["time_questions"] > 0
        story = _simulate(rng, knobs, explicit_times)
        examples: list[Example] = []
        asked: set[str] = set()
        for _ in range(4 * knobs["questions_per_story"]):  # a few tries per question
            if len(examples) == knobs["questions_per_story"]:
                break
            question = _ask(rng, story, self._pick_kind(rng, knobs))
            if question is None or question[0] in asked:
                continue
            text, answer, query, kind = question
            asked.add(text)
            examples.append(Example(
                context=story.sentences,
                question=text,
                answer=answer,
                program=facts_program(story.facts, query, with_times=True),
                facts=story.facts,
                entities=sorted(story.people_seen | story.objects_seen),
                meta={"task": self.name, "split": split, "question_kind": kind, **knobs},
            ))
        return examples

    @staticmethod
    def _pick_kind(rng: random.Random, knobs: dict[str, Any]) -> str:
        roll = rng.random()
        if roll < knobs["time_questions"]:
            return "person_at"
        if knobs["objects"] > 0 and roll < knobs["time_questions"] + knobs["object_questions"]:
            return "object"
        return "person"


def _validate(knobs: dict[str, Any]) -> None:
    limits = {"people": (1, len(PEOPLE)), "places": (2, len(PLACES)), "objects": (0, len(OBJECTS)),
              "story_length": (1, 100000), "questions_per_story": (1, 100)}
    for key, (low, high) in limits.items():
        value = knobs[key]
        if not isinstance(value, int) or not low <= value <= high:
            raise TaskError(f"episodic.location knob {key}={value!r} must be an integer in [{low}, {high}]")
    for key in ("distractors", "object_questions", "time_questions"):
        value = knobs[key]
        if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise TaskError(f"episodic.location knob {key}={value!r} must be a fraction in [0, 1]")
    if knobs["object_questions"] + knobs["time_questions"] > 1.0:
        raise TaskError("object_questions + time_questions must be at most 1")


class _Story:
    def __init__(self) -> None:
        self.sentences: list[Sentence] = []
        self.facts: list[Fact] = []
        self.person_at: dict[str, list[tuple[int, str]]] = {}  # person -> [(time, place)]
        self.holder: dict[str, str | None] = {}
        self.object_place: dict[str, str | None] = {}
        self.people_seen: set[str] = set()
        self.objects_seen: set[str] = set()

    def location(self, person: str) -> str | None:
        history = self.person_at.get(person)
        return history[-1][1] if history else None


def _simulate(rng: random.Random, knobs: dict[str, Any], explicit_times: bool) -> _Story:
    people = rng.sample(PEOPLE, knobs["people"])
    places = rng.sample(PLACES, knobs["places"])
    objects = rng.sample(OBJECTS, knobs["objects"])
    story = _Story()
    for obj in objects:
        story.holder[obj] = None
        story.object_place[obj] = None
    time = 0
    for _ in range(knobs["story_length"]):
        time += rng.randint(1, 3) if explicit_times else 1
        person = rng.choice(people)
        here = story.location(person)
        held = [obj for obj in objects if story.holder[obj] == person]
        free = [obj for obj in objects if story.holder[obj] is None]
        roll = rng.random()
        if roll < knobs["distractors"] and len(people) > 1:
            other = rng.choice([p for p in people if p != person])
            text = rng.choice(DISTRACTORS).format(p=person, q=other)
        elif here is not None and roll < 0.75 and (held or free) and rng.random() < 0.4:
            if held and (not free or rng.random() < 0.5):
                obj = rng.choice(held)
                text = f"{person} {rng.choice(DROP_VERBS)} the {obj} ."
                story.holder[obj] = None
                story.object_place[obj] = here
                # The sentence names who dropped it, not where: it stays at their place.
                story.facts.append(Fact(obj, "dropped_by", person, time))
            else:
                obj = rng.choice(free)
                text = f"{person} {rng.choice(TAKE_VERBS)} the {obj} ."
                story.holder[obj] = person
                story.object_place[obj] = None
                story.facts.append(Fact(obj, "held_by", person, time))
            story.objects_seen.add(obj)
        else:
            place = rng.choice([p for p in places if p != here])
            text = f"{person} {rng.choice(MOVE_VERBS)} the {place} ."
            story.person_at.setdefault(person, []).append((time, place))
            story.facts.append(Fact(person, "location", place, time))
        story.people_seen.add(person)
        if explicit_times:
            text = f"At {time} {text}"
        story.sentences.append(Sentence(text, time))
    return story


def _ask(rng: random.Random, story: _Story, kind: str) -> tuple[str, str, str, str] | None:
    """Return (question, answer, query program, kind), or None if the story cannot support it.

    The query refers to a time in the question as ``$n1``, the question's first number.
    """
    if kind == "person":
        known = sorted(p for p in story.person_at)
        if not known:
            return None
        person = rng.choice(known)
        return f"where is {person} ?", story.location(person), f"(latest location {person})", kind
    if kind == "object":
        candidates = []
        for obj in sorted(story.objects_seen):
            holder = story.holder[obj]
            place = story.location(holder) if holder else story.object_place[obj]
            if place is not None:
                candidates.append((obj, place))
        if not candidates:
            return None
        obj, place = rng.choice(candidates)
        return f"where is the {obj} ?", place, f"(locate {obj})", kind
    known = sorted(p for p in story.person_at)
    if not known:
        return None
    person = rng.choice(known)
    history = story.person_at[person]
    first_time = history[0][0]
    last_time = story.sentences[-1].time
    time = rng.randint(first_time, last_time)
    place = [where for when, where in history if when <= time][-1]
    return f"where was {person} at {time} ?", place, f"(at location {person} $n1)", kind
