"""Episodic memory: timestamped events with vector search, persisted in SQLite and faiss.

Depends on numpy, faiss and sqlite3 only, never on torch. See ``docs/memory.md``.
"""

from .benchmark import benchmark_memory
from .config import INDEX_KINDS, IndexKind, MemoryConfig
from .episodic import EpisodicMemory, FactSink
from .errors import (
    CorruptStoreError,
    DimensionMismatchError,
    EventNotFoundError,
    ForeignStoreError,
    InvalidEventError,
    InvalidVectorError,
    MemoryStoreError,
    StoreClosedError,
    StoreLockedError,
    StorePathError,
    StoreVersionError,
)
from .index import INDEX_REGISTRY
from .records import ConsolidationReport, Event, Fact, Hit, Triple

__all__ = [
    "INDEX_KINDS",
    "INDEX_REGISTRY",
    "ConsolidationReport",
    "CorruptStoreError",
    "DimensionMismatchError",
    "EpisodicMemory",
    "Event",
    "EventNotFoundError",
    "Fact",
    "FactSink",
    "ForeignStoreError",
    "Hit",
    "IndexKind",
    "InvalidEventError",
    "InvalidVectorError",
    "MemoryConfig",
    "MemoryStoreError",
    "StoreClosedError",
    "StoreLockedError",
    "StorePathError",
    "StoreVersionError",
    "Triple",
    "benchmark_memory",
]
