"""SQLite layer of the episodic memory: schema, validation on open, transactions.

SQLite is the source of truth. The events table keeps every field of an event,
including its key and value vectors as float32 blobs, so the faiss index can always be
rebuilt from it. The database runs in WAL mode, and each write method of the store is
one transaction, so a process killed mid-write loses at most the uncommitted write.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .errors import CorruptStoreError, ForeignStoreError, StoreVersionError

logger = logging.getLogger(__name__)

FORMAT_NAME = "neurosym.memory"
FORMAT_VERSION = 1
# PRAGMA application_id marks the file as ours: the ASCII bytes "NSME".
APPLICATION_ID = 0x4E534D45

SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    episode TEXT NOT NULL,
    text TEXT,
    subject TEXT,
    relation TEXT,
    object TEXT,
    key BLOB NOT NULL,
    value BLOB,
    access_count INTEGER NOT NULL DEFAULT 0,
    support INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX events_by_subject_relation ON events (subject, relation, time, id);
CREATE INDEX events_by_object ON events (object);
CREATE INDEX events_by_time ON events (time);
"""

EVENT_COLUMNS = (
    "id, key, value, text, subject, relation, object, time, wall_time, episode, "
    "access_count, support"
)


def connect(db_path: Path | None) -> sqlite3.Connection:
    """Open a connection in autocommit mode; transactions are explicit (see :func:`transaction`)."""
    target = ":memory:" if db_path is None else str(db_path)
    return sqlite3.connect(target, isolation_level=None)


def _table_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def _read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def inspect_database(conn: sqlite3.Connection, db_path: Path | None) -> dict[str, str] | None:
    """Return the meta table of an existing store, None for an empty database, or raise.

    Raises CorruptStoreError when the file is not a readable database,
    ForeignStoreError when it is a database written by something else, and
    StoreVersionError when its format version is newer than this code.
    The checks only read, so a rejected file is left untouched.
    """
    where = str(db_path) if db_path is not None else "in-memory database"
    try:
        tables = _table_names(conn)
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if not tables and application_id == 0:
            return None
        if application_id != APPLICATION_ID or not {"meta", "events"} <= tables:
            raise ForeignStoreError(
                f"{where} is an SQLite database but not an episodic memory store "
                f"(application_id={application_id:#x}, tables={sorted(tables)}); "
                "open an empty or new directory instead, or move the file away"
            )
        meta = _read_meta(conn)
    except sqlite3.DatabaseError as error:
        raise CorruptStoreError(
            f"{where} cannot be read as an SQLite database ({error}); restore it from a "
            "backup or move it away and open an empty directory"
        ) from error
    if meta.get("format") != FORMAT_NAME:
        raise ForeignStoreError(
            f"{where} has format {meta.get('format')!r}, expected {FORMAT_NAME!r}; "
            "open an empty or new directory instead"
        )
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise StoreVersionError(
            f"{where} uses store format version {version}, but this neurosym reads at most "
            f"version {FORMAT_VERSION}; upgrade neurosym"
        )
    return meta


def configure(conn: sqlite3.Connection, synchronous: str, in_memory: bool) -> None:
    """Switch to WAL mode and set the durability level."""
    if not in_memory:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            logger.warning("SQLite rejected WAL mode and uses journal mode %s instead", mode)
    conn.execute(f"PRAGMA synchronous={synchronous}")


def create_schema(conn: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Create the tables and write ``meta`` in one transaction."""
    with transaction(conn):
        for statement in SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={FORMAT_VERSION}")
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", sorted(meta.items()))


def write_meta(conn: sqlite3.Connection, items: dict[str, str]) -> None:
    with transaction(conn):
        conn.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", sorted(items.items())
        )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def next_event_id(conn: sqlite3.Connection) -> int:
    """Return the id AUTOINCREMENT would assign next; call inside a write transaction."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return (row[0] if row else 0) + 1


def chunks(values: list[int], size: int = 900) -> Iterator[list[int]]:
    """Yield slices short enough for SQLite's limit on bound parameters."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def read_vectors(conn: sqlite3.Connection, count: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Read every event's id and key vector, ordered by id, into preallocated arrays."""
    ids = np.empty(count, dtype=np.int64)
    vectors = np.empty((count, dim), dtype=np.float32)
    cursor = conn.execute("SELECT id, key FROM events ORDER BY id")
    row = 0
    while batch := cursor.fetchmany(4096):
        end = row + len(batch)
        if end > count:
            raise CorruptStoreError(f"events table contains more than the expected {count} rows; reopen the store")
        ids[row:end] = [event_id for event_id, _ in batch]
        vectors[row:end] = np.frombuffer(b"".join(blob for _, blob in batch), dtype=np.float32).reshape(
            len(batch), dim
        )
        row = end
    if row != count:
        raise CorruptStoreError(f"events table contains {row} rows, expected {count}; reopen the store")
    return ids, vectors
