"""Bad input raises a typed error that names the value, and loses no data."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from memory_test_utils import DIM, unit_rows

from neurosym.errors import NeurosymError
from neurosym.memory import (
    CorruptStoreError,
    DimensionMismatchError,
    EpisodicMemory,
    EventNotFoundError,
    ForeignStoreError,
    InvalidEventError,
    InvalidVectorError,
    MemoryConfig,
    MemoryStoreError,
    StoreClosedError,
    StorePathError,
)


def test_error_hierarchy_roots_at_neurosym():
    assert issubclass(MemoryStoreError, NeurosymError)
    assert issubclass(DimensionMismatchError, ValueError)


def test_add_wrong_dimension(memory):
    with pytest.raises(DimensionMismatchError, match=f"dimension 5.*dimension {DIM}"):
        memory.add(np.ones(5))
    assert len(memory) == 0


def test_search_wrong_dimension(memory, rng):
    memory.add_batch(unit_rows(rng, 3))
    with pytest.raises(DimensionMismatchError, match="query"):
        memory.search(np.ones(DIM + 1), 1)


def test_add_batch_nan_row_stores_nothing(memory, rng):
    keys = unit_rows(rng, 4)
    keys[2, 0] = np.nan
    with pytest.raises(InvalidVectorError, match="row 2"):
        memory.add_batch(keys)
    assert len(memory) == 0


def test_add_inf_and_zero_vectors(memory):
    with pytest.raises(InvalidVectorError, match="NaN or infinity"):
        memory.add(np.full(DIM, np.inf))
    with pytest.raises(InvalidVectorError, match="all zeros"):
        memory.add(np.zeros(DIM))


def test_search_nan_query(memory, rng):
    memory.add_batch(unit_rows(rng, 3))
    with pytest.raises(InvalidVectorError):
        memory.search(np.full(DIM, np.nan), 1)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_search_invalid_k(memory, rng, k):
    memory.add_batch(unit_rows(rng, 3))
    with pytest.raises(ValueError, match="k must be a positive int"):
        memory.search(unit_rows(rng, 1)[0], k)


def test_add_invalid_time_and_triple(memory, rng):
    key = unit_rows(rng, 1)[0]
    with pytest.raises(InvalidEventError, match="time must be an int"):
        memory.add(key, time=1.5)
    with pytest.raises(InvalidEventError, match="triple"):
        memory.add(key, triple=("mary", "location"))
    with pytest.raises(InvalidEventError, match="episode"):
        memory.add(key, episode="")


def test_add_batch_length_mismatch(memory, rng):
    with pytest.raises(InvalidEventError, match="times has 2 items but 3 keys"):
        memory.add_batch(unit_rows(rng, 3), times=[1, 2])


def test_get_missing_event(memory):
    with pytest.raises(EventNotFoundError, match="42"):
        memory.get(42)


def test_unknown_index_kind_lists_valid_ones():
    with pytest.raises(ValueError, match="flat, hnsw, ivf"):
        MemoryConfig(index="annoy")


def test_open_corrupt_sqlite_keeps_file(tmp_path):
    store = tmp_path / "s"
    store.mkdir()
    garbage = bytes(range(256)) * 64
    (store / "events.sqlite3").write_bytes(garbage)
    with pytest.raises(CorruptStoreError, match="events.sqlite3"):
        EpisodicMemory.open(store, dim=DIM)
    assert (store / "events.sqlite3").read_bytes() == garbage


def test_open_foreign_sqlite_keeps_file(tmp_path):
    store = tmp_path / "s"
    store.mkdir()
    conn = sqlite3.connect(store / "events.sqlite3")
    conn.execute("CREATE TABLE customers (name TEXT)")
    conn.execute("INSERT INTO customers VALUES ('ada')")
    conn.commit()
    conn.close()
    with pytest.raises(ForeignStoreError, match="not an episodic memory store"):
        EpisodicMemory.open(store, dim=DIM)
    conn = sqlite3.connect(store / "events.sqlite3")
    assert conn.execute("SELECT name FROM customers").fetchall() == [("ada",)]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_open_dimension_mismatch(tmp_path, rng):
    with EpisodicMemory.open(tmp_path / "s", dim=DIM) as memory:
        memory.add_batch(unit_rows(rng, 3))
    with pytest.raises(DimensionMismatchError, match=f"dimension {DIM}, but dim=8"):
        EpisodicMemory.open(tmp_path / "s", dim=8)
    with EpisodicMemory.open(tmp_path / "s") as memory:
        assert len(memory) == 3


def test_open_new_store_needs_dim(tmp_path):
    with pytest.raises(StorePathError, match="pass dim="):
        EpisodicMemory.open(tmp_path / "s")


def test_open_missing_parent(tmp_path):
    with pytest.raises(StorePathError, match="does not exist"):
        EpisodicMemory.open(tmp_path / "no" / "such" / "store", dim=DIM)


def test_open_path_under_regular_file(tmp_path):
    # Root ignores chmod, so a path below a regular file is the unwritable location here.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorePathError, match="is not a directory"):
        EpisodicMemory.open(blocker / "store", dim=DIM)
    assert blocker.read_text() == "not a directory"


def test_open_path_is_a_file(tmp_path):
    target = tmp_path / "events.sqlite3"
    target.write_bytes(b"")
    with pytest.raises(StorePathError, match="is a file"):
        EpisodicMemory.open(target, dim=DIM)


def test_open_read_only_directory(tmp_path, monkeypatch):
    store = tmp_path / "s"
    store.mkdir()
    real_open = __import__("os").open

    def refuse_writes(path, flags, *args):
        if Path(path).parent == store:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr("neurosym.memory.episodic.os.open", refuse_writes)
    with pytest.raises(StorePathError, match="not writable"):
        EpisodicMemory.open(store, dim=DIM)


def test_closed_store_raises(tmp_path, rng):
    memory = EpisodicMemory.open(tmp_path / "s", dim=DIM)
    memory.close()
    memory.close()
    with pytest.raises(StoreClosedError):
        memory.add(unit_rows(rng, 1)[0])
    with pytest.raises(StoreClosedError):
        memory.latest("mary", "location")
