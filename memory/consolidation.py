"""Pure functions behind :meth:`EpisodicMemory.consolidate`: duplicate grouping and stable facts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from .records import Fact


@dataclass
class FactRow:
    """One event's triple with the fields consolidation needs."""

    id: int
    time: int
    subject: str
    relation: str
    object: str
    support: int


def run_ids(rows: list[FactRow]) -> dict[int, int]:
    """Map each event id to its run number on its ``(subject, relation)`` timeline.

    A timeline is ordered by ``(time, id)``. A run is a maximal stretch of events with
    the same object, so a run ends where a later event contradicts it.
    """
    by_pair: dict[tuple[str, str], list[FactRow]] = defaultdict(list)
    for row in rows:
        by_pair[(row.subject, row.relation)].append(row)
    runs: dict[int, int] = {}
    run = 0
    for timeline in by_pair.values():
        timeline.sort(key=lambda r: (r.time, r.id))
        previous_object = None
        for row in timeline:
            if row.object != previous_object:
                run += 1
                previous_object = row.object
            runs[row.id] = run
    return runs


def stable_facts(rows: list[FactRow], min_support: int) -> list[Fact]:
    """Return one fact per stable run, ordered by subject, relation and time.

    A run is stable when its events' total support reaches ``min_support`` (the
    triple was seen repeatedly) or when it is the last run of its timeline (no later
    event contradicts it). The fact's time is the time the run started.
    """
    by_pair: dict[tuple[str, str], list[FactRow]] = defaultdict(list)
    for row in rows:
        by_pair[(row.subject, row.relation)].append(row)
    facts: list[Fact] = []
    for (subject, relation), timeline in sorted(by_pair.items()):
        timeline.sort(key=lambda r: (r.time, r.id))
        runs: list[tuple[str, int, int]] = []  # (object, start time, total support)
        for row in timeline:
            if runs and runs[-1][0] == row.object:
                obj, start, support = runs[-1]
                runs[-1] = (obj, start, support + row.support)
            else:
                runs.append((row.object, row.time, row.support))
        for position, (obj, start, support) in enumerate(runs):
            if support >= min_support or position == len(runs) - 1:
                facts.append(Fact(subject, relation, obj, start))
    return facts


def duplicate_groups(keys: np.ndarray, similarity: float) -> list[list[int]]:
    """Group rows whose key is within ``similarity`` (cosine) of an earlier row's key.

    Rows are taken in order. Each row not yet grouped starts a group and absorbs every
    later ungrouped row whose cosine similarity to it is at least ``similarity``.
    Returns the groups with more than one row, survivor first. Costs O(m² · dim) for
    m rows, which suits the per-episode, per-payload groups consolidation passes in.
    """
    n_rows = len(keys)
    grouped = np.zeros(n_rows, dtype=bool)
    groups: list[list[int]] = []
    for row in range(n_rows):
        if grouped[row]:
            continue
        grouped[row] = True
        if row + 1 == n_rows:
            break
        similarities = keys[row + 1:] @ keys[row]
        matches = np.flatnonzero((similarities >= similarity) & ~grouped[row + 1:]) + row + 1
        if len(matches):
            grouped[matches] = True
            groups.append([row, *matches.tolist()])
    return groups
