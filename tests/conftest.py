"""Shared fixtures: the public data sets live in ../shared/data beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def babi_dir() -> Path:
    path = SHARED_DATA / "babi"
    if not (path / "en").is_dir():
        pytest.skip(f"bAbI data not found at {path}")
    return path


@pytest.fixture(scope="session")
def clutrr_dir() -> Path:
    path = SHARED_DATA / "clutrr"
    if not path.is_dir():
        pytest.skip(f"CLUTRR data not found at {path}")
    return path
