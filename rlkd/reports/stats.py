"""Paired statistics over seeds: the one implementation `rlkd evaluate` and the benchmarks share.

Methods are compared on the same seeds, so the honest unit is the per-seed
difference a - b: its mean, its sample std, a 95% Student-t interval for the
mean, and on how many seeds a was better. With a handful of seeds the t interval
is much wider than mean ± std suggests, which is the point of reporting it.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

from scipy.stats import t as student_t

CONFIDENCE = 0.95


def mean_std(xs: Sequence[float]) -> str:
    """'mean ± sample std' of one method's per-seed values (std 0 for a single seed)."""
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.2f}"


def paired_summary(a: Sequence[float], b: Sequence[float]) -> dict:
    """Per-seed differences a - b: mean, sample std, 95% t interval of the mean, wins (a > b) out of n.

    With one seed the std and the interval are undefined: NaN (metrics.json writes null), never a made-up 0.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need the same seeds on both sides, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    n, mean = len(diffs), statistics.mean(diffs)
    std = statistics.stdev(diffs) if n > 1 else math.nan
    half = float(student_t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * std / math.sqrt(n) if n > 1 else math.nan
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half,
            "wins": sum(d > 0 for d in diffs), "n": n}


def format_paired(summary: dict) -> str:
    """One table cell: '+1.23 ± 0.45 [+0.67, +1.79] 7/10' (mean ± std [95% CI] wins/n)."""
    if summary["n"] < 2:
        return f"{summary['mean']:+.2f} (1 seed: no std or CI) {summary['wins']}/1"
    return (f"{summary['mean']:+.2f} ± {summary['std']:.2f} [{summary['ci_low']:+.2f}, {summary['ci_high']:+.2f}] "
            f"{summary['wins']}/{summary['n']}")
