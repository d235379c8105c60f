"""Story queries: who carries what, where things were, and who gave what to whom.

These operations answer the questions of bAbI-style stories from timestamped facts
(``Fact(subject, relation, object, time)``) in any FactSource. They use the place
relations of :func:`neurosym.symbolic.queries.locate` (``location``, ``held_by``,
``given_to``, ``dropped_by``) and a few more:

- ``(fact X not_location P)``: X is not in P. ``(fact X maybe_location P)``, stated
  for each place at one time, means that X is in one of them;
- ``(fact O given_by A)`` with ``(fact O given_to B)`` at the same time: A gave O to B;
- ``(fact X yesterday P)``, ``morning``, ``afternoon``, ``evening``: where X went in
  that part of the day, in that order, whatever order the story states them in;
- grid positions ``(fact A left B)``, ``right``, ``above``, ``below``: A is one step
  to the left of (right of, above, below) B, on B's row (column).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from neurosym.symbolic.arithmetic import require_str, wrong_type
from neurosym.symbolic.context import RunContext
from neurosym.symbolic.errors import ProgramRuntimeError
from neurosym.symbolic.facts import Fact, FactSource
from neurosym.symbolic.graph import INVERSE_DIRECTIONS
from neurosym.symbolic.queries import GIVEN_TO, HELD_BY, LOCATION, PLACE_RELATIONS, locate_at

NOT_LOCATION = "not_location"
MAYBE_LOCATION = "maybe_location"
PERIODS = ("yesterday", "morning", "afternoon", "evening")
NUMBER_WORDS = ("none", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# One grid step per positional relation: (dx, dy) from the subject to the object.
GRID_STEPS: dict[str, tuple[int, int]] = {"left": (1, 0), "right": (-1, 0), "above": (0, -1), "below": (0, 1)}
HOLDERS = (HELD_BY, GIVEN_TO)


def _own(facts: FactSource, subject: str, relations: tuple[str, ...]) -> list[Fact]:
    """Return the facts whose subject is ``subject`` and whose relation is one of ``relations``."""
    return [fact for fact in facts.facts_about(subject) if fact.subject == subject and fact.relation in relations]


def subject_of(run: RunContext, args: list) -> str | int:
    """Return the subject of the newest REL fact whose object is O: ``(subject REL O)``."""
    relation = require_str("subject", args, 0)
    target = require_str("subject", args, 1)
    matches = [fact for fact in run.facts_for("subject").facts_about(target)
               if fact.relation == relation and fact.object == target]
    if not matches:
        raise ProgramRuntimeError(f"subject: no {relation!r} fact has the object {target!r}")
    return max(matches, key=lambda fact: fact.time).subject


def common(run: RunContext, args: list) -> str:
    """Return the S of the newest time with facts (S R1 V1) and (S R2 V2): ``(common R1 V1 R2 V2)``."""
    first, value, second, other = (require_str("common", args, index) for index in range(4))
    facts = run.facts_for("common")
    best: Fact | None = None
    for fact in facts.facts_about(value):
        if fact.relation != first or fact.object != value:
            continue
        paired = any(f.relation == second and f.object == other and f.time == fact.time
                     for f in _own(facts, fact.subject, (second,)))
        if paired and (best is None or fact.time >= best.time):
            best = fact
    if best is None:
        raise ProgramRuntimeError(f"common: nothing has {first} {value!r} and {second} {other!r} at one time")
    return best.subject


def same_time(run: RunContext, args: list) -> str | int:
    """Return S's R2 at the newest time when S's R1 was V1: ``(same-time S R1 V1 R2)``."""
    subject, first, value, second = (require_str("same-time", args, index) for index in range(4))
    facts = run.facts_for("same-time")
    times = [fact.time for fact in _own(facts, subject, (first,)) if fact.object == value]
    for time in sorted(times, reverse=True):
        paired = [fact for fact in _own(facts, subject, (second,)) if fact.time == time]
        if paired:
            return paired[-1].object
    raise ProgramRuntimeError(f"same-time: {subject!r} has no {second} fact at a time its {first} is {value!r}")


def _timeline(facts: FactSource, subject: str) -> list[str | int]:
    """Return the places ``subject`` was in, oldest first, without repeats in a row."""
    periods = sorted(_own(facts, subject, PERIODS), key=lambda fact: (PERIODS.index(fact.relation), fact.time))
    if periods:
        places = [fact.object for fact in periods]
    else:
        times = sorted({fact.time for fact in _carrier_facts(facts, subject)})
        places = []
        for time in times:
            try:
                places.append(locate_at(facts, subject, time, "place-before"))
            except ProgramRuntimeError:
                continue
    timeline: list[str | int] = []
    for place in places:
        if not timeline or timeline[-1] != place:
            timeline.append(place)
    return timeline


def _carrier_facts(facts: FactSource, subject: str) -> list[Fact]:
    """Return the place facts of ``subject`` and of everyone who carried it."""
    seen, queue, found = {subject}, deque([subject]), []
    while queue:
        current = queue.popleft()
        for fact in _own(facts, current, PLACE_RELATIONS):
            found.append(fact)
            if fact.relation != LOCATION and isinstance(fact.object, str) and fact.object not in seen:
                seen.add(fact.object)
                queue.append(fact.object)
    return found


def place_before(run: RunContext, args: list) -> str | int:
    """Return where S was before it last came to P: ``(place-before S P)``."""
    subject = require_str("place-before", args, 0)
    place = require_str("place-before", args, 1)
    timeline = _timeline(run.facts_for("place-before"), subject)
    for index in range(len(timeline) - 1, 0, -1):
        if timeline[index] == place:
            return timeline[index - 1]
    raise ProgramRuntimeError(f"place-before: the facts show no place of {subject!r} before {place!r}")


def is_in(run: RunContext, args: list) -> str:
    """Return ``yes``, ``no`` or ``maybe`` for ``(is-in S P)`` from S's newest place facts.

    The newest of S's place, ``not_location`` and ``maybe_location`` facts decides. A
    place (followed through carriers) gives yes or no, and "not in P" gives no. "Either
    in P or Q" gives maybe for P and Q, and no for any other place.
    """
    subject = require_str("is-in", args, 0)
    place = require_str("is-in", args, 1)
    facts = run.facts_for("is-in")
    stated = _own(facts, subject, (*PLACE_RELATIONS, NOT_LOCATION, MAYBE_LOCATION))
    if not stated:
        raise ProgramRuntimeError(f"is-in: no place fact about {subject!r}")
    newest = max(fact.time for fact in stated)
    current = [fact for fact in stated if fact.time == newest]
    if any(fact.relation == MAYBE_LOCATION for fact in current):
        return "maybe" if any(fact.object == place for fact in current) else "no"
    if current[-1].relation == NOT_LOCATION:
        return "no"
    return "yes" if locate_at(facts, subject, None, "is-in") == place else "no"


def carried(run: RunContext, args: list) -> tuple:
    """Return what P carries now, in the order P first got each thing: ``(carried P)``."""
    holder = require_str("carried", args, 0)
    facts = run.facts_for("carried")
    first_got: dict[str | int, int] = {}
    carried_now = []
    for fact in facts.facts_about(holder):
        if fact.relation not in HOLDERS or fact.object != holder:
            continue
        first_got.setdefault(fact.subject, fact.time)
        newest = max(_own(facts, fact.subject, PLACE_RELATIONS), key=lambda f: f.time)
        if newest == fact:
            carried_now.append(fact.subject)
    return tuple(sorted(carried_now, key=lambda thing: first_got[thing]))


def neighbor(run: RunContext, args: list) -> str | int:
    """Return the place DIR of A, from (A DIR X) or the inverse fact (X INVERSE A): ``(neighbor DIR A)``."""
    direction = require_str("neighbor", args, 0)
    place = require_str("neighbor", args, 1)
    inverse = INVERSE_DIRECTIONS.get(direction)
    if inverse is None:
        raise ProgramRuntimeError(
            f"neighbor: {direction!r} is not a direction; use one of {', '.join(INVERSE_DIRECTIONS)}"
        )
    found = [(fact.time, fact.object) for fact in run.facts_for("neighbor").facts_about(place)
             if fact.subject == place and fact.relation == direction]
    found += [(fact.time, fact.subject) for fact in run.facts_for("neighbor").facts_about(place)
              if fact.object == place and fact.relation == inverse]
    if not found:
        raise ProgramRuntimeError(f"neighbor: no fact states what is {direction} of {place!r}; state (fact {place} {direction} X)")
    return max(found, key=lambda pair: pair[0])[1]


def size(run: RunContext, args: list) -> int:
    """Return the number of items of LIST: ``(size LIST)``."""
    items = args[0]
    if type(items) is not tuple:
        raise wrong_type("size", 0, "a list", items)
    return len(items)


def spell(run: RunContext, args: list) -> str:
    """Return N as a counting word, from ``none`` for 0 up to ``ten``: ``(spell N)``."""
    number = args[0]
    if type(number) is not int or not 0 <= number < len(NUMBER_WORDS):
        raise wrong_type("spell", 0, f"an integer from 0 to {len(NUMBER_WORDS) - 1}", number)
    return NUMBER_WORDS[number]


def if_empty(run: RunContext, args: list) -> object:
    """Return LIST, or WORD when LIST is empty: ``(if-empty LIST WORD)``."""
    items, word = args
    if type(items) is not tuple:
        raise wrong_type("if-empty", 0, "a list", items)
    return items if items else word


def initials(run: RunContext, args: list) -> tuple:
    """Return the first letter of each name (``north`` -> ``n``): ``(initials LIST)``."""
    items = args[0]
    if type(items) is not tuple or not all(type(item) is str and item for item in items):
        raise wrong_type("initials", 0, "a list of names", items)
    return tuple(item[0] for item in items)


def induce(run: RunContext, args: list) -> str | int:
    """Return S's REL, or else the REL of the member of S's kind (``is_a``) named last: ``(induce REL S)``."""
    relation = require_str("induce", args, 0)
    subject = require_str("induce", args, 1)
    facts = run.facts_for("induce")
    own = facts.latest(subject, relation)
    if own is not None:
        return own.object
    kind = facts.latest(subject, "is_a")
    if kind is None:
        raise ProgramRuntimeError(f"induce: {subject!r} has no {relation!r} and no kind (is_a fact)")
    best: Fact | None = None
    best_kind = -1
    for member in facts.facts_about(kind.object):
        if member.relation != "is_a" or member.subject == subject:
            continue
        if facts.latest(member.subject, "is_a") != member:
            continue
        value = facts.latest(member.subject, relation)
        if value is not None and (best is None or member.time >= best_kind):
            best, best_kind = value, member.time
    if best is None:
        raise ProgramRuntimeError(f"induce: no other {kind.object!r} has a {relation!r}")
    return best.object


def _grid(facts: FactSource, start: str) -> dict[str, tuple[int, int]]:
    """Return grid positions: ``start`` at (0, 0) and everything that grid facts link to it."""
    places = {start: (0, 0)}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        x, y = places[current]
        for fact in facts.facts_about(current):
            step = GRID_STEPS.get(fact.relation)
            if step is None or not isinstance(fact.object, str):
                continue
            if fact.subject == current:
                other, position = fact.object, (x + step[0], y + step[1])
            else:
                other, position = fact.subject, (x - step[0], y - step[1])
            if other not in places:
                places[other] = position
                queue.append(other)
    return places


def grid_relation(word: str) -> Callable[[RunContext, list], bool]:
    """Build ``(WORD A B)``: whether A is to the WORD of B on the grid the facts lay out."""
    dx, dy = GRID_STEPS[word]

    def compare(run: RunContext, args: list) -> bool:
        first = require_str(word, args, 0)
        second = require_str(word, args, 1)
        places = _grid(run.facts_for(word), second)
        if first not in places:
            raise ProgramRuntimeError(f"{word}: the facts do not place {first!r} relative to {second!r}")
        x, y = places[first]
        # B is at (0, 0). A WORD step leads from A to B, so A is WORD of B when its offset points the other way.
        return (x * -dx > 0) if dx else (y * -dy > 0)

    compare.__name__ = f"grid_{word}"
    return compare
