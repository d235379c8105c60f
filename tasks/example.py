"""The plain-data reasoning item shared by every part of neurosym.

An :class:`Example` is JSON-serialisable: ``Example.from_dict(ex.to_dict()) == ex``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from neurosym.errors import DataError


class Sentence(NamedTuple):
    """One context sentence and its logical timestamp (position or stated time)."""

    text: str
    time: int


class Fact(NamedTuple):
    """A timestamped triple that the context states."""

    subject: str
    relation: str
    object: str
    time: int


@dataclass
class Example:
    """One reasoning item: context, question, answer and optional gold program.

    ``answer`` is a string; a list answer is comma-joined in a fixed order.
    ``meta`` carries the task name, the difficulty knobs and the split.
    """

    context: list[Sentence]
    question: str
    answer: str
    program: str | None = None
    facts: list[Fact] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "context": [[s.text, s.time] for s in self.context],
            "question": self.question,
            "answer": self.answer,
            "program": self.program,
            "facts": [list(f) for f in self.facts],
            "entities": list(self.entities),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Example:
        """Build an example from :meth:`to_dict` output, validating every field."""
        if not isinstance(record, dict):
            raise DataError(f"an example must be a JSON object, got {type(record).__name__}")
        missing = [key for key in ("context", "question", "answer") if key not in record]
        if missing:
            raise DataError(f"example is missing field(s) {missing}; required: context, question, answer")
        try:
            context = [Sentence(str(text), int(time)) for text, time in record["context"]]
            facts = [Fact(str(s), str(r), str(o), int(t)) for s, r, o, t in record.get("facts") or []]
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"malformed context or facts ({exc}); expected context=[[text, time], ...] "
                "and facts=[[subject, relation, object, time], ...]"
            ) from exc
        program = record.get("program")
        return cls(
            context=context,
            question=str(record["question"]),
            answer=str(record["answer"]),
            program=None if program is None else str(program),
            facts=facts,
            entities=[str(e) for e in record.get("entities") or []],
            meta=dict(record.get("meta") or {}),
        )

    def render(self) -> str:
        """Return a human-readable rendering, one sentence per line."""
        lines = [f"{s.time:>4}  {s.text}" for s in self.context]
        lines.append(f"   Q  {self.question}")
        lines.append(f"   A  {self.answer}")
        if self.program is not None:
            lines.append(f"   P  {self.program}")
        return "\n".join(lines)


def write_jsonl(examples: Iterable[Example], path: str | os.PathLike[str]) -> int:
    """Write examples as JSON lines atomically (temporary file, then rename); return the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for example in examples:
                handle.write(json.dumps(example.to_dict(), ensure_ascii=False) + "\n")
                count += 1
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count


def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[Example]:
    """Yield examples from a JSON-lines file; a bad line raises DataError naming its number."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read examples file {path}: {exc.strerror}") from exc
    with handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                yield Example.from_dict(record)
            except (json.JSONDecodeError, DataError) as exc:
                raise DataError(f"{path}:{line_number}: invalid example: {exc}") from exc


def read_jsonl(path: str | os.PathLike[str]) -> list[Example]:
    """Read every example of a JSON-lines file."""
    return list(iter_jsonl(path))
