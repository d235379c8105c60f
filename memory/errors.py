"""Errors raised by the episodic memory store.

Every class derives from :class:`MemoryStoreError`, which derives from
:class:`neurosym.errors.NeurosymError`, so callers can catch one family or one case.
"""

from __future__ import annotations

from neurosym.errors import NeurosymError


class MemoryStoreError(NeurosymError):
    """Base class of every error the episodic memory raises on purpose."""


class DimensionMismatchError(MemoryStoreError, ValueError):
    """A vector's dimension differs from the dimension of the store."""


class InvalidVectorError(MemoryStoreError, ValueError):
    """A vector contains NaN or infinity, is all zeros, or has the wrong shape."""


class InvalidEventError(MemoryStoreError, ValueError):
    """An event field (time, episode, text, triple) has an invalid type or value."""


class EventNotFoundError(MemoryStoreError, KeyError):
    """No event with the requested id exists in the store."""


class CorruptStoreError(MemoryStoreError):
    """The SQLite file of a store cannot be read as a database."""


class ForeignStoreError(MemoryStoreError):
    """The SQLite file is a valid database that was not written by this store."""


class StoreVersionError(MemoryStoreError):
    """The store was written in a format version this code cannot read."""


class StorePathError(MemoryStoreError):
    """The store path is unusable: missing parent, not a directory, or not writable."""


class StoreLockedError(MemoryStoreError):
    """Another open EpisodicMemory object (in any process) holds the store's lock."""


class StoreClosedError(MemoryStoreError):
    """The store was used after :meth:`EpisodicMemory.close`."""
