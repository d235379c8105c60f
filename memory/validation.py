"""Input checks for the episodic memory; each error names the bad value and the fix."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DimensionMismatchError, InvalidEventError, InvalidVectorError
from .records import Triple


def as_key_matrix(keys: Any, dim: int, what: str = "key") -> np.ndarray:
    """Return ``keys`` as an L2-normalised float32 array of shape ``(n, dim)``.

    A 1-D input counts as one row. Rows must be finite and non-zero, because a zero
    vector has no direction and cosine similarity is undefined for it.
    """
    try:
        matrix = np.array(keys, dtype=np.float32, ndmin=2)
    except (TypeError, ValueError) as error:
        raise InvalidVectorError(
            f"{what} vectors must be numeric arrays of shape (n, {dim}); "
            f"conversion failed: {error}"
        ) from error
    if matrix.ndim != 2:
        raise InvalidVectorError(
            f"{what} vectors must be 1-D or 2-D, got shape {matrix.shape}; "
            f"pass one vector of shape ({dim},) or a batch of shape (n, {dim})"
        )
    if matrix.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} vectors have dimension {matrix.shape[1]}, but the store has dimension "
            f"{dim}; project or pad them to {dim}, or open a store created with dim="
            f"{matrix.shape[1]}"
        )
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InvalidVectorError(
            f"{what} vector at row {row} contains NaN or infinity; "
            "replace non-finite entries before adding or searching"
        )
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        row = int(np.flatnonzero(norms[:, 0] == 0)[0])
        raise InvalidVectorError(
            f"{what} vector at row {row} is all zeros and has no direction for cosine "
            "similarity; pass a non-zero vector"
        )
    return np.ascontiguousarray(matrix / norms, dtype=np.float32)


def as_value_vector(value: Any, row: int) -> np.ndarray | None:
    """Return a value vector as finite 1-D float32, or None."""
    if value is None:
        return None
    try:
        vector = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidVectorError(f"value vector at row {row} is not numeric: {error}") from error
    if vector.ndim != 1:
        raise InvalidVectorError(
            f"value vector at row {row} must be 1-D, got shape {vector.shape}; flatten it"
        )
    if not np.isfinite(vector).all():
        raise InvalidVectorError(
            f"value vector at row {row} contains NaN or infinity; replace non-finite entries"
        )
    return vector


def as_time(value: Any, name: str = "time") -> int:
    """Return a logical timestamp (or another integer argument) as a Python int.

    Floats and bools are rejected, because a silently truncated time would reorder events.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidEventError(
            f"{name} must be an int, got {value!r} of type {type(value).__name__}; "
            "round or convert it first"
        )
    if not -(2**63) <= int(value) < 2**63:
        raise InvalidEventError(f"{name}={value} does not fit in a signed 64-bit integer")
    return int(value)


def as_optional_time(value: Any, name: str) -> int | None:
    return None if value is None else as_time(value, name)


def as_triple(value: Any, row: int) -> Triple | None:
    """Return a ``(subject, relation, object)`` triple of non-empty strings, or None."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise InvalidEventError(
            f"triple at row {row} must be a (subject, relation, object) tuple, got {value!r}"
        )
    if not all(isinstance(part, str) and part for part in value):
        raise InvalidEventError(
            f"triple at row {row} must hold three non-empty strings, got {value!r}"
        )
    return Triple(*value)


def as_text(value: Any, row: int) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidEventError(f"text at row {row} must be a str or None, got {type(value).__name__}")


def as_episode(value: Any, row: int) -> str:
    if isinstance(value, str) and value:
        return value
    raise InvalidEventError(f"episode at row {row} must be a non-empty str, got {value!r}")


def as_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k <= 0:
        raise ValueError(f"k must be a positive int, got {k!r}; ask for at least one result")
    return int(k)


def per_row(values: Any, n: int, name: str) -> list[Any]:
    """Return ``values`` as a list of ``n`` items; None stands for n Nones."""
    if values is None:
        return [None] * n
    items = list(values)
    if len(items) != n:
        raise InvalidEventError(f"{name} has {len(items)} items but {n} keys were given; pass one per key")
    return items
