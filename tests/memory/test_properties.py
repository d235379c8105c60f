"""Property tests: random add/delete sequences, then reopen, equal a plain Python model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from memory_test_utils import brute_force_top

from neurosym.memory import EpisodicMemory, MemoryConfig

DIM = 8

operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(1, 5), st.integers(0, 9)),
        st.tuples(st.just("delete"), st.integers(0, 30), st.integers(0, 0)),
        st.tuples(st.just("reopen"), st.integers(0, 0), st.integers(0, 0)),
    ),
    max_size=15,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=operations, kind=st.sampled_from(["flat", "hnsw"]), seed=st.integers(0, 2**16))
def test_store_matches_model_after_reopen(ops, kind, seed):
    rng = np.random.default_rng(seed)
    model: dict[int, tuple[np.ndarray, int]] = {}
    config = MemoryConfig(index=kind, hnsw_rebuild_fraction=0.3)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store"
        memory = EpisodicMemory.open(path, dim=DIM, config=config)
        try:
            for op, count, time in ops:
                if op == "add":
                    keys = rng.standard_normal((count, DIM)).astype(np.float32)
                    ids = memory.add_batch(keys, times=[time] * count)
                    for event_id, key in zip(ids, keys, strict=True):
                        model[event_id] = (key / np.linalg.norm(key), time)
                elif op == "delete":
                    removed = memory.delete([count])
                    assert removed == (1 if count in model else 0)
                    model.pop(count, None)
                else:
                    memory.close()
                    memory = EpisodicMemory.open(path)
            memory.close()
            memory = EpisodicMemory.open(path)

            events = list(memory.events())
            assert [e.id for e in events] == sorted(model)
            for event in events:
                key, time = model[event.id]
                assert np.allclose(event.key, key, atol=1e-6)
                assert event.time == time
            if model:
                ids = np.array(sorted(model))
                keys = np.stack([model[i][0] for i in ids])
                query = rng.standard_normal(DIM)
                k = min(3, len(ids))
                found = [h.id for h in memory.search(query, k)]
                if kind == "flat":
                    assert found == brute_force_top(keys, ids, query, k)
                else:
                    assert len(found) == k
                    assert set(found) <= set(ids.tolist())
        finally:
            memory.close()
