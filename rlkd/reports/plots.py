"""PNG figures for reports (matplotlib, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def line_plot(path: Path, series: dict[str, Sequence[float]], title: str, xlabel: str, ylabel: str) -> Path:
    """One figure, one line per named series, x = 1..len."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, ys in series.items():
        ax.plot(range(1, len(ys) + 1), ys, marker="o", ms=3, label=name)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


FOREST_DPI = 110
FOREST_WIDTH_IN = 7.0


def forest_height_in(n_rows: int) -> float:
    """Figure height (inches) of a forest plot with n_rows rows; the PNG is FOREST_DPI times this tall."""
    return max(2.5, 0.5 * n_rows + 1.5)


def _interval(ax, y: float, triple, color: str, marker: str, label: str | None) -> None:
    """One (mean, low, high) on line y: a bar from low to high (skipped if undefined) and a marker at the mean."""
    mean, low, high = (float(v) for v in triple)
    if math.isfinite(low) and math.isfinite(high):
        ax.hlines(y, low, high, color=color, lw=2)
    if math.isfinite(mean):
        ax.plot([mean], [y], marker=marker, color=color, ms=6, ls="none", label=label)


def forest_plot(path: Path, rows: Sequence[dict], aa_band: tuple[float, float] | None = None,
                title: str = "policy − control: test and val, 95% intervals") -> Path:
    """Forest plot of paired differences: one row per comparison, top to bottom in the given order.

    rows: {"label": str, "test": (mean, low, high), "val": (mean, low, high) or None}. Test and val are two
    markers / colours slightly offset on the row's line (a NaN bound draws the mean alone). aa_band: the A/A
    row's test interval (low, high), shaded as the noise floor. A vertical line marks 0. Writes a PNG of
    FOREST_WIDTH_IN x forest_height_in(len(rows)) inches at FOREST_DPI.
    """
    if not rows:
        raise ValueError("forest_plot needs at least one row")
    fig, ax = plt.subplots(figsize=(FOREST_WIDTH_IN, forest_height_in(len(rows))))
    if aa_band is not None:
        ax.axvspan(float(aa_band[0]), float(aa_band[1]), color="0.6", alpha=0.25, lw=0, label="A/A interval (test)")
    ax.axvline(0.0, color="0.2", lw=1, ls="--")
    ys = list(range(len(rows), 0, -1))  # first row on top
    seen_test = seen_val = False
    for y, row in zip(ys, rows):
        _interval(ax, y + 0.12, row["test"], "C0", "o", None if seen_test else "test (primary)")
        seen_test = True
        if row.get("val") is not None:
            _interval(ax, y - 0.12, row["val"], "C1", "s", None if seen_val else "val (optimistic for a policy)")
            seen_val = True
    ax.set_yticks(ys)
    ax.set_yticklabels([str(row["label"]) for row in rows], fontsize=9)
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.set(title=title, xlabel="policy − control, points (95% CI)")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=FOREST_DPI)
    plt.close(fig)
    return path
