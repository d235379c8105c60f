"""Plain records returned by the episodic memory: events, facts and search hits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Triple(NamedTuple):
    """A fact without its time: ``(subject, relation, object)``."""

    subject: str
    relation: str
    object: str


class Fact(NamedTuple):
    """A timestamped triple, as the ``FactSource`` protocol of the symbolic executor expects."""

    subject: str
    relation: str
    object: str
    time: int


@dataclass(frozen=True, eq=False)
class Event:
    """One stored memory.

    Attributes:
        id: event id, unique in the store and never reused after deletion. Ids grow with
            insertion order, so a larger id means a later insertion.
        key: L2-normalised key vector, float32 of shape ``(dim,)``.
        value: optional value vector (float32, any length), stored as given.
        text: sentence text of the payload, or None.
        triple: fact triple of the payload, or None.
        time: logical timestamp (story position or stated time).
        wall_time: wall-clock time of insertion, seconds since the Unix epoch.
        episode: episode id the event belongs to.
        access_count: number of searches that returned the event.
        support: number of raw events this event stands for; consolidation adds the
            support of merged duplicates to the event that survives.
    """

    id: int
    key: np.ndarray
    value: np.ndarray | None
    text: str | None
    triple: Triple | None
    time: int
    wall_time: float
    episode: str
    access_count: int
    support: int = 1

    @property
    def fact(self) -> Fact | None:
        """The payload triple with the event time, or None when the event has no triple."""
        if self.triple is None:
            return None
        return Fact(*self.triple, self.time)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        same_value = (self.value is None and other.value is None) or (
            self.value is not None
            and other.value is not None
            and np.array_equal(self.value, other.value)
        )
        return (
            self.id == other.id
            and np.array_equal(self.key, other.key)
            and same_value
            and self.text == other.text
            and self.triple == other.triple
            and self.time == other.time
            and self.wall_time == other.wall_time
            and self.episode == other.episode
            and self.access_count == other.access_count
            and self.support == other.support
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Hit:
    """One search result.

    Attributes:
        event: the retrieved event, with its access count before this search.
        score: ``similarity + recency_weight * recency``, the value hits are ranked by.
        similarity: cosine similarity between the query and the event key.
        recency: ``2 ** (-(now - time) / half_life)``, or 0.0 when the search used no
            half-life.
    """

    event: Event
    score: float
    similarity: float
    recency: float

    @property
    def id(self) -> int:
        """Id of the retrieved event."""
        return self.event.id


@dataclass(frozen=True)
class ConsolidationReport:
    """Outcome of :meth:`EpisodicMemory.consolidate`.

    Attributes:
        merged: number of events deleted because they duplicated a surviving event.
        exported: stable facts passed to the knowledge graph's ``add_fact``.
        stable_facts: those facts, in export order.
    """

    merged: int
    exported: int
    stable_facts: list[Fact]
