"""PNG plots for suite reports and run comparisons (matplotlib, drawn off-screen).

matplotlib is an optional dependency (the ``plot`` extra); :func:`plotting_available`
tells callers whether plots can be drawn.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

FAILED_ERROR_PERCENT = 5.0  # bAbI counts a task as failed above this test error


def plotting_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():  # noqa: ANN202 - matplotlib.pyplot
    import matplotlib

    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(
    categories: Sequence[str],
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    title: str,
    path: Path,
    threshold: float | None = None,
) -> Path:
    """Draw one bar group per category and one bar per series, with ± std error bars.

    ``series`` maps a label to (values, standard deviations), both aligned with
    ``categories``; ``threshold`` draws a dashed horizontal line (e.g. the 5% failure line).
    """
    plt = _pyplot()
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(categories) * max(1, len(series)) + 2), 4.5))
    for index, (label, (values, errors)) in enumerate(series.items()):
        positions = [i + (index - (len(series) - 1) / 2) * width for i in range(len(categories))]
        ax.bar(positions, values, width, yerr=errors, capsize=2, label=label)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lines(
    series: dict[str, Sequence[tuple[float, float, float]]],
    xlabel: str,
    ylabel: str,
    title: str,
    path: Path,
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Draw one line per series from (x, y, std) points, with ± std error bars; ``ylim`` fixes the y range."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for label, points in series.items():
        ordered = sorted(points)
        ax.errorbar([p[0] for p in ordered], [p[1] for p in ordered], yerr=[p[2] for p in ordered],
                    marker="o", capsize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
