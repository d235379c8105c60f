"""Named task suites: the sets of tasks that ``train --suite`` and ``eval --suite`` use.

- ``core``: every built-in generator task (no data needed);
- ``babi``: the 20 bAbI question-answering tasks, trained jointly as the literature does;
- ``clutrr``: the CLUTRR kinship benchmark;
- ``all``: the three together.
"""

from __future__ import annotations

from neurosym.errors import ConfigError
from neurosym.tasks import get_task, list_tasks

SUITE_NAMES = ("core", "babi", "clutrr", "all")

# The bAbI training-set sizes and the loader's variant folder for each.
BABI_SETS = {"1k": "en", "10k": "en-10k"}


def suite_tasks(name: str) -> list[str]:
    """Return the task names of suite ``name`` in their natural order."""
    if name not in SUITE_NAMES:
        raise ConfigError(f"unknown suite {name!r}; valid suites: {', '.join(SUITE_NAMES)}")
    names = list_tasks()
    if name == "core":
        return [task for task in names if not get_task(task).needs_data]
    if name == "babi":
        return [task for task in names if task.startswith("babi.")]
    if name == "clutrr":
        return ["clutrr"]
    return [task for suite in ("core", "babi", "clutrr") for task in suite_tasks(suite)]


def babi_variant(babi_set: str) -> str:
    """Return the bAbI loader variant (``en`` or ``en-10k``) for a training-set size ``1k`` or ``10k``."""
    if babi_set not in BABI_SETS:
        raise ConfigError(f"unknown bAbI set {babi_set!r}; valid: {', '.join(BABI_SETS)}")
    return BABI_SETS[babi_set]
