"""The task registry: every task has a dotted name such as ``babi.qa1``.

A task either generates its examples (``generate``) or loads them from files the
user gives (``load``). Both are reached through :meth:`Task.examples`, and splits
are reproducible from ``(task, seed, split, difficulty)``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from neurosym.errors import DataError, TaskError
from neurosym.tasks.example import Example

logger = logging.getLogger(__name__)

Split = Literal["train", "valid", "test"]
SPLITS: tuple[str, ...] = get_args(Split)

DATA_ENV_VAR = "NEUROSYM_DATA"

_REGISTRY: dict[str, Callable[[], Task]] = {}
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


_SPACE_AROUND_SYMBOL = re.compile(r"\s*([^\w\s])\s*")


def normalize_answer(text: str) -> str:
    """Lower-case, collapse white space, and drop spaces around symbols.

    A model's decoded answer has spaces between all pieces (``3 / 4``, ``apple ,
    football``); the gold answer has none (``3/4``, ``apple,football``).
    """
    collapsed = " ".join(text.strip().lower().split())
    return _SPACE_AROUND_SYMBOL.sub(r"\1", collapsed)


class Task(ABC):
    """A reasoning task: a source of :class:`Example` and a scoring rule.

    Subclasses set ``name`` and ``description``, list their difficulty knobs with
    defaults in ``difficulty``, and name their evaluation splits in ``eval_splits``:
    a label such as ``"test_ood"`` mapped to ``(split, difficulty overrides)``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    difficulty: ClassVar[dict[str, Any]] = {}
    eval_splits: ClassVar[dict[str, tuple[str, dict[str, Any]]]] = {"test": ("test", {})}
    needs_data: ClassVar[bool] = False
    # Program mode reads this task's stories one sentence at a time (neurosym.tasks.reading).
    reads_by_sentence: ClassVar[bool] = False
    default_sizes: ClassVar[dict[str, int]] = {"train": 10000, "valid": 500, "test": 1000}

    def __init__(self) -> None:
        # Remarks about the data that a report must carry (e.g. a fallback file).
        self.notes: list[str] = []

    def examples(
        self,
        split: str,
        n: int | None = None,
        seed: int = 0,
        data_dir: str | os.PathLike[str] | None = None,
        **difficulty: Any,
    ) -> list[Example]:
        """Return the examples of one split (the first ``n`` of it when ``n`` is given)."""
        check_split(split)
        if n is not None and n < 0:
            raise TaskError(f"n must be >= 0, got {n}")
        knobs = self.resolve_difficulty(difficulty)
        examples = self._examples(split, n, seed, data_dir, knobs)
        for example in examples:
            example.meta.setdefault("task", self.name)
            example.meta.setdefault("split", split)
        return examples if n is None else examples[:n]

    def parse_knob(self, key: str, text: str) -> Any:
        """Convert a knob value written on the command line to the type of its default.

        Integers and floats parse as numbers, booleans accept true/false/yes/no/1/0 in
        any case, and knobs whose default is a string or None keep the text (so
        ``clutrr_task=1.10`` stays the string ``"1.10"``).
        """
        if key not in self.difficulty:
            valid = ", ".join(sorted(self.difficulty)) or "none"
            raise TaskError(f"task {self.name!r} has no difficulty knob {key!r}; valid knobs: {valid}")
        default = self.difficulty[key]
        try:
            if isinstance(default, bool):
                lowered = text.strip().lower()
                if lowered not in _BOOLEANS:
                    raise ValueError(text)
                return _BOOLEANS[lowered]
            if isinstance(default, int):
                return int(text)
            if isinstance(default, float):
                return float(text)
        except ValueError as exc:
            kind = type(default).__name__
            raise TaskError(f"knob {key}={text!r} of task {self.name!r} must be a {kind}, like {default!r}") from exc
        return text

    def resolve_difficulty(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """Merge overrides into the defaults; an unknown knob raises TaskError."""
        unknown = sorted(set(overrides) - set(self.difficulty))
        if unknown:
            valid = ", ".join(sorted(self.difficulty)) or "none"
            raise TaskError(f"task {self.name!r} has no difficulty knob {unknown}; valid knobs: {valid}")
        return {**self.difficulty, **overrides}

    @abstractmethod
    def _examples(
        self,
        split: str,
        n: int | None,
        seed: int,
        data_dir: str | os.PathLike[str] | None,
        knobs: dict[str, Any],
    ) -> list[Example]: ...

    def score(self, prediction: str, example: Example) -> float:
        """Exact match after :func:`normalize_answer`: 1.0 or 0.0."""
        return float(normalize_answer(prediction) == normalize_answer(example.answer))


class GeneratorTask(Task):
    """A task whose examples come from a seeded generator (no files needed)."""

    def _examples(self, split, n, seed, data_dir, knobs):  # noqa: ANN001 - see Task
        count = self.default_sizes[split] if n is None else n
        rng_seed = derive_seed(self.name, seed, split, knobs)
        return self.generate(count, rng_seed, split, **knobs)

    @abstractmethod
    def generate(self, n: int, seed: int, split: str, **knobs: Any) -> list[Example]:
        """Generate ``n`` examples from an integer seed."""


def check_range_knobs(knobs: dict[str, Any], low_key: str, high_key: str, minimum: int, maximum: int) -> None:
    """Raise TaskError unless ``minimum <= knobs[low_key] <= knobs[high_key] <= maximum`` as integers."""
    low, high = knobs[low_key], knobs[high_key]
    if not (isinstance(low, int) and isinstance(high, int)) or not minimum <= low <= high <= maximum:
        raise TaskError(
            f"need integers {minimum} <= {low_key} <= {high_key} <= {maximum}, got "
            f"{low_key}={low!r}, {high_key}={high!r}"
        )


def derive_seed(task_name: str, seed: int, split: str, knobs: dict[str, Any]) -> int:
    """Return a stable 63-bit seed for ``(task, seed, split, difficulty)``.

    Python's ``hash`` is salted per process, so a digest is used instead.
    """
    key = json.dumps([task_name, seed, split, knobs], sort_keys=True, default=str)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") >> 1


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise TaskError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


def resolve_data_dir(data_dir: str | os.PathLike[str] | None, task_name: str) -> Path:
    """Return the data directory from the argument or ``$NEUROSYM_DATA``."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_ENV_VAR)
    if not chosen:
        raise DataError(
            f"task {task_name!r} reads public data files: pass --data-dir DIR "
            f"or set {DATA_ENV_VAR}=DIR (see `neurosym data fetch --help`)"
        )
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {str(path)!r} does not exist or is not a directory")
    return path


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator that registers a task class under ``name``."""

    def decorate(cls: type[Task]) -> type[Task]:
        register_factory(name, cls)
        cls.name = name
        return cls

    return decorate


def register_factory(name: str, factory: Callable[[], Task]) -> None:
    """Register a zero-argument callable that builds the task ``name``."""
    if name in _REGISTRY:
        raise TaskError(f"task {name!r} is already registered")
    _REGISTRY[name] = factory


def get_task(name: str) -> Task:
    """Build the registered task ``name``; an unknown name raises TaskError with suggestions."""
    _load_builtin_tasks()
    factory = _REGISTRY.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise TaskError(f"unknown task {name!r}.{hint} Run `neurosym tasks` to list the tasks.")
    return factory()


def list_tasks() -> list[str]:
    """Return the registered task names, sorted."""
    _load_builtin_tasks()
    return sorted(_REGISTRY, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _load_builtin_tasks() -> None:
    # Importing the modules runs their @register_task decorators.
    import neurosym.tasks.timeline  # noqa: F401
    from neurosym.tasks import algebra, arithmetic, babi, clutrr, episodic, kinship, maps, ordering  # noqa: F401
