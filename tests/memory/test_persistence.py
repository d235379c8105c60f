"""Persistence: reopening, index repair, and crash safety under SIGKILL."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from memory_test_utils import DIM, brute_force_top, unit_rows

from neurosym.memory import EpisodicMemory, MemoryConfig, StoreLockedError


def fill(memory: EpisodicMemory, rng: np.random.Generator, n: int = 60) -> np.ndarray:
    keys = unit_rows(rng, n)
    memory.add_batch(
        keys,
        times=rng.integers(0, 20, size=n).tolist(),
        texts=[f"sentence {i}" for i in range(n)],
        triples=[(f"e{i % 5}", "rel", f"o{i % 7}") if i % 2 else None for i in range(n)],
        values=[np.full(3, i, dtype=np.float32) if i % 3 == 0 else None for i in range(n)],
        episodes=[f"ep{i % 4}" for i in range(n)],
    )
    return keys


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_reopen_equals_original(tmp_path, rng, kind):
    config = MemoryConfig(index=kind, ivf_nlist=2)
    queries = rng.standard_normal((5, DIM))
    with EpisodicMemory.open(tmp_path / "store", dim=DIM, config=config) as memory:
        fill(memory, rng, 100)
        memory.delete([3, 4])
        before_events = list(memory.events())
        before_hits = [[(h.id, h.score) for h in hits]
                       for hits in memory.search(queries, 5, as_of=15, recency_half_life=4.0)]
    with EpisodicMemory.open(tmp_path / "store") as reopened:
        assert reopened.config == config
        after_hits = [[(h.id, h.score) for h in hits]
                      for hits in reopened.search(queries, 5, as_of=15, recency_half_life=4.0)]
        after_events = list(reopened.events())
    assert after_hits == before_hits
    # The search above counted one access per hit, in both stores.
    assert [e.id for e in after_events] == [e.id for e in before_events]
    for before, after in zip(before_events, after_events, strict=True):
        assert after.key.tobytes() == before.key.tobytes()
        assert after.text == before.text
        assert after.triple == before.triple
        assert after.time == before.time
        assert after.episode == before.episode
        assert (after.value is None) == (before.value is None)


def test_reopen_missing_index_rebuilds(tmp_path, rng, caplog):
    with EpisodicMemory.open(tmp_path / "s", dim=DIM) as memory:
        keys = fill(memory, rng)
    (tmp_path / "s" / "index.faiss").unlink()
    with caplog.at_level(logging.WARNING, logger="neurosym.memory"):
        reopened = EpisodicMemory.open(tmp_path / "s")
    assert "missing" in caplog.text
    query = rng.standard_normal(DIM)
    assert [h.id for h in reopened.search(query, 5)] == brute_force_top(keys, np.arange(1, 61), query, 5)
    reopened.close()


def test_reopen_corrupt_index_rebuilds(tmp_path, rng, caplog):
    with EpisodicMemory.open(tmp_path / "s", dim=DIM) as memory:
        keys = fill(memory, rng)
    index_file = tmp_path / "s" / "index.faiss"
    size = index_file.stat().st_size
    index_file.write_bytes(b"\x00garbage" * (size // 8) + b"\x00" * (size % 8))
    with caplog.at_level(logging.WARNING, logger="neurosym.memory"):
        reopened = EpisodicMemory.open(tmp_path / "s")
    assert "corrupt" in caplog.text
    query = rng.standard_normal(DIM)
    assert [h.id for h in reopened.search(query, 5)] == brute_force_top(keys, np.arange(1, 61), query, 5)
    reopened.close()


def test_reopen_stale_index_is_updated(tmp_path, rng, caplog):
    memory = EpisodicMemory.open(tmp_path / "s", dim=DIM, config=MemoryConfig(index="hnsw"))
    keys = fill(memory, rng)
    memory.flush()
    more = unit_rows(rng, 10)
    memory.add_batch(more)
    memory.delete([1, 2])
    # Drop the object without close(), as a crash would: the saved index lacks the
    # last writes, but SQLite has them.
    memory._conn.close()
    import os
    os.close(memory._lock_fd)
    with caplog.at_level(logging.WARNING, logger="neurosym.memory"):
        reopened = EpisodicMemory.open(tmp_path / "s")
    assert "stale" in caplog.text
    all_keys = np.concatenate([keys, more])[2:]
    query = rng.standard_normal(DIM)
    expected = brute_force_top(all_keys, np.arange(3, 71), query, 5)
    assert [h.id for h in reopened.search(query, 5)] == expected
    reopened.close()


def test_reopen_with_new_kind_rebuilds(tmp_path, rng):
    with EpisodicMemory.open(tmp_path / "s", dim=DIM) as memory:
        keys = fill(memory, rng)
    with EpisodicMemory.open(tmp_path / "s", config=MemoryConfig(index="hnsw")) as memory:
        assert memory.config.index == "hnsw"
        query = keys[7]
        assert memory.search(query, 1)[0].id == 8


def test_open_twice_is_locked(tmp_path):
    with EpisodicMemory.open(tmp_path / "s", dim=DIM):
        with pytest.raises(StoreLockedError):
            EpisodicMemory.open(tmp_path / "s")


def test_in_memory_store_leaves_no_files(tmp_path, rng, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with EpisodicMemory.open(None, dim=DIM) as memory:
        fill(memory, rng)
    assert list(tmp_path.iterdir()) == []


WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from neurosym.memory import EpisodicMemory, MemoryConfig

    path, kind = sys.argv[1], sys.argv[2]
    memory = EpisodicMemory.open(path, dim={dim}, config=MemoryConfig(index=kind))
    rng = np.random.default_rng(7)
    batch = 0
    while True:
        keys = rng.standard_normal((50, {dim})).astype(np.float32)
        ids = memory.add_batch(keys, times=[batch] * 50, texts=[f"b{{batch}}"] * 50)
        if batch == 3:
            memory.flush()
        print(batch, ids[0], ids[-1], flush=True)
        batch += 1
    """
).format(dim=DIM)


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_sigkill_mid_write_keeps_committed_events(tmp_path, kind):
    store = tmp_path / "s"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store), kind],
        stdout=subprocess.PIPE, text=True,
    )
    committed = []
    for line in child.stdout:
        committed.append(tuple(int(x) for x in line.split()))
        if len(committed) == 12:
            break
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with EpisodicMemory.open(store) as memory:
        last_id = committed[-1][2]
        assert len(memory) >= last_id
        for batch, first_id, end_id in committed:
            assert memory.get(first_id).text == f"b{batch}"
            assert memory.get(end_id).time == batch
        events = list(memory.events())
        # Batches are whole: each has exactly 50 events.
        assert len(events) % 50 == 0
        keys = np.stack([e.key for e in events])
        ids = np.array([e.id for e in events])
        query = keys[5]
        assert [h.id for h in memory.search(query, 3)] == brute_force_top(keys, ids, query, 3)
