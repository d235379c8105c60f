"""Compare training runs from their ``metrics.jsonl`` logs: a table and loss/validation curves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurosym import plots
from neurosym.errors import DataError
from neurosym.evaluation import _atomic_write


@dataclass
class RunLog:
    """The records of one run's ``metrics.jsonl``."""

    name: str
    path: Path
    records: list[dict[str, Any]]

    def curve(self, key: str) -> list[tuple[int, float]]:
        return [(int(r["step"]), float(r[key])) for r in self.records if key in r and "step" in r]

    def summary(self) -> dict[str, Any]:
        losses = self.curve("loss")
        valid = self.curve("valid/accuracy")
        speeds = [v for _, v in self.curve("tokens_per_s")]
        best = max(valid, key=lambda point: point[1]) if valid else None
        return {
            "run": self.name,
            "steps": max((step for step, _ in losses), default=0),
            "final_loss": losses[-1][1] if losses else None,
            "final_valid_accuracy": valid[-1][1] if valid else None,
            "best_valid_accuracy": best[1] if best else None,
            "best_step": best[0] if best else None,
            "mean_tokens_per_s": sum(speeds) / len(speeds) if speeds else None,
            "valid_by_task": {
                key.split("/")[1]: value for key, value in (valid_last_record(self.records) or {}).items()
                if key.startswith("valid/") and key.endswith("/accuracy") and key.count("/") == 2
            },
        }


def max_relative_difference(reference: RunLog, other: RunLog, key: str = "loss") -> float | None:
    """Return max |a - b| / |a| of ``key`` over the steps both runs logged (None when none are shared).

    Two runs of one configuration under different process counts should give 0 up to
    float rounding (about 1e-6 in float32).
    """
    first = dict(reference.curve(key))
    pairs = [(first[step], value) for step, value in other.curve(key) if step in first]
    if not pairs:
        return None
    return max(abs(a - b) / max(abs(a), 1e-12) for a, b in pairs)


def valid_last_record(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the last record that carries validation metrics."""
    return next((r for r in reversed(records) if "valid/accuracy" in r), None)


def read_run(path: str | Path) -> RunLog:
    """Read ``metrics.jsonl`` from a run folder (or the file itself)."""
    path = Path(path)
    log = path / "metrics.jsonl" if path.is_dir() else path
    if not log.is_file():
        raise DataError(f"{log} not found; pass a run folder written by `neurosym train`")
    records = []
    for number, line in enumerate(log.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{log}:{number} is not valid JSON ({exc}); the log is corrupt") from exc
    name = log.parent.name if log.name == "metrics.jsonl" else log.stem
    return RunLog(name=name, path=log, records=records)


def _cell(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    if percent:
        return f"{100 * value:.2f}%"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def summarize(runs: list[RunLog]) -> list[dict[str, Any]]:
    """Return each run's summary with its max relative loss difference to the first run."""
    return [{**run.summary(), "loss_max_relative_difference": max_relative_difference(runs[0], run)}
            for run in runs]


def compare_markdown(runs: list[RunLog], images: list[Path]) -> str:
    summaries = summarize(runs)
    lines = ["# Run comparison", "",
             "| run | steps | final loss | final validation accuracy | best validation accuracy (step) | "
             f"mean tokens/s | max relative loss difference to {runs[0].name} |", "|---|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        best = f"{_cell(s['best_valid_accuracy'], True)} ({_cell(s['best_step'])})"
        difference = s["loss_max_relative_difference"]
        lines.append(f"| {s['run']} | {s['steps']} | {_cell(s['final_loss'])} | "
                     f"{_cell(s['final_valid_accuracy'], True)} | {best} | {_cell(None if s['mean_tokens_per_s'] is None else round(s['mean_tokens_per_s']))} | "
                     f"{'-' if difference is None else f'{difference:.2e}'} |")
    tasks = list(dict.fromkeys(task for s in summaries for task in s["valid_by_task"]))
    if tasks:
        lines += ["", "Last validation accuracy per task:", "",
                  "| task | " + " | ".join(s["run"] for s in summaries) + " |", "|---|" + "---:|" * len(summaries)]
        for task in tasks:
            lines.append(f"| {task} | " + " | ".join(_cell(s["valid_by_task"].get(task), True) for s in summaries)
                         + " |")
    if images:
        lines += ["", *[f"![{image.stem}]({image.name})" for image in images]]
    return "\n".join(lines) + "\n"


def compare_runs(paths: list[str], out: str | Path) -> dict[str, Path]:
    """Write ``compare.md``, ``compare.json`` and curve plots for the runs at ``paths`` into ``out``."""
    runs = [read_run(path) for path in paths]
    names = [run.name for run in runs]
    if len(set(names)) < len(names):  # two runs named alike: tell them apart by their full paths
        for run in runs:
            run.name = str(run.path.parent)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    if plots.plotting_available():
        for key, label, name in (("loss", "training loss", "compare_loss.png"),
                                 ("valid/accuracy", "validation accuracy", "compare_valid.png")):
            series = {run.name: [(step, value, 0.0) for step, value in run.curve(key)] for run in runs}
            if any(series.values()):
                images.append(plots.lines(series, "step", label, f"{label} by step", out / name))
    json_path, md_path = out / "compare.json", out / "compare.md"
    _atomic_write(json_path, json.dumps(summarize(runs), indent=2) + "\n")
    _atomic_write(md_path, compare_markdown(runs, images))
    return {"markdown": md_path, "json": json_path, **{image.stem: image for image in images}}
