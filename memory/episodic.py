"""The episodic memory store: timestamped events in SQLite, searched through faiss.

Scoring. Keys and queries are L2-normalised, so the inner product faiss computes is
the cosine similarity ``s(q, e)``. With a recency half-life ``h`` a search ranks
events by

    score(q, e) = s(q, e) + λ · 2 ** (-(now - t_e) / h)

where ``t_e`` is the event's logical time, ``now`` is ``as_of`` when given and
otherwise the latest time in the store, and ``λ`` is ``MemoryConfig.recency_weight``.
Without a half-life the score is the cosine similarity alone.

Persistence. A store directory contains ``events.sqlite3`` (WAL mode, the source of
truth, vectors kept as float32 blobs), ``index.faiss`` (saved by :meth:`flush` and
:meth:`close` through a temporary file and ``os.replace``) and ``lock`` (an exclusive
``flock`` held while the store is open). On open, a missing, corrupt or stale index is
repaired from SQLite.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import time as wallclock
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from . import storage
from .catalog import BitmapSelector, Catalog
from .config import MemoryConfig
from .consolidation import FactRow, duplicate_groups, run_ids, stable_facts
from .errors import (
    CorruptStoreError,
    DimensionMismatchError,
    EventNotFoundError,
    InvalidVectorError,
    MemoryStoreError,
    StoreClosedError,
    StoreLockedError,
    StorePathError,
)
from .index import IncompatibleIndexError, VectorIndex, make_index, wrap_index
from .indexfile import load_index, remove_stale_temp_files, save_index
from .records import ConsolidationReport, Event, Fact, Hit, Triple
from .validation import (
    as_episode,
    as_k,
    as_key_matrix,
    as_optional_time,
    as_text,
    as_time,
    as_triple,
    as_value_vector,
    per_row,
)

logger = logging.getLogger(__name__)

DB_FILE = "events.sqlite3"
LOCK_FILE = "lock"
# Below this many allowed events an approximate index that returns too few filtered
# results is replaced by an exact scan of the allowed vectors read from SQLite.
EXACT_FALLBACK_MAX = 65536


class FactSink(Protocol):
    """Anything that accepts facts, such as the knowledge graph of ``neurosym.symbolic``."""

    def add_fact(self, subject: str, relation: str, object: str, time: int) -> Any: ...


class EpisodicMemory:
    """A store of timestamped events with vector search, fact queries and maintenance.

    Create one with :meth:`open`: ``EpisodicMemory.open(path, dim=...)`` for a store
    on disk, or ``EpisodicMemory.open(None, dim=...)`` for one that lives in memory.
    One object serves one thread at a time. A store directory can be open in one
    object (in one process) at a time, which a file lock enforces.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        dim: int,
        config: MemoryConfig,
        directory: Path | None = None,
        lock_fd: int | None = None,
    ) -> None:
        """Wrap an open, validated connection; use :meth:`open` instead of calling this."""
        self._conn: sqlite3.Connection | None = conn
        self.dim = dim
        self.config = config
        self.path = directory
        self._lock_fd = lock_fd
        self._catalog = Catalog()
        self._index: VectorIndex = make_index(dim, config)
        self._index_dirty = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls, path: str | os.PathLike[str] | None, dim: int | None = None,
        config: MemoryConfig | None = None,
    ) -> EpisodicMemory:
        """Open the store in directory ``path``, creating it when it does not exist.

        ``path=None`` makes a store in memory that disappears on :meth:`close`.
        ``dim`` is required to create a store and, when given for an existing one, must
        match its dimension. ``config=None`` reuses the saved config (or the defaults
        for a new store). A different config replaces the saved one, and the index is
        rebuilt when its kind or shape changed.

        Raises:
            StorePathError: the parent directory is missing, ``path`` is a file, or the
                directory is not writable.
            StoreLockedError: another open store object holds the directory.
            CorruptStoreError: ``events.sqlite3`` is not a readable database.
            ForeignStoreError: ``events.sqlite3`` is a database of another program.
            DimensionMismatchError: ``dim`` differs from the store's dimension.
        """
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if path is None:
            return cls._open_connection(storage.connect(None), None, None, dim, config)
        directory = _prepare_directory(Path(path))
        lock_fd = _lock_directory(directory)
        try:
            remove_stale_temp_files(directory)
            conn = storage.connect(directory / DB_FILE)
            try:
                return cls._open_connection(conn, directory, lock_fd, dim, config)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            os.close(lock_fd)
            raise

    @classmethod
    def _open_connection(
        cls, conn: sqlite3.Connection, directory: Path | None, lock_fd: int | None,
        dim: int | None, config: MemoryConfig | None,
    ) -> EpisodicMemory:
        meta = storage.inspect_database(conn, directory / DB_FILE if directory else None)
        if meta is None:
            if dim is None:
                raise StorePathError(
                    f"no store exists at {directory or 'memory'}; pass dim= to create one"
                )
            config = config or MemoryConfig()
            storage.configure(conn, config.synchronous, directory is None)
            storage.create_schema(conn, {
                "format": storage.FORMAT_NAME,
                "format_version": str(storage.FORMAT_VERSION),
                "dim": str(dim),
                "config": config.to_json(),
                "created_wall_time": repr(wallclock.time()),
            })
            logger.info("created episodic memory at %s (dim=%d, index=%s)",
                        directory or "memory", dim, config.index)
            return cls(conn, dim, config, directory, lock_fd)

        stored_dim = int(meta["dim"])
        if dim is not None and dim != stored_dim:
            raise DimensionMismatchError(
                f"store at {directory} has dimension {stored_dim}, but dim={dim} was given; "
                f"pass dim={stored_dim} or dim=None, or open a new directory"
            )
        stored_config = MemoryConfig.from_json(meta["config"])
        if config is None:
            config = stored_config
        storage.configure(conn, config.synchronous, directory is None)
        if config != stored_config:
            storage.write_meta(conn, {"config": config.to_json()})
        memory = cls(conn, stored_dim, config, directory, lock_fd)
        try:
            memory._load_catalog()
        except sqlite3.DatabaseError as error:
            raise storage_corrupt(directory, error) from error
        saved_size = meta.get("index_file_size")
        memory._restore_index(int(saved_size) if saved_size is not None else None)
        return memory

    def _load_catalog(self) -> None:
        rows = self._db.execute("SELECT id, time, episode FROM events ORDER BY id").fetchall()
        if rows:
            ids, times, episodes = zip(*rows, strict=False)
            self._catalog.append(np.array(ids), np.array(times), list(episodes))

    def _restore_index(self, saved_size: int | None) -> None:
        """Load the saved index and bring it in line with SQLite, or rebuild it."""
        loaded = load_index(self.path, saved_size) if self.path is not None else None
        if loaded is not None:
            try:
                self._index = wrap_index(loaded, self.dim, self.config)
            except IncompatibleIndexError as error:
                logger.warning("saved index does not match the config (%s); rebuilding it", error)
                loaded = None
        if loaded is None:
            self._rebuild_index()
            return
        stored = self._index.stored_ids()
        extra = np.setdiff1d(stored, self._catalog.ids, assume_unique=True)
        missing = np.setdiff1d(self._catalog.ids, stored, assume_unique=True)
        if len(extra) or len(missing):
            logger.warning(
                "saved index was stale: it lacked %d events and held %d deleted ones; "
                "updating it from SQLite", len(missing), len(extra),
            )
            self._index.remove(extra)
            self._index.add(missing, self._read_keys(missing))
            self._index.maintain(self._all_vectors)
            self._index_dirty = True

    def _rebuild_index(self) -> None:
        self._index = make_index(self.dim, self.config)
        if len(self._catalog):
            logger.info("building %s index from %d vectors in SQLite",
                        self.config.index, len(self._catalog))
            self._index.add(*self._all_vectors())
            self._index.maintain(self._all_vectors)
        self._index_dirty = True

    # ------------------------------------------------------------------ basics

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreClosedError("the episodic memory is closed; open it again with EpisodicMemory.open")
        return self._conn

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._conn is None

    def __len__(self) -> int:
        return len(self._catalog)

    def __contains__(self, event_id: object) -> bool:
        if isinstance(event_id, bool) or not isinstance(event_id, (int, np.integer)):
            return False
        position = np.searchsorted(self._catalog.ids, event_id)
        return bool(position < len(self._catalog) and self._catalog.ids[position] == event_id)

    def __enter__(self) -> EpisodicMemory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "memory"
        return f"EpisodicMemory({where!r}, dim={self.dim}, index={self.config.index!r}, events={len(self)})"

    def flush(self) -> None:
        """Save the faiss index if it changed since the last save; events are already durable."""
        db = self._db
        if self.path is None or not self._index_dirty:
            return
        size = save_index(self._index.faiss_index(), self.path)
        storage.write_meta(db, {"index_file_size": str(size)})
        self._index_dirty = False

    def close(self) -> None:
        """Save the index, close the database and release the lock; a second call does nothing."""
        if self._conn is None:
            return
        try:
            self.flush()
        finally:
            self._conn.close()
            self._conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    # ------------------------------------------------------------------ writing

    def add(
        self, key: Any, *, time: int | None = None, text: str | None = None,
        triple: tuple[str, str, str] | None = None, value: Any = None,
        episode: str = "default", wall_time: float | None = None,
    ) -> int:
        """Store one event and return its id.

        ``key`` is normalised to unit length before storing. ``time`` defaults to one
        past the latest time in the store (0 for an empty store). ``wall_time``
        defaults to ``time.time()``.
        """
        if np.ndim(key) != 1:
            raise InvalidVectorError(
                f"add takes one key of shape ({self.dim},), got shape {np.shape(key)}; "
                "use add_batch for several events"
            )
        times = None if time is None else [time]
        wall_times = None if wall_time is None else [wall_time]
        return self.add_batch(
            key,
            times=times, texts=[text], triples=[triple], values=[value],
            episodes=episode, wall_times=wall_times,
        )[0]

    def add_batch(
        self, keys: Any, *, times: Sequence[int] | None = None,
        texts: Sequence[str | None] | None = None,
        triples: Sequence[tuple[str, str, str] | None] | None = None,
        values: Any = None, episodes: str | Sequence[str] = "default",
        wall_times: Sequence[float] | None = None,
    ) -> list[int]:
        """Store a batch of events in one transaction and return their ids in order.

        ``keys`` has shape ``(n, dim)``; the per-event arguments hold ``n`` items each.
        ``times=None`` numbers the events consecutively after the latest time in the
        store. Either every event is stored or, on any error, none.
        """
        matrix = as_key_matrix(keys, self.dim)
        n_events = len(matrix)
        if times is None:
            start = (self._catalog.max_time() if len(self._catalog) else -1) + 1
            event_times = list(range(start, start + n_events))
        else:
            event_times = [as_time(t) for t in per_row(times, n_events, "times")]
        event_texts = [as_text(t, row) for row, t in enumerate(per_row(texts, n_events, "texts"))]
        event_triples = [as_triple(t, row) for row, t in enumerate(per_row(triples, n_events, "triples"))]
        event_values = [as_value_vector(v, row) for row, v in enumerate(per_row(values, n_events, "values"))]
        if isinstance(episodes, str):
            episodes = [episodes] * n_events
        event_episodes = [as_episode(e, row) for row, e in enumerate(per_row(episodes, n_events, "episodes"))]
        now = wallclock.time()
        event_wall_times = [float(w) for w in per_row(wall_times, n_events, "wall_times")] \
            if wall_times is not None else [now] * n_events

        db = self._db
        with storage.transaction(db):
            first_id = storage.next_event_id(db)
            ids = list(range(first_id, first_id + n_events))
            db.executemany(
                "INSERT INTO events (id, time, wall_time, episode, text, subject, relation, "
                "object, key, value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        ids[row], event_times[row], event_wall_times[row], event_episodes[row],
                        event_texts[row],
                        *(event_triples[row] or (None, None, None)),
                        matrix[row].tobytes(),
                        None if event_values[row] is None else event_values[row].tobytes(),
                    )
                    for row in range(n_events)
                ),
            )
        id_array = np.array(ids, dtype=np.int64)
        self._catalog.append(id_array, np.array(event_times, dtype=np.int64), event_episodes)
        self._index.add(id_array, matrix)
        self._index.maintain(self._all_vectors)
        self._index_dirty = True
        return ids

    def delete(self, event_ids: int | Iterable[int]) -> int:
        """Delete events by id in one transaction and return how many existed."""
        if isinstance(event_ids, (int, np.integer)):
            event_ids = [int(event_ids)]
        wanted = np.unique(np.fromiter((int(i) for i in event_ids), dtype=np.int64))
        present = wanted[np.isin(wanted, self._catalog.ids)]
        if not len(present):
            return 0
        db = self._db
        with storage.transaction(db):
            for chunk in storage.chunks(present.tolist()):
                db.execute(
                    f"DELETE FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk
                )
        self._catalog.remove(present)
        self._index.remove(present)
        self._index.maintain(self._all_vectors)
        self._index_dirty = True
        return len(present)

    # ------------------------------------------------------------------ reading

    def get(self, event_id: int) -> Event:
        """Return the event with ``event_id`` or raise EventNotFoundError."""
        row = self._db.execute(
            f"SELECT {storage.EVENT_COLUMNS} FROM events WHERE id = ?", (int(event_id),)
        ).fetchone()
        if row is None:
            raise EventNotFoundError(f"no event with id {event_id} in the store")
        return _event_from_row(row)

    def events(self) -> Iterator[Event]:
        """Yield every event in id (insertion) order."""
        cursor = self._db.execute(f"SELECT {storage.EVENT_COLUMNS} FROM events ORDER BY id")
        while batch := cursor.fetchmany(1024):
            yield from (_event_from_row(row) for row in batch)

    def _read_keys(self, ids: np.ndarray) -> np.ndarray:
        """Read the key vectors of ``ids`` from SQLite, in the order given."""
        vectors = np.empty((len(ids), self.dim), dtype=np.float32)
        position = {int(event_id): row for row, event_id in enumerate(ids)}
        for chunk in storage.chunks([int(i) for i in ids]):
            rows = self._db.execute(
                f"SELECT id, key FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk
            )
            for event_id, blob in rows:
                vectors[position[event_id]] = np.frombuffer(blob, dtype=np.float32)
        return vectors

    def _all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        return storage.read_vectors(self._db, len(self._catalog), self.dim)

    # ------------------------------------------------------------------ search

    def search(
        self, query: Any, k: int, as_of: int | None = None, since: int | None = None,
        episode: str | None = None, recency_half_life: float | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """Return the ``k`` best events for ``query``, best first.

        Each event ``e`` is scored as

            score = cos(q, k_e) + λ · 2 ** (-(now - t_e) / recency_half_life)

        with ``λ = config.recency_weight`` and ``now = as_of`` if given, else the
        latest time in the store. Without ``recency_half_life`` the score is the
        cosine alone. Ties go to the smaller id.

        Filters keep events with ``t_e <= as_of``, ``t_e >= since`` and the given
        ``episode``. They are applied inside the faiss search through an id selector,
        and the search widens until ``k`` events pass or no event is left, so a filter
        reduces the result below ``k`` only when fewer than ``k`` events pass it.

        A 1-D ``query`` returns a list of hits; a 2-D batch of shape ``(n, dim)``
        returns one list per row. Every returned event's access count goes up by one.
        """
        k = as_k(k)
        single = np.ndim(query) == 1
        queries = as_key_matrix(query, self.dim, what="query")
        as_of = as_optional_time(as_of, "as_of")
        since = as_optional_time(since, "since")
        if episode is not None and not isinstance(episode, str):
            raise ValueError(f"episode must be a str or None, got {episode!r}")
        if recency_half_life is not None and not recency_half_life > 0:
            raise ValueError(
                f"recency_half_life must be a positive number of time steps, got {recency_half_life!r}"
            )
        self._db  # noqa: B018 - raises StoreClosedError on a closed store

        ranked = self._rank(queries, k, as_of, since, episode, recency_half_life)
        hits = self._hits(ranked)
        return hits[0] if single else hits

    def _rank(
        self, queries: np.ndarray, k: int, as_of: int | None, since: int | None,
        episode: str | None, half_life: float | None,
    ) -> list[list[tuple[int, float, float, float]]]:
        """Return per query the ranked ``(id, score, similarity, recency)`` tuples."""
        catalog = self._catalog
        mask = catalog.mask(as_of, since, episode)
        allowed_ids = catalog.ids if mask is None else catalog.ids[mask]
        n_allowed = len(allowed_ids)
        if n_allowed == 0:
            return [[] for _ in queries]
        if mask is not None:
            selector: BitmapSelector | None = BitmapSelector(catalog.bitmap(allowed_ids))
        elif self._index.needs_selector:
            selector = BitmapSelector(catalog.live_bitmap())
        else:
            selector = None
        faiss_selector = selector.selector if selector is not None else None

        weight = self.config.recency_weight if half_life is not None else 0.0
        now = as_of if as_of is not None or half_life is None else catalog.max_time()
        want = min(k, n_allowed)
        fetch = want if weight == 0.0 else min(n_allowed, max(2 * want, want + 16))
        similarities, ids = self._index.search(queries, fetch, faiss_selector)
        results = []
        for row, query in enumerate(queries):
            results.append(self._rank_one(
                query, similarities[row], ids[row], fetch, want, n_allowed, allowed_ids,
                faiss_selector, weight, now, half_life,
            ))
        return results

    def _rank_one(
        self, query: np.ndarray, similarities: np.ndarray, ids: np.ndarray, fetch: int,
        want: int, n_allowed: int, allowed_ids: np.ndarray, faiss_selector: Any,
        weight: float, now: int | None, half_life: float | None,
    ) -> list[tuple[int, float, float, float]]:
        while True:
            found = ids >= 0
            ids, similarities = ids[found], similarities[found]
            if len(ids) < min(fetch, n_allowed) and not self._index.exact:
                # The approximate index ran out of allowed candidates.
                if n_allowed <= EXACT_FALLBACK_MAX or fetch >= n_allowed:
                    ids = allowed_ids
                    similarities = self._read_keys(allowed_ids) @ query
                    fetch = n_allowed
                else:
                    fetch = min(n_allowed, fetch * 4)
                    similarities, ids = (a[0] for a in self._index.search(query[None], fetch, faiss_selector))
                    continue
            recency = self._recency(ids, now, half_life)
            scores = similarities + weight * recency
            order = np.lexsort((ids, -scores))[:want]
            complete = weight == 0.0 or len(ids) >= n_allowed
            # An event not fetched has cosine <= the smallest fetched cosine and a
            # recency term <= λ, so the ranking is final once the k-th score beats that.
            if complete or scores[order[-1]] >= similarities.min() + weight:
                return [
                    (int(ids[i]), float(scores[i]), float(similarities[i]), float(recency[i]))
                    for i in order
                ]
            fetch = min(n_allowed, fetch * 4)
            similarities, ids = (a[0] for a in self._index.search(query[None], fetch, faiss_selector))

    def _recency(self, ids: np.ndarray, now: int | None, half_life: float | None) -> np.ndarray:
        if half_life is None or now is None:
            return np.zeros(len(ids), dtype=np.float64)
        age = now - self._catalog.times_of(ids)
        return np.exp2(-age / half_life)

    def _hits(self, ranked: list[list[tuple[int, float, float, float]]]) -> list[list[Hit]]:
        """Fetch the events behind ranked ids and count one access per hit."""
        all_ids = sorted({event_id for hits in ranked for event_id, *_ in hits})
        events: dict[int, Event] = {}
        db = self._db
        for chunk in storage.chunks(all_ids):
            rows = db.execute(
                f"SELECT {storage.EVENT_COLUMNS} FROM events WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for row in rows:
                events[row[0]] = _event_from_row(row)
        counts: dict[int, int] = {}
        for hits in ranked:
            for event_id, *_ in hits:
                counts[event_id] = counts.get(event_id, 0) + 1
        if counts:
            with storage.transaction(db):
                db.executemany(
                    "UPDATE events SET access_count = access_count + ? WHERE id = ?",
                    [(count, event_id) for event_id, count in counts.items()],
                )
        return [
            [Hit(events[event_id], score, similarity, recency)
             for event_id, score, similarity, recency in hits]
            for hits in ranked
        ]

    # ------------------------------------------------------------------ facts

    def latest(self, subject: str, relation: str, as_of: int | None = None) -> Fact | None:
        """Return the most recent fact ``(subject, relation, ?)`` at time ``as_of``, or None.

        Only events with ``time <= as_of`` count when ``as_of`` is given. Among events at
        the same time the one inserted last wins.
        """
        as_of = as_optional_time(as_of, "as_of")
        sql = "SELECT subject, relation, object, time FROM events WHERE subject = ? AND relation = ?"
        params: list[Any] = [subject, relation]
        if as_of is not None:
            sql += " AND time <= ?"
            params.append(as_of)
        row = self._db.execute(sql + " ORDER BY time DESC, id DESC LIMIT 1", params).fetchone()
        return Fact(*row) if row else None

    def facts_about(self, entity: str) -> list[Fact]:
        """Return every fact whose subject or object is ``entity``, ordered by time then insertion."""
        rows = self._db.execute(
            "SELECT subject, relation, object, time FROM events "
            "WHERE subject = ? OR object = ? ORDER BY time, id",
            (entity, entity),
        ).fetchall()
        return [Fact(*row) for row in rows]

    def timeline(self, entity: str) -> list[Event]:
        """Return the events whose triple names ``entity`` as subject or object, ordered by time.

        Text-only events are not matched, because their text is not parsed into entities.
        """
        rows = self._db.execute(
            f"SELECT {storage.EVENT_COLUMNS} FROM events WHERE subject = ? OR object = ? "
            "ORDER BY time, id",
            (entity, entity),
        ).fetchall()
        return [_event_from_row(row) for row in rows]

    # ------------------------------------------------------------------ maintenance

    def forget(self, before: int) -> int:
        """Delete every event with ``time < before`` and return how many were deleted."""
        before = as_time(before, "before")
        return self.delete(self._catalog.ids[self._catalog.times < before])

    def decay(self, min_age: int, max_access_count: int = 0) -> int:
        """Delete old, rarely retrieved events and return how many were deleted.

        An event goes when ``now - time >= min_age`` (``now`` is the latest time in the
        store) and its access count is at most ``max_access_count``.
        """
        min_age = as_time(min_age, "min_age")
        max_access_count = as_time(max_access_count, "max_access_count")
        now = self._catalog.max_time()
        if now is None:
            return 0
        rows = self._db.execute(
            "SELECT id FROM events WHERE time <= ? AND access_count <= ?",
            (now - min_age, max_access_count),
        ).fetchall()
        return self.delete([event_id for (event_id,) in rows])

    def consolidate(
        self, similarity: float = 0.95, graph: FactSink | None = None, min_support: int = 2,
    ) -> ConsolidationReport:
        """Merge near-duplicate events and export stable facts to ``graph``.

        Two events are duplicates when they share an episode and a payload (the same
        triple, or both without a triple) and their keys have cosine similarity of at
        least ``similarity``. Events with a triple merge only when no event between
        them on the triple's timeline states a different object. The earliest event survives, keeping its key, text and time,
        and gains the access counts and support of the events merged into it.

        A fact is stable when its run of consecutive equal objects has a total support
        of at least ``min_support`` or no later event contradicts it. Each stable run is
        passed once to ``graph.add_fact(subject, relation, object, time)`` with the time
        the run started. Every call exports every stable fact, so ``graph`` should
        ignore facts it already holds.
        """
        if not -1.0 <= similarity <= 1.0:
            raise ValueError(f"similarity must be a cosine in [-1, 1], got {similarity!r}")
        merged = self._merge_duplicates(similarity)
        facts = stable_facts(self._fact_rows(), min_support)
        if graph is not None:
            for fact in facts:
                graph.add_fact(fact.subject, fact.relation, fact.object, fact.time)
        return ConsolidationReport(merged=merged, exported=len(facts) if graph else 0, stable_facts=facts)

    def _fact_rows(self) -> list[FactRow]:
        rows = self._db.execute(
            "SELECT id, time, subject, relation, object, support FROM events "
            "WHERE subject IS NOT NULL"
        ).fetchall()
        return [FactRow(*row) for row in rows]

    def _merge_duplicates(self, similarity: float) -> int:
        survivors, duplicates = self._plan_merges(similarity)
        if not duplicates:
            return 0

        db = self._db
        with storage.transaction(db):
            db.executemany(
                "UPDATE events SET access_count = access_count + ?, support = support + ? WHERE id = ?",
                [(access, support, event_id) for event_id, access, support in survivors],
            )
            for chunk in storage.chunks(duplicates):
                db.execute(f"DELETE FROM events WHERE id IN ({','.join('?' * len(chunk))})", chunk)

        removed = np.array(sorted(duplicates), dtype=np.int64)
        self._catalog.remove(removed)
        self._index.remove(removed)
        self._index.maintain(self._all_vectors)
        self._index_dirty = True
        logger.info("consolidation merged %d duplicate events into %d", len(duplicates), len(survivors))
        return len(duplicates)

    def _plan_merges(self, similarity: float) -> tuple[list[tuple[int, int, int]], list[int]]:
        """Return ``(survivors, duplicates)``: survivors as ``(id, added access count,
        added support)`` and the ids of the events merged into them."""
        runs = run_ids(self._fact_rows())
        rows = self._db.execute(
            "SELECT id, episode, subject, relation, object, key, access_count, support "
            "FROM events ORDER BY time, id"
        ).fetchall()
        # Candidates share episode, triple and run, so a merge never crosses a contradiction.
        groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            event_id, episode, subject, relation, obj = row[:5]
            group_key = (episode, subject, relation, obj, runs.get(event_id))
            groups.setdefault(group_key, []).append(row)

        survivors: list[tuple[int, int, int]] = []
        duplicates: list[int] = []
        for members in groups.values():
            if len(members) < 2:
                continue
            keys = np.stack([np.frombuffer(member[5], dtype=np.float32) for member in members])
            for group in duplicate_groups(keys, similarity):
                survivor, *merged = (members[i] for i in group)
                survivors.append((survivor[0], sum(m[6] for m in merged), sum(m[7] for m in merged)))
                duplicates.extend(m[0] for m in merged)
        return survivors, duplicates


def _event_from_row(row: tuple[Any, ...]) -> Event:
    (event_id, key, value, text, subject, relation, obj, time, wall_time, episode,
     access_count, support) = row
    return Event(
        id=event_id,
        key=np.frombuffer(key, dtype=np.float32).copy(),
        value=None if value is None else np.frombuffer(value, dtype=np.float32).copy(),
        text=text,
        triple=Triple(subject, relation, obj) if subject is not None else None,
        time=time,
        wall_time=wall_time,
        episode=episode,
        access_count=access_count,
        support=support,
    )


def storage_corrupt(directory: Path | None, error: Exception) -> MemoryStoreError:
    return CorruptStoreError(
        f"{directory / DB_FILE if directory else 'in-memory database'} is damaged ({error}); "
        "restore it from a backup or move it away and open an empty directory"
    )


def _prepare_directory(directory: Path) -> Path:
    """Create ``directory`` if needed, raising StorePathError with the fix when impossible."""
    if directory.exists() and not directory.is_dir():
        raise StorePathError(
            f"store path {directory} is a file, but a store is a directory; "
            "pass a directory path (it is created if missing)"
        )
    if not directory.exists():
        parent = directory.parent
        if not parent.is_dir():
            problem = "is not a directory" if parent.exists() else "does not exist"
            raise StorePathError(
                f"cannot create store {directory}: parent {parent} {problem}; "
                "create the parent directory first or choose another path"
            )
        try:
            directory.mkdir()
        except OSError as error:
            raise StorePathError(
                f"cannot create store directory {directory}: {error.strerror}; "
                "choose a writable location"
            ) from error
    return directory


def _lock_directory(directory: Path) -> int:
    """Open and exclusively lock ``directory/lock``; the kernel releases it when the process dies."""
    lock_path = directory / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise StorePathError(
            f"store directory {directory} is not writable ({error.strerror}); "
            "fix its permissions or choose a writable location"
        ) from error
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise StoreLockedError(
                f"store {directory} is already open in another EpisodicMemory object; "
                "close that one first"
            ) from error
        raise StorePathError(f"cannot lock store {directory}: {error.strerror}") from error
    return fd
