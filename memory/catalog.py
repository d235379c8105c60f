"""In-memory columns of the live events' ids, times and episodes.

Filters (``as_of``, ``since``, ``episode``) and recency scores need the time and episode
of many candidate ids per search. Asking SQLite for them would cost a query per search,
so the store mirrors these three columns in numpy arrays sorted by id (about 20 bytes
per event) and keeps them in step with every committed write.
"""

from __future__ import annotations

import faiss
import numpy as np


class Catalog:
    """Sorted id, time and episode-code columns of the live events."""

    def __init__(self) -> None:
        self.ids = np.empty(0, dtype=np.int64)
        self.times = np.empty(0, dtype=np.int64)
        self.episodes = np.empty(0, dtype=np.int32)
        self.episode_codes: dict[str, int] = {}
        self._live_bitmap: np.ndarray | None = None
        self._max_time: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def _codes(self, episodes: list[str]) -> np.ndarray:
        codes = np.empty(len(episodes), dtype=np.int32)
        for row, episode in enumerate(episodes):
            codes[row] = self.episode_codes.setdefault(episode, len(self.episode_codes))
        return codes

    def append(self, ids: np.ndarray, times: np.ndarray, episodes: list[str]) -> None:
        """Add events whose ids are all larger than every id already present."""
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])
        self.times = np.concatenate([self.times, np.asarray(times, dtype=np.int64)])
        self.episodes = np.concatenate([self.episodes, self._codes(episodes)])
        self._live_bitmap = None
        self._max_time = None

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        self.ids = self.ids[keep]
        self.times = self.times[keep]
        self.episodes = self.episodes[keep]
        self._live_bitmap = None
        self._max_time = None

    def times_of(self, ids: np.ndarray) -> np.ndarray:
        """Return the times of ``ids``, which must all be live."""
        return self.times[np.searchsorted(self.ids, ids)]

    def max_time(self) -> int | None:
        """Return (and cache) the latest time of any live event, or None when empty."""
        if self._max_time is None and len(self.times):
            self._max_time = int(self.times.max())
        return self._max_time

    def mask(self, as_of: int | None, since: int | None, episode: str | None) -> np.ndarray | None:
        """Return a boolean mask over the live events that pass the filters, or None without filters."""
        if as_of is None and since is None and episode is None:
            return None
        mask = np.ones(len(self.ids), dtype=bool)
        if as_of is not None:
            mask &= self.times <= as_of
        if since is not None:
            mask &= self.times >= since
        if episode is not None:
            code = self.episode_codes.get(episode)
            if code is None:
                mask[:] = False
            else:
                mask &= self.episodes == code
        return mask

    def bitmap(self, ids: np.ndarray) -> np.ndarray:
        """Return a little-endian bitmap with bit ``id`` set for each of ``ids``."""
        size = int(self.ids[-1]) // 8 + 1 if len(self.ids) else 1
        bits = np.zeros(size * 8, dtype=bool)
        bits[ids] = True
        return np.packbits(bits, bitorder="little")

    def live_bitmap(self) -> np.ndarray:
        """Return (and cache) the bitmap of every live id."""
        if self._live_bitmap is None:
            self._live_bitmap = self.bitmap(self.ids)
        return self._live_bitmap


class BitmapSelector:
    """A faiss ``IDSelectorBitmap`` that keeps its numpy bitmap alive while in use."""

    def __init__(self, bitmap: np.ndarray) -> None:
        self.bitmap = np.ascontiguousarray(bitmap, dtype=np.uint8)
        self.selector = faiss.IDSelectorBitmap(len(self.bitmap), faiss.swig_ptr(self.bitmap))
