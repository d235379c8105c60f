"""Evaluate checkpoints on a task suite and write one report: Markdown, JSON and PNG plots.

Checkpoints are named ``LABEL=PATH``; checkpoints that share a label are runs of one
variant with different seeds, and the report gives their mean ± standard deviation.
bAbI is reported as the literature does (error per task, mean error, failed tasks
above 5%, per training-set size 1k or 10k), beside the published references of
:mod:`neurosym.references`.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neurosym import plots
from neurosym.checkpoint import load_run_info, resolve_checkpoint_dir
from neurosym.errors import DataError
from neurosym.evaluation import BABI_FAILED_ERROR, _atomic_write
from neurosym.references import Reference, references_for
from neurosym.runs import TaskSpec, evaluate_checkpoint
from neurosym.suites import BABI_SETS, babi_variant, suite_tasks
from neurosym.tasks import get_task

logger = logging.getLogger(__name__)

_CLUTRR_TASK = re.compile(r"\d+\.(\d+)")


@dataclass
class SuiteRow:
    """Accuracy of one checkpoint on one task split in one inference mode."""

    variant: str
    checkpoint: str
    mode: str
    task: str
    split: str
    n: int
    correct: int
    axis: dict[str, int] = field(default_factory=dict)  # difficulty knob -> value of this split
    babi_set: str | None = None
    programs: int = 0
    fallbacks: int = 0
    unknown_tokens: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass
class SuiteResult:
    """Every row of a suite evaluation, grouped by variant (label) for the report."""

    suite: str
    rows: list[SuiteRow]
    checkpoints: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)

    def series(self) -> list[tuple[str, str]]:
        """Return the (variant, mode) pairs in first-seen order; each is one column or bar series."""
        return list(dict.fromkeys((row.variant, row.mode) for row in self.rows))

    def cells(self) -> dict[tuple[str, str, str, str], list[float]]:
        """Map (variant, mode, task, split) to the accuracies of the variant's seeds."""
        cells: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
        for row in self.rows:
            cells[(row.variant, row.mode, row.task, row.split)].append(row.accuracy)
        return cells

    def task_splits(self) -> list[tuple[str, str]]:
        return list(dict.fromkeys((row.task, row.split) for row in self.rows))

    def babi_summaries(self) -> list[dict[str, Any]]:
        """Per (variant, mode, bAbI set): error per task and, over seeds, mean error and failed tasks."""
        groups: dict[tuple[str, str, str], dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        for row in self.rows:
            if row.task.startswith("babi.") and row.split == "test":
                groups[(row.variant, row.mode, row.babi_set or "")][row.checkpoint][row.task] = 1 - row.accuracy
        summaries = []
        for (variant, mode, babi_set), by_seed in groups.items():
            tasks = sorted({task for errors in by_seed.values() for task in errors}, key=_task_number)
            means = [statistics.fmean(errors.values()) for errors in by_seed.values()]
            failed = [sum(error > BABI_FAILED_ERROR for error in errors.values()) for errors in by_seed.values()]
            summaries.append({
                "variant": variant, "mode": mode, "babi_set": babi_set, "seeds": len(by_seed), "tasks": len(tasks),
                "task_error": {task: _mean_std([errors[task] for errors in by_seed.values() if task in errors])
                               for task in tasks},
                "mean_error": _mean_std(means),
                "failed_tasks": _mean_std([float(f) for f in failed]),
            })
        return summaries

    def to_dict(self) -> dict[str, Any]:
        aggregated = [
            {"variant": v, "mode": m, "task": t, "split": s, "seeds": len(values),
             "accuracy": _mean_std(values)}
            for (v, m, t, s), values in self.cells().items()
        ]
        return {
            "suite": self.suite,
            "checkpoints": self.checkpoints,
            "rows": [{**asdict(row), "accuracy": row.accuracy} for row in self.rows],
            "aggregated": aggregated,
            "babi": self.babi_summaries(),
            "references": [ref.to_dict() for bench in ("babi", "clutrr") for ref in references_for(bench)],
            "notes": self.notes,
        }


BABI_PROGRAM_NOTE = (
    "bAbI in program and tool modes: the model was trained on gold programs that the patterns of "
    "neurosym.tasks.babi_programs wrote for the training stories (facts per sentence and a query per "
    "question), and the executor computes the answer. The published results in the table learn from the "
    "answers alone, so the two are not the same kind of supervision."
)


def load_result(directory: str | Path) -> SuiteResult:
    """Read the ``report.json`` that :func:`write_report` wrote into ``directory``."""
    path = Path(directory)
    path = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        fields = SuiteRow.__dataclass_fields__
        rows = [SuiteRow(**{k: v for k, v in row.items() if k in fields}) for row in data["rows"]]
        return SuiteResult(suite=data["suite"], rows=rows, checkpoints=data["checkpoints"],
                           notes=data.get("notes", []))
    except FileNotFoundError as exc:
        raise DataError(f"{path} not found; pass a folder written by `neurosym eval --suite`") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path} is not a suite report: {exc}") from exc


def merge_results(results: list[SuiteResult]) -> SuiteResult:
    """Combine suite results (e.g. seeds evaluated one at a time) into one; the suites must match."""
    suites = {result.suite for result in results}
    if len(suites) > 1:
        raise DataError(f"cannot merge reports of different suites {sorted(suites)}")
    checkpoints: dict[str, list[str]] = defaultdict(list)
    notes: list[str] = []
    for result in results:
        for label, paths in result.checkpoints.items():
            checkpoints[label] += [p for p in paths if p not in checkpoints[label]]
        notes += [note for note in result.notes if note not in notes]
    rows = [row for result in results for row in result.rows]
    return SuiteResult(suite=results[0].suite, rows=rows, checkpoints=dict(checkpoints), notes=notes)


def _task_number(name: str) -> tuple[int, str]:
    digits = re.findall(r"\d+", name)
    return (int(digits[-1]) if digits else 0, name)


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values) if values else 0.0,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def parse_checkpoint(text: str) -> tuple[str, str]:
    """Split ``LABEL=PATH``; a bare path is labelled with its run folder's name."""
    label, sep, path = text.partition("=")
    if sep and label and "/" not in label:
        return label, path
    directory = Path(text)
    name = directory.parent.name if directory.name in ("best", "last") else directory.name
    return name or text, text


def split_axes(spec: TaskSpec) -> dict[str, dict[str, int]]:
    """Map each evaluation split of ``spec``'s task to the difficulty values that vary across splits.

    For arithmetic that is ``max_digits`` (3, 5, 10, 20, 40); for kinship ``max_chain``;
    for CLUTRR the chain length of its test file (``clutrr_task`` 1.N gives N). When
    both ``min_X`` and ``max_X`` vary, only ``max_X`` is kept.
    """
    task = get_task(spec.name)
    base = {**task.difficulty, **spec.difficulty}
    effective = {label: {**base, **overrides} for label, (_, overrides) in task.eval_splits.items()}
    axes: dict[str, dict[str, int]] = {label: {} for label in effective}
    for label, knobs in effective.items():
        match = _CLUTRR_TASK.fullmatch(str(knobs.get("clutrr_task")))
        if match:
            axes[label]["chain length"] = int(match.group(1))
    numeric = [k for k, v in base.items() if isinstance(v, int) and not isinstance(v, bool)]
    varying = [k for k in numeric if len({knobs[k] for knobs in effective.values()}) > 1]
    varying = [k for k in varying if not (k.startswith("min_") and f"max_{k[4:]}" in varying)]
    for label, knobs in effective.items():
        axes[label].update({k: knobs[k] for k in varying})
    return axes


def evaluate_suite(
    suite: str,
    checkpoints: list[tuple[str, str]],
    modes: list[str] | None = None,
    n: int | None = None,
    seed: int = 0,
    data_dir: str | None = None,
    device: str = "auto",
    babi_set: str | None = None,
    progress: bool = False,
) -> SuiteResult:
    """Evaluate every (label, checkpoint) on every evaluation split of every task of ``suite``.

    A task the checkpoint was trained on keeps its training difficulty (and bAbI set);
    ``babi_set`` (``1k`` or ``10k``) overrides the bAbI set, and ``data_dir`` the data folder.
    """
    names = suite_tasks(suite)
    rows: list[SuiteRow] = []
    paths: dict[str, list[str]] = defaultdict(list)
    notes: list[str] = []
    for label, path in checkpoints:
        directory = resolve_checkpoint_dir(path)
        paths[label].append(str(directory))
        stored = {record["name"]: record for record in load_run_info(directory).get("tasks", [])}
        specs = []
        for name in names:
            spec = TaskSpec(**stored[name]) if name in stored else TaskSpec(name)
            spec.data_dir = data_dir or spec.data_dir
            if babi_set and name.startswith("babi."):
                spec.difficulty = {**spec.difficulty, "variant": babi_variant(babi_set)}
            specs.append(spec)
        logger.info("evaluating %s (%s) on %d tasks", label, directory, len(specs))
        report = evaluate_checkpoint(directory, specs, n=n, seed=seed, device=device, progress=progress, modes=modes)
        axes = {spec.name: split_axes(spec) for spec in specs}
        variants = {spec.name: spec.difficulty.get("variant", get_task(spec.name).difficulty.get("variant"))
                    for spec in specs}
        for task_report in report.reports:
            babi = next((size for size, folder in BABI_SETS.items() if folder == variants[task_report.task]), None)
            rows.append(SuiteRow(
                variant=label, checkpoint=str(directory), mode=task_report.mode, task=task_report.task,
                split=task_report.split, n=task_report.n, correct=task_report.correct,
                axis=axes[task_report.task].get(task_report.split, {}),
                babi_set=babi if task_report.task.startswith("babi.") else None,
                programs=task_report.programs, fallbacks=task_report.fallbacks,
                unknown_tokens=task_report.unknown_tokens,
            ))
            notes += [f"{label}: {note}" for note in task_report.notes if f"{label}: {note}" not in notes]
    if any(row.babi_set and row.mode != "neural" for row in rows):
        notes.append(BABI_PROGRAM_NOTE)
    return SuiteResult(suite=suite, rows=rows, checkpoints=dict(paths), notes=notes)


def _percent(stats: dict[str, float], seeds: int) -> str:
    text = f"{100 * stats['mean']:.1f}%"
    return f"{text} ± {100 * stats['std']:.1f}" if seeds > 1 else text


def to_markdown(result: SuiteResult, images: list[Path]) -> str:
    """Render the report: accuracy per split, the bAbI tables, the references and the plots."""
    series = result.series()
    cells = result.cells()
    lines = [f"# Suite report: {result.suite}", "", "Checkpoints (a label with several paths is one variant "
             "trained with several seeds; cells give mean ± standard deviation over them):", ""]
    lines += [f"- `{label}`: " + ", ".join(f"`{p}`" for p in paths) for label, paths in result.checkpoints.items()]
    header = [f"{variant} ({mode})" for variant, mode in series]
    lines += ["", "## Accuracy per task and split", "", "| task | split | " + " | ".join(header) + " |",
              "|---|---|" + "---:|" * len(header)]
    for task, split in result.task_splits():
        values = []
        for variant, mode in series:
            accuracies = cells.get((variant, mode, task, split))
            values.append(_percent(_mean_std(accuracies), len(accuracies)) if accuracies else "-")
        lines.append(f"| {task} | {split} | " + " | ".join(values) + " |")
    summaries = result.babi_summaries()
    if summaries:
        lines += _babi_markdown(summaries)
    if any(row.task == "clutrr" for row in result.rows):
        lines += ["", "## CLUTRR published baselines", ""]
        lines += [_clutrr_reference_line(ref) for ref in references_for("clutrr")]
    if images:
        lines += ["", "## Plots", ""] + [f"![{image.stem}]({image.name})" for image in images]
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _clutrr_reference_line(ref: Reference) -> str:
    """Render one published CLUTRR result as a list item, with its accuracy per chain length if known."""
    points = []
    for point in ref.accuracy:
        spread = f" ± {100 * point.std:.0f}" if point.std is not None else ""
        points.append(f"{point.length}: {100 * point.accuracy:.0f}%{spread}")
    accuracy = f" Test accuracy by chain length: {', '.join(points)}." if points else ""
    remark = f" ({ref.remark})" if ref.remark else ""
    return f"- {ref.model}, {ref.setting}.{accuracy} {ref.citation}{remark}"


def _babi_markdown(summaries: list[dict[str, Any]]) -> list[str]:
    heads = [f"{s['variant']} ({s['mode']}, {s['babi_set']})" for s in summaries]
    lines = ["", "## bAbI: test error per task", "", "| task | " + " | ".join(heads) + " |",
             "|---|" + "---:|" * len(heads)]
    tasks = sorted({task for s in summaries for task in s["task_error"]}, key=_task_number)
    for task in tasks:
        values = [_percent(s["task_error"][task], s["seeds"]) if task in s["task_error"] else "-" for s in summaries]
        lines.append(f"| {task} | " + " | ".join(values) + " |")
    lines.append("| **mean error** | " + " | ".join(_percent(s["mean_error"], s["seeds"]) for s in summaries) + " |")
    failed = []
    for s in summaries:
        stats = s["failed_tasks"]
        failed.append(f"{stats['mean']:.1f} ± {stats['std']:.1f}" if s["seeds"] > 1 else f"{stats['mean']:.0f}")
    lines.append("| **failed tasks (error > 5%)** | " + " | ".join(failed) + " |")
    lines.append("| seeds | " + " | ".join(str(s["seeds"]) for s in summaries) + " |")
    lines += ["", "### Published bAbI results", "",
              "Mean test error over the 20 tasks and failed tasks (error > 5%), as each paper reports them. "
              "Ours are in the table above; the training-set size (1k or 10k) and joint training must match "
              "for a fair comparison.", "",
              "| model | setting | mean error | failed tasks | source |", "|---|---|---:|---:|---|"]
    for ref in references_for("babi"):
        error = f"{ref.mean_error:g}%" if ref.mean_error is not None else "-"
        failed_text = str(ref.failed_tasks) if ref.failed_tasks is not None else "-"
        remark = f" ({ref.remark})" if ref.remark else ""
        lines.append(f"| {ref.model} | {ref.setting} | {error} | {failed_text} | {ref.citation}{remark} |")
    return lines


def draw_plots(result: SuiteResult, out: Path) -> list[Path]:
    """Draw the report's PNG files into ``out``; return their paths (none without matplotlib)."""
    if not plots.plotting_available():
        logger.info("matplotlib is not installed (pip install 'neurosym[plot]'); the report has no plots")
        return []
    images = []
    series = result.series()
    cells = result.cells()
    tasks = [task for task, split in result.task_splits() if split == "test"]
    if tasks:
        bars = {}
        for variant, mode in series:
            stats = [_mean_std(cells.get((variant, mode, task, "test"), [])) for task in tasks]
            bars[f"{variant} ({mode})"] = ([100 * s["mean"] for s in stats], [100 * s["std"] for s in stats])
        images.append(plots.grouped_bars(tasks, bars, "test accuracy (%)", f"{result.suite}: variants per task",
                                         out / "variants.png"))
    for summary_group in _by_babi_set(result.babi_summaries()).items():
        babi_set, summaries = summary_group
        task_names = sorted({t for s in summaries for t in s["task_error"]}, key=_task_number)
        bars = {
            f"{s['variant']} ({s['mode']})": (
                [100 * s["task_error"].get(t, {"mean": 0.0})["mean"] for t in task_names],
                [100 * s["task_error"].get(t, {"std": 0.0})["std"] for t in task_names],
            )
            for s in summaries
        }
        name = f"babi_error_{babi_set or 'unknown'}.png"
        images.append(plots.grouped_bars([t.removeprefix("babi.") for t in task_names], bars, "test error (%)",
                                         f"bAbI {babi_set}: test error per task (above the dashed 5% line: failed)",
                                         out / name, threshold=plots.FAILED_ERROR_PERCENT))
    images += _ood_plots(result, out)
    return images


def _by_babi_set(summaries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for summary in summaries:
        groups[summary["babi_set"]].append(summary)
    return groups


def _ood_plots(result: SuiteResult, out: Path) -> list[Path]:
    """Plot accuracy against each difficulty knob that varies across a task's evaluation splits."""
    images = []
    by_task: dict[str, list[SuiteRow]] = defaultdict(list)
    for row in result.rows:
        if row.axis:
            by_task[row.task].append(row)
    for task, rows in by_task.items():
        knobs = list(dict.fromkeys(k for row in rows for k in row.axis))
        base = next((row.axis for row in rows if row.split == "test"), {})
        for knob in knobs:
            points: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
            for row in rows:
                others_at_base = all(row.axis.get(k) == base.get(k) for k in knobs if k != knob)
                if knob in row.axis and others_at_base:
                    points[f"{row.variant} ({row.mode})"][row.axis[knob]].append(row.accuracy)
            if sum(len(by_x) for by_x in points.values()) < 2:
                continue
            series = {
                label: [(x, 100 * _mean_std(v)["mean"], 100 * _mean_std(v)["std"]) for x, v in by_x.items()]
                for label, by_x in points.items()
            }
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"ood_{task}_{knob}")
            images.append(plots.lines(series, knob, "test accuracy (%)", f"{task}: accuracy against {knob}",
                                      out / f"{slug}.png", ylim=(-2, 102)))
    return images


def write_report(result: SuiteResult, out: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and the PNG plots into ``out``; return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = draw_plots(result, out)
    json_path, md_path = out / "report.json", out / "report.md"
    _atomic_write(json_path, json.dumps(result.to_dict(), indent=2) + "\n")
    _atomic_write(md_path, to_markdown(result, images))
    return {"markdown": md_path, "json": json_path, **{image.stem: image for image in images}}
