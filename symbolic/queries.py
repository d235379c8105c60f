"""Graph and memory operations: arguments are evaluated values, mostly entity names."""

from __future__ import annotations

from collections.abc import Callable

from neurosym.symbolic.arithmetic import require_str, wrong_type
from neurosym.symbolic.context import RunContext
from neurosym.symbolic.errors import ProgramRuntimeError
from neurosym.symbolic.facts import Fact, FactSource


def _names(op: str, args: list, start: int) -> list[str]:
    return [require_str(op, args, index) for index in range(start, len(args))]


def relation(run: RunContext, args: list) -> str:
    source, target = _names("relation", args, 0)
    return run.graph_for("relation").kinship(source, target)


def _restriction(op: str, args: list) -> list[str] | None:
    names = _names(op, args, 2)
    return names or None


def path(run: RunContext, args: list) -> tuple[str, ...]:
    source, target = _names("path", args[:2], 0)
    graph = run.graph_for("path")
    return tuple(graph.path(source, target, _restriction("path", args)))


def directions(run: RunContext, args: list) -> tuple[str, ...]:
    source, target = _names("directions", args[:2], 0)
    graph = run.graph_for("directions")
    return tuple(graph.directions(source, target, _restriction("directions", args)))


def reachable(run: RunContext, args: list) -> bool:
    source, target = _names("reachable", args[:2], 0)
    graph = run.graph_for("reachable")
    return graph.reachable(source, target, _restriction("reachable", args))


def objects(run: RunContext, args: list) -> tuple:
    relation_name, subject = _names("objects", args, 0)
    return tuple(run.graph_for("objects").objects(subject, relation_name))


def count(run: RunContext, args: list) -> int:
    relation_name, subject = _names("count", args, 0)
    return len(run.graph_for("count").objects(subject, relation_name))


def comparative(word: str) -> Callable[[RunContext, list], bool]:
    """Build the implementation of the comparative operation ``word``."""

    def compare(run: RunContext, args: list) -> bool:
        first, second = _names(word, args, 0)
        return run.graph_for(word).compare(word, first, second)

    compare.__name__ = f"compare_{word}"
    return compare


def latest(run: RunContext, args: list) -> str | int:
    relation_name, subject = _names("latest", args, 0)
    fact = run.facts_for("latest").latest(subject, relation_name)
    if fact is None:
        raise ProgramRuntimeError(f"latest: no {relation_name!r} fact about {subject!r}")
    return fact.object


def at(run: RunContext, args: list) -> str | int:
    relation_name, subject = _names("at", args[:2], 0)
    time = args[2]
    if type(time) is not int:
        raise wrong_type("at", 2, "an integer time", time)
    fact = run.facts_for("at").latest(subject, relation_name, as_of=time)
    if fact is None:
        raise ProgramRuntimeError(
            f"at: no {relation_name!r} fact about {subject!r} at or before time {time}"
        )
    return fact.object


LOCATION = "location"
HELD_BY = "held_by"
GIVEN_TO = "given_to"  # held by, after a hand-over
DROPPED_BY = "dropped_by"
PLACE_RELATIONS = (LOCATION, HELD_BY, GIVEN_TO, DROPPED_BY)
MAX_CARRIERS = 64  # maximum number of nested carriers that locate follows (a key in a bag held by a person)


def locate(run: RunContext, args: list) -> str | int:
    """Return where S is at TIME (default: now), following carriers.

    S's newest ``location``, ``held_by``, ``given_to`` or ``dropped_by`` fact decides. A
    ``location`` fact gives the place. After ``held_by`` or ``given_to`` S travels with its holder,
    so its place is the holder's place at TIME. After ``dropped_by`` S stays where
    the person who dropped it was at the time of the drop. Holders' and droppers'
    places are found the same way. Among facts with equal times the one stated last wins.
    """
    subject = require_str("locate", args, 0)
    time = None
    if len(args) == 2:
        time = args[1]
        if type(time) is not int:
            raise wrong_type("locate", 1, "an integer time", time)
    return locate_at(run.facts_for("locate"), subject, time, "locate")


def locate_at(facts: FactSource, subject: str, time: int | None, op: str) -> str | int:
    """Return where ``subject`` is at ``time`` (None: now), as :func:`locate` describes."""
    seen = [subject]
    current = subject
    for _ in range(MAX_CARRIERS):
        stated = [fact for fact in (facts.latest(current, relation, as_of=time) for relation in PLACE_RELATIONS)
                  if fact is not None]
        if not stated:
            when = "" if time is None else f" at or before time {time}"
            raise ProgramRuntimeError(
                f"{op}: no {', '.join(PLACE_RELATIONS)} fact about {current!r}{when}"
            )
        newest = stated[0]
        for fact in stated[1:]:
            if _newer(facts, current, fact, newest):
                newest = fact
        if newest.relation == LOCATION:
            return newest.object
        current = newest.object
        if type(current) is not str or current in seen:
            raise ProgramRuntimeError(f"{op}: the carriers of {subject!r} form a loop ({' -> '.join(seen)})")
        seen.append(current)
        if newest.relation == DROPPED_BY:
            time = newest.time  # it stays where the dropper was then
    raise ProgramRuntimeError(f"{op}: {subject!r} has more than {MAX_CARRIERS} nested carriers")


def _newer(facts: FactSource, subject: str, first: Fact, second: Fact) -> bool:
    """True when fact ``first`` is newer than ``second``; a tie goes to the one stated last."""
    if first.time != second.time:
        return first.time > second.time
    stated = facts.facts_about(subject)
    return stated.index(first) > stated.index(second)


def history(run: RunContext, args: list) -> tuple:
    relation_name, subject = _names("history", args, 0)
    facts = run.facts_for("history").facts_about(subject)
    ordered = sorted(
        (fact for fact in facts if fact.subject == subject and fact.relation == relation_name),
        key=lambda fact: fact.time,
    )
    return tuple(fact.object for fact in ordered)
