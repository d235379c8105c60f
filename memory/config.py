"""Configuration of the episodic memory store and its vector index."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

IndexKind = Literal["flat", "hnsw", "ivf"]
INDEX_KINDS: tuple[str, ...] = get_args(IndexKind)

Synchronous = Literal["NORMAL", "FULL"]


def check_index_kind(kind: str) -> str:
    """Return ``kind`` unchanged, or raise ValueError listing the valid index kinds."""
    if kind not in INDEX_KINDS:
        raise ValueError(
            f"unknown index kind {kind!r}; valid kinds are {', '.join(INDEX_KINDS)}"
        )
    return kind


@dataclass(frozen=True)
class MemoryConfig:
    """Settings of one episodic memory store.

    The HNSW and IVF defaults were chosen with :func:`neurosym.memory.benchmark_memory`
    on clustered synthetic data, and ``docs/memory.md`` records the measured recall and
    latency. Tune them for other data.

    Attributes:
        index: vector index kind. ``"flat"`` is exact search, ``"hnsw"`` a
            graph index, ``"ivf"`` an inverted-file index over k-means cells.
        recency_weight: weight ``λ`` of the recency term in the search score.
        hnsw_m: neighbours per node in the HNSW graph (faiss ``M``).
        hnsw_ef_construction: candidate list size while building the HNSW graph.
        hnsw_ef_search: candidate list size while searching the HNSW graph.
        hnsw_rebuild_fraction: HNSW cannot remove vectors, so deleted ids become
            tombstones that searches skip. The graph is rebuilt without them when the
            tombstones exceed this fraction of the vectors in the graph.
        ivf_nlist: number of k-means cells, or None for ``4·√n`` chosen at training time.
        ivf_nprobe: number of cells visited per query.
        ivf_min_points_per_cell: the IVF index is trained once the store contains this
            many vectors per cell; until then the ``"ivf"`` kind searches exactly.
        ivf_retrain_growth: the IVF index is retrained from all vectors when the store
            has grown by this factor since the last training.
        synchronous: SQLite ``synchronous`` pragma. In WAL mode ``"NORMAL"`` keeps every
            committed event through a process crash, and ``"FULL"`` also through a power
            loss or an operating-system crash, at the cost of an fsync per commit.
    """

    index: IndexKind = "flat"
    recency_weight: float = 0.5
    hnsw_m: int = 32
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    hnsw_rebuild_fraction: float = 0.25
    ivf_nlist: int | None = None
    ivf_nprobe: int = 24
    ivf_min_points_per_cell: int = 39
    ivf_retrain_growth: float = 4.0
    synchronous: Synchronous = "NORMAL"

    def __post_init__(self) -> None:
        check_index_kind(self.index)
        if not self.recency_weight >= 0.0:
            raise ValueError(f"recency_weight must be >= 0, got {self.recency_weight!r}")
        for name in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_nprobe",
                     "ivf_min_points_per_cell"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.ivf_nlist is not None and (not isinstance(self.ivf_nlist, int) or self.ivf_nlist < 1):
            raise ValueError(f"ivf_nlist must be a positive int or None, got {self.ivf_nlist!r}")
        if not 0.0 < self.hnsw_rebuild_fraction <= 1.0:
            raise ValueError(
                f"hnsw_rebuild_fraction must be in (0, 1], got {self.hnsw_rebuild_fraction!r}"
            )
        if not self.ivf_retrain_growth > 1.0:
            raise ValueError(f"ivf_retrain_growth must be > 1, got {self.ivf_retrain_growth!r}")
        if self.synchronous not in get_args(Synchronous):
            raise ValueError(
                f"synchronous must be one of {', '.join(get_args(Synchronous))}, "
                f"got {self.synchronous!r}"
            )

    def to_json(self) -> str:
        """Serialise the config to a JSON object string."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MemoryConfig:
        """Parse a config written by :meth:`to_json`, ignoring fields this version lacks."""
        data: dict[str, Any] = json.loads(text)
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{name: value for name, value in data.items() if name in known})

    def index_settings(self) -> dict[str, Any]:
        """Return the fields that shape the saved index, so a change forces a rebuild."""
        if self.index == "hnsw":
            return {"index": "hnsw", "m": self.hnsw_m,
                    "ef_construction": self.hnsw_ef_construction}
        if self.index == "ivf":
            return {"index": "ivf", "nlist": self.ivf_nlist}
        return {"index": "flat"}
