"""Atomic saving and loading of the faiss index file beside the SQLite database."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import faiss

logger = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
TEMP_PREFIX = INDEX_FILE + ".tmp-"


def save_index(index: faiss.Index, directory: Path) -> int:
    """Write ``index`` to ``directory/index.faiss`` and return the file size in bytes.

    The index goes to a temporary file in the same directory first, which is fsynced
    and then renamed over the old file with ``os.replace``. A crash at any point leaves
    either the old file or the new one, never a partial file under the final name.
    """
    final = directory / INDEX_FILE
    temp = directory / f"{TEMP_PREFIX}{os.getpid()}"
    try:
        faiss.write_index(index, str(temp))
        with open(temp, "rb") as handle:
            os.fsync(handle.fileno())
        size = temp.stat().st_size
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)
    return size


def load_index(directory: Path, expected_size: int | None) -> faiss.Index | None:
    """Read ``directory/index.faiss``, or return None when it is missing, stale in size or unreadable.

    The reason is logged, because the caller then rebuilds the index from SQLite.
    """
    path = directory / INDEX_FILE
    if not path.exists():
        if expected_size is not None:
            logger.warning("index file %s is missing; rebuilding it from SQLite", path)
        return None
    size = path.stat().st_size
    if expected_size is None or size != expected_size:
        logger.warning(
            "index file %s has %d bytes but the store recorded %s; rebuilding it from SQLite",
            path, size, expected_size,
        )
        return None
    try:
        return faiss.read_index(str(path))
    except RuntimeError as error:
        logger.warning("index file %s is corrupt (%s); rebuilding it from SQLite", path, error)
        return None


def remove_stale_temp_files(directory: Path) -> None:
    """Delete temporary index files that a crashed save left behind."""
    for temp in directory.glob(TEMP_PREFIX + "*"):
        logger.info("removing temporary index file %s left by an interrupted save", temp)
        temp.unlink(missing_ok=True)
