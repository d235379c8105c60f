"""Fixtures for the episodic memory tests."""

from __future__ import annotations

import numpy as np
import pytest
from memory_test_utils import DIM

from neurosym.memory import EpisodicMemory


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def memory():
    store = EpisodicMemory.open(None, dim=DIM)
    yield store
    store.close()
