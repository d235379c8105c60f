"""Evaluate a model on task examples and build reports.

bAbI is reported as the literature does: error rate per task, mean error, and the
number of failed tasks (error above 5%).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from neurosym.data import encode_prompt
from neurosym.inference import Predictor, prompt_room
from neurosym.model import TransformerPlus
from neurosym.tasks.example import Example
from neurosym.tasks.registry import Task
from neurosym.tokenizer import Tokenizer

logger = logging.getLogger(__name__)

BABI_FAILED_ERROR = 0.05


@dataclass
class TaskReport:
    """Accuracy of one model on one task split."""

    task: str
    split: str
    n: int
    correct: int
    unknown_tokens: int = 0
    truncated: int = 0
    notes: list[str] = field(default_factory=list)
    mode: str = "neural"
    programs: int = 0  # answers for which the model wrote a program
    fallbacks: int = 0  # programs that failed, so the neural answer was used
    samples: list[dict[str, str]] = field(default_factory=list)  # a few wrong predictions
    binding: dict[str, dict[str, float]] = field(default_factory=dict)  # slot metrics per layer

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def error(self) -> float:
        return 1.0 - self.accuracy

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accuracy": self.accuracy, "error": self.error}


@dataclass
class SuiteReport:
    """Reports of several task splits, with the bAbI summary when bAbI tasks are present."""

    reports: list[TaskReport]
    checkpoint: str = ""
    features: dict[str, Any] = field(default_factory=dict)  # optional features on during evaluation

    def babi_summary(self) -> dict[str, Any] | None:
        babi = [r for r in self.reports if r.task.startswith("babi.") and r.split == "test" and r.mode == "neural"]
        if not babi:
            return None
        errors = [r.error for r in babi]
        return {
            "tasks": len(babi),
            "mean_error": sum(errors) / len(errors),
            "failed_tasks": sum(error > BABI_FAILED_ERROR for error in errors),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "features": self.features,
            "reports": [r.to_dict() for r in self.reports],
            "babi": self.babi_summary(),
        }

    def to_table(self) -> str:
        """Return a plain-text table: task, split, n, accuracy, error, unknown tokens, cut contexts."""
        header = ("task", "split", "mode", "n", "accuracy", "error", "fallback", "unk", "cut")
        rows = [
            (r.task, r.split, r.mode, str(r.n), f"{100 * r.accuracy:.2f}%", f"{100 * r.error:.2f}%",
             f"{r.fallbacks}/{r.programs}" if r.mode != "neural" else "-", str(r.unknown_tokens), str(r.truncated))
            for r in self.reports
        ]
        widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
        summary = self.babi_summary()
        if summary:
            lines.append(
                f"bAbI: {summary['tasks']} tasks, mean error {100 * summary['mean_error']:.2f}%, "
                f"failed tasks (error > 5%): {summary['failed_tasks']}"
            )
        lines += _binding_lines(self.reports)
        for report in self.reports:
            lines += [f"note: {note}" for note in report.notes]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        lines = [f"# Evaluation of `{self.checkpoint}`", ""]
        if self.features:
            lines += [f"Features on: {', '.join(f'`{name}`' for name in self.features)}.", ""]
        lines += ["| task | split | mode | n | accuracy | error | fallbacks / programs | unknown tokens | cut contexts |",
                 "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in self.reports:
            fallback = f"{r.fallbacks}/{r.programs}" if r.mode != "neural" else "-"
            lines.append(
                f"| {r.task} | {r.split} | {r.mode} | {r.n} | {100 * r.accuracy:.2f}% | {100 * r.error:.2f}% "
                f"| {fallback} | {r.unknown_tokens} | {r.truncated} |"
            )
        summary = self.babi_summary()
        if summary:
            lines += ["", f"bAbI mean error {100 * summary['mean_error']:.2f}% over {summary['tasks']} tasks; "
                      f"failed tasks (error > 5%): {summary['failed_tasks']}"]
        binding = _binding_lines(self.reports)
        if binding:
            lines += ["", "Slot bindings (consistency, purity, named accuracy over entity mentions):", "",
                      *[f"- {line}" for line in binding]]
        notes = [note for r in self.reports for note in r.notes]
        if notes:
            lines += ["", "Notes:", *[f"- {note}" for note in notes]]
        return "\n".join(lines) + "\n"

    def write(self, directory: str | os.PathLike[str], stem: str = "eval") -> tuple[Path, Path]:
        """Write ``<stem>.json`` and ``<stem>.md`` into ``directory`` atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / f"{stem}.json"
        md_path = directory / f"{stem}.md"
        _atomic_write(json_path, json.dumps(self.to_dict(), indent=2))
        _atomic_write(md_path, self.to_markdown())
        return json_path, md_path


def _binding_lines(reports: Sequence[TaskReport]) -> list[str]:
    """One line per report and slot layer with its binding metrics."""
    lines = []
    for r in reports:
        for layer, m in r.binding.items():
            named = f", named accuracy {m['named_accuracy']:.3f}" if "named_accuracy" in m else ""
            lines.append(f"slots {r.task}/{r.split} {layer}: consistency {m['consistency']:.3f}, "
                         f"purity {m['purity']:.3f}{named} ({int(m['mentions'])} mentions)")
    return lines


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def evaluate(
    model: TransformerPlus,
    tokenizer: Tokenizer,
    task: Task,
    examples: Sequence[Example],
    split: str = "test",
    batch_size: int = 128,
    mode: str = "neural",
    progress: bool = False,
    candidates: int = 1,
    neural_confidence: float | None = None,
) -> TaskReport:
    """Score ``model`` on ``examples`` of ``task`` by exact match in one inference mode.

    ``candidates`` is the number of beam-search programs program mode chooses from (1: greedy).
    ``neural_confidence`` lets program mode use a neural answer given at least that probability.
    """
    unknown = sum(tokenizer.count_unknown(_example_text(e)) for e in examples)
    longest = max((len(tokenizer.tokenize(e.answer)) for e in examples), default=1)
    # The gold answer length only sizes the decoding budget; it never reaches the model.
    budget = max(8, 2 * longest + 2)
    room = prompt_room(model.config.max_seq_len, mode, budget)
    if model.config.memory is not None:  # the context goes to episodic memory, so nothing is cut
        from neurosym.memory_data import MemoryPredictor

        predictor = MemoryPredictor(model, tokenizer, batch_size)
        truncated = 0
    else:
        predictor = Predictor(model, tokenizer, batch_size, candidates=candidates,
                              neural_confidence=neural_confidence)
        truncated = sum(encode_prompt(e, tokenizer, room)[1] for e in examples)
    predictions = []
    chunk = max(batch_size * 8, 1)
    for start in tqdm(range(0, len(examples), chunk), disable=not progress, desc=f"eval {task.name}", unit="chunk"):
        predictions += predictor.predict(examples[start : start + chunk], mode, budget,
                                         by_sentence=task.reads_by_sentence)
    correct = 0
    samples = []
    for example, prediction in zip(examples, predictions, strict=True):
        score = task.score(prediction.answer, example)
        correct += int(score == 1.0)
        if score < 1.0 and len(samples) < 5:
            sample = {"question": example.question, "answer": example.answer, "prediction": prediction.answer}
            if prediction.program is not None:
                sample["program"] = prediction.program
            samples.append(sample)
    if unknown:
        logger.warning("%s/%s: %d input tokens are not in the vocabulary", task.name, split, unknown)
    return TaskReport(
        task=task.name, split=split, n=len(examples), correct=correct, unknown_tokens=unknown,
        truncated=truncated, notes=list(task.notes), samples=samples, mode=mode,
        programs=sum(p.program is not None for p in predictions),
        fallbacks=sum(p.fallback for p in predictions),
    )


def _example_text(example: Example) -> str:
    return " ".join([*(s.text for s in example.context), example.question])
