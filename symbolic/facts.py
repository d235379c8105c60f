"""Timestamped facts and the protocol that fact stores implement.

A fact ``(subject, relation, object, time)`` reads "the <relation> of <subject> is
<object> from <time> on": ``Fact("mary", "location", "kitchen", 3)`` states that Mary is in
the kitchen from time 3, and ``Fact("alice", "father", "bob", 0)`` states that Bob is Alice's
father. Comparative relations read "<subject> is <relation> than <object>" instead.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable


class Fact(NamedTuple):
    """One timestamped triple; ``time`` is a logical timestamp (larger is later)."""

    subject: str
    relation: str
    object: str | int
    time: int


@runtime_checkable
class FactSource(Protocol):
    """A store of facts that the ``latest``, ``at`` and ``history`` operations can query.

    ``KnowledgeGraph`` implements it, and so can an episodic memory.
    """

    def latest(self, subject: str, relation: str, as_of: int | None = None) -> Fact | None:
        """Return the newest ``relation`` fact about ``subject``, or None if there is none.

        With ``as_of``, only facts whose time is at most ``as_of`` count. Among facts
        with the same time, the one inserted last wins.
        """
        ...

    def facts_about(self, entity: str) -> list[Fact]:
        """Return every fact whose subject or object is ``entity``, oldest first.

        Facts with equal times keep their insertion order.
        """
        ...
