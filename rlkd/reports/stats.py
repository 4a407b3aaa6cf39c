"""Paired statistics over seeds: the one implementation `rlkd evaluate` and the benchmarks share.

Methods are compared on the same seeds, so the honest unit is the per-seed
difference a - b: its mean, its sample std, a 95% Student-t interval for the
mean, and on how many seeds a was better. With a handful of seeds the t interval
is much wider than mean ± std suggests, which is the point of reporting it.

Beside the seed interval (see /work/shared/EVALUATION.md):
- `paired_bootstrap_examples`: the finite test set's share of the noise, a paired bootstrap over test examples;
- `hierarchical_bootstrap`: the pooled interval for "the learned policy", PPO runs x student seeds;
- `two_sided_bootstrap`: the same where both sides are several PPO runs (one policy against another);
- `overlaps`: is a policy - control interval inside the A/A (noise floor) interval's reach;
- `required_seeds`: how many seeds a target half-width needs, from a measured std of paired differences.

Every bootstrap interval here is a 95% percentile interval: the 2.5th and 97.5th percentiles of the
replicate statistics by `numpy.percentile(..., method="linear")` (numpy's default, Hyndman & Fan type 7:
linear interpolation between order statistics at position p/100 * (n_boot - 1)). All randomness comes from
`numpy.random.default_rng(seed)`, so a (inputs, n_boot, seed) triple always gives the same interval; the
optional `indices` argument replaces the random resamples outright, so a test can redo the sums by hand.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

CONFIDENCE = 0.95
PERCENTILE_METHOD = "linear"  # numpy.percentile's default (Hyndman & Fan type 7), named so it cannot drift
HIERARCHICAL_METHOD = ("two-stage hierarchical bootstrap (PPO runs, then seeds within each run), "
                       "percentile 95% interval")
CROSSED_METHOD = ("two-stage bootstrap over PPO runs and student seeds, crossed (every run on the same seeds: one "
                  "seed resample shared by all chosen runs), percentile 95% interval")
TWO_SIDED_METHOD = ("bootstrap over both sides' PPO runs and the student seeds, crossed (one seed resample shared by "
                    "every run of both sides), percentile 95% interval")
_CHUNK_ROWS = 256  # bootstrap replicates drawn at a time: bounds memory at _CHUNK_ROWS x n_examples indices


def mean_std(xs: Sequence[float]) -> str:
    """'mean ± sample std' of one method's per-seed values (std 0 for a single seed)."""
    return f"{statistics.mean(xs):.2f} ± {statistics.stdev(xs) if len(xs) > 1 else 0.0:.2f}"


def paired_summary(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Per-seed differences a - b: mean, sample std, t interval of the mean (95% unless `confidence` says
    otherwise), wins (a > b) out of n.

    With one seed the std and the interval are undefined: NaN (metrics.json writes null), never a made-up 0.
    """
    if len(a) != len(b) or not a:
        raise ValueError(f"paired values need the same seeds on both sides, got {len(a)} and {len(b)}")
    diffs = [x - y for x, y in zip(a, b)]
    n, mean = len(diffs), statistics.mean(diffs)
    std = statistics.stdev(diffs) if n > 1 else math.nan
    half = float(student_t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n) if n > 1 else math.nan
    return {"mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half,
            "wins": sum(d > 0 for d in diffs), "n": n}


def format_paired(summary: dict) -> str:
    """One table cell: '+1.23 ± 0.45 [+0.67, +1.79] 7/10' (mean ± std [95% CI] wins/n)."""
    if summary["n"] < 2:
        return f"{summary['mean']:+.2f} (1 seed: no std or CI) {summary['wins']}/1"
    return (f"{summary['mean']:+.2f} ± {summary['std']:.2f} [{summary['ci_low']:+.2f}, {summary['ci_high']:+.2f}] "
            f"{summary['wins']}/{summary['n']}")


def _percentile_interval(stats: np.ndarray) -> tuple[float, float]:
    """95% percentile interval of replicate statistics (module docstring: linear / type 7 percentiles)."""
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(stats, [tail, 100 - tail], method=PERCENTILE_METHOD)
    return float(low), float(high)


def paired_bootstrap_examples(correct_a, correct_b, n_boot: int = 2000, seed: int = 0, indices=None) -> dict:
    """Paired bootstrap over test examples of the accuracy difference a - b, in percentage points.

    `correct_a`, `correct_b`: 0/1 (or bool) arrays of shape (n_seeds, n_examples), per-seed per-example
    correctness of the two methods on the same test set and the same seeds (a 1-D array is one seed).
    Each replicate draws ONE resample of example indices (with replacement) and applies it to both arms
    and to every seed, so the pairing by example and by seed is kept; its statistic is the mean over seeds
    of (acc_a - acc_b) on the resample, times 100. "mean" is that statistic on the full test set.
    The interval measures only the test set's finiteness, not seed noise: report it beside the seed interval.

    `indices`: optional int array (n_boot, n_examples) of resampled example indices; when given it fixes
    every replicate (no randomness) and n_boot is its number of rows. With one example there is nothing to
    resample: the interval is NaN.
    Returns {"mean", "ci_low", "ci_high", "n_boot", "n_examples"}.
    """
    a, b = np.atleast_2d(np.asarray(correct_a)), np.atleast_2d(np.asarray(correct_b))
    if a.shape != b.shape or a.ndim != 2 or a.size == 0:
        raise ValueError(f"paired correctness needs the same (n_seeds, n_examples) shape on both sides, "
                         f"got {a.shape} and {b.shape}")
    for name, arr in (("correct_a", a), ("correct_b", b)):
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold 0/1 correctness values")
    n_examples = a.shape[1]
    # the statistic is linear, so the mean over seeds of each example's difference carries all of it
    per_example = 100.0 * (a.astype(float) - b.astype(float)).mean(axis=0)
    mean = float(per_example.mean())
    if indices is not None:
        idx = np.asarray(indices)
        if idx.ndim != 2 or idx.shape[1] != n_examples or idx.shape[0] < 1:
            raise ValueError(f"indices must have shape (n_boot, {n_examples}), got {idx.shape}")
        if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n_examples:
            raise ValueError(f"indices must be integers in [0, {n_examples})")
        stats = per_example[idx].mean(axis=1)
        n_boot = idx.shape[0]
    else:
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        rng = np.random.default_rng(seed)
        stats = np.empty(n_boot)
        for start in range(0, n_boot, _CHUNK_ROWS):
            rows = min(_CHUNK_ROWS, n_boot - start)
            stats[start:start + rows] = per_example[rng.integers(0, n_examples, size=(rows, n_examples))].mean(axis=1)
    low, high = _percentile_interval(stats) if n_examples > 1 else (math.nan, math.nan)
    return {"mean": mean, "ci_low": low, "ci_high": high, "n_boot": int(n_boot), "n_examples": int(n_examples)}


def hierarchical_bootstrap(diffs: Sequence[Sequence[float]], n_boot: int = 2000, seed: int = 0,
                           indices=None, crossed: bool = False) -> dict:
    """Pooled interval over PPO runs x student seeds of paired differences (policy - control).

    `diffs`: one list per PPO run of that run's per-seed paired differences (runs may have different
    seed counts). Two-stage bootstrap: each replicate resamples the PPO runs with replacement, then within
    each chosen run resamples its seeds with replacement; its statistic is the mean over the chosen runs of
    the mean of their resampled seeds. "mean" is the plain two-level mean (mean of per-run means), so every
    run weighs the same whatever its seed count. The interval is the 95% percentile interval.

    `crossed`: every run was measured on the same seeds against the same control runs (rlkd evaluate's design),
    so a seed's draw is shared by all runs: each replicate draws ONE seed resample and applies it to every
    chosen run. Resampling seeds separately per run would treat the shared seed and control noise as
    independent across runs and shrink it by about 1/runs: an interval too narrow. Needs equal seed counts;
    with `indices`, each replicate's seed index lists must then be equal.

    With one PPO run the first stage always picks that run and this degenerates to a plain (percentile)
    bootstrap over its seeds: the interval then says nothing about PPO-run variation; report it as one run.
    With one run of one seed nothing varies: the interval is NaN, never a made-up zero width.

    `indices`: optional list of n_boot pairs (run_indices, [seed_indices for each chosen run]) fixing every
    replicate (no randomness; n_boot is its length): run_indices has one entry per run, and the k-th seed
    index list belongs to run run_indices[k] and has that run's seed count.
    Returns {"mean", "ci_low", "ci_high", "runs", "seeds_per_run", "n_boot", "method"}.
    """
    runs = [np.asarray(run, dtype=float) for run in diffs]
    if not runs or any(run.ndim != 1 or run.size == 0 for run in runs):
        raise ValueError("hierarchical_bootstrap needs at least one PPO run, each with at least one seed's difference")
    if not all(np.isfinite(run).all() for run in runs):
        raise ValueError("paired differences must be finite")
    n_runs, sizes = len(runs), [int(run.size) for run in runs]
    if crossed and len(set(sizes)) != 1:
        raise ValueError(f"crossed runs share their seeds: every run needs the same seed count, got {sizes}")
    mean = float(np.mean([run.mean() for run in runs]))
    if indices is not None:
        if len(indices) < 1:
            raise ValueError("indices must hold at least one replicate")
        stats = np.empty(len(indices))
        for r, (run_idx, seed_idx) in enumerate(indices):
            run_idx = [int(j) for j in run_idx]
            if len(run_idx) != n_runs or not all(0 <= j < n_runs for j in run_idx) or len(seed_idx) != n_runs:
                raise ValueError(f"replicate {r}: need {n_runs} run indices in [0, {n_runs}) and one seed "
                                 f"index list per chosen run")
            if crossed and any(list(s) != list(seed_idx[0]) for s in seed_idx):
                raise ValueError(f"replicate {r}: crossed runs take one seed resample, the same for every run")
            means = []
            for j, s_idx in zip(run_idx, seed_idx):
                s_idx = np.asarray(s_idx, dtype=int)
                if s_idx.shape != (sizes[j],) or s_idx.min() < 0 or s_idx.max() >= sizes[j]:
                    raise ValueError(f"replicate {r}: run {j} needs {sizes[j]} seed indices in [0, {sizes[j]})")
                means.append(runs[j][s_idx].mean())
            stats[r] = np.mean(means)
        n_boot = len(indices)
    else:
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        rng = np.random.default_rng(seed)
        stats = np.empty(n_boot)
        for r in range(n_boot):
            chosen = rng.integers(0, n_runs, size=n_runs)
            if crossed:
                shared = rng.integers(0, sizes[0], size=sizes[0])
                stats[r] = np.mean([runs[j][shared].mean() for j in chosen])
            else:
                stats[r] = np.mean([runs[j][rng.integers(0, sizes[j], size=sizes[j])].mean() for j in chosen])
    degenerate = n_runs == 1 and sizes[0] == 1
    low, high = (math.nan, math.nan) if degenerate else _percentile_interval(stats)
    return {"mean": mean, "ci_low": low, "ci_high": high, "runs": n_runs, "seeds_per_run": sizes,
            "n_boot": int(n_boot), "method": CROSSED_METHOD if crossed else HIERARCHICAL_METHOD}


def two_sided_bootstrap(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], n_boot: int = 2000,
                        seed: int = 0) -> dict:
    """Pooled interval of A − B where each side is several PPO runs, every run measured on the same seeds (e.g. a
    zero-shot policy against policies trained on the task itself).

    `a`, `b`: one list per PPO run of that run's per-seed accuracies, in one seed order. Each replicate resamples
    A's runs, B's runs and one seed resample shared by every run of both sides (the seeds' noise is common to all,
    as in `hierarchical_bootstrap(crossed=True)`); its statistic is the mean of A's chosen runs' means minus B's.
    Entering B as its per-seed mean instead would leave B's run-to-run spread out of the interval: too narrow.
    Returns {"mean", "ci_low", "ci_high", "runs", "seeds_per_run", "n_boot", "method"}; "runs" is [A's, B's].
    """
    sides = [np.asarray(side, dtype=float) for side in (a, b)]
    if any(side.ndim != 2 or side.size == 0 for side in sides) or sides[0].shape[1] != sides[1].shape[1]:
        raise ValueError("two_sided_bootstrap needs, on each side, at least one PPO run of the same seeds, got "
                         f"{[side.shape for side in sides]}")
    if not all(np.isfinite(side).all() for side in sides):
        raise ValueError("accuracies must be finite")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    n_seeds = sides[0].shape[1]
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for r in range(n_boot):
        shared = rng.integers(0, n_seeds, size=n_seeds)
        chosen = [side[rng.integers(0, len(side), size=len(side))] for side in sides]
        stats[r] = chosen[0][:, shared].mean() - chosen[1][:, shared].mean()
    low, high = _percentile_interval(stats) if n_seeds > 1 or max(map(len, sides)) > 1 else (math.nan, math.nan)
    return {"mean": float(sides[0].mean() - sides[1].mean()), "ci_low": low, "ci_high": high,
            "runs": [len(side) for side in sides], "seeds_per_run": n_seeds, "n_boot": int(n_boot),
            "method": TWO_SIDED_METHOD}


def half_width(summary: dict) -> float:
    """Half the width of a summary's interval: (ci_high - ci_low) / 2 (NaN where the interval is undefined)."""
    return (summary["ci_high"] - summary["ci_low"]) / 2


def overlaps(interval_a: Sequence[float], interval_b: Sequence[float]) -> bool:
    """Whether two closed intervals (low, high) share a point; touching endpoints count as overlapping.

    Used to label a policy - control difference "indistinguishable from noise" when its interval overlaps
    the A/A interval. An undefined (NaN) or reversed interval raises: no label can be read from it.
    """
    (a_low, a_high), (b_low, b_high) = (tuple(map(float, interval_a)), tuple(map(float, interval_b)))
    for low, high in ((a_low, a_high), (b_low, b_high)):
        if math.isnan(low) or math.isnan(high) or low > high:
            raise ValueError(f"an interval needs low <= high, got ({low}, {high})")
    return max(a_low, b_low) <= min(a_high, b_high)


def required_seeds(std: float, half_width: float = 0.75, confidence: float = CONFIDENCE) -> int:
    """Smallest n >= 2 with t_{n-1} * std / sqrt(n) <= half_width: seeds for a target t-interval half-width.

    `std`: the measured sample std of per-seed paired differences; t_{n-1} the two-sided `confidence`
    Student-t quantile. The scan starts at the normal-approximation bound ceil((z * std / half_width)^2)
    minus one (t_{n-1} > z, so no smaller n can qualify) and steps up by one, which gives the same n as scanning from
    2 while staying quick for tiny half-widths.
    """
    if not (std >= 0 and math.isfinite(std)):
        raise ValueError(f"std must be a finite number >= 0, got {std}")
    if not (half_width > 0 and math.isfinite(half_width)):
        raise ValueError(f"half_width must be a finite number > 0, got {half_width}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    q = 0.5 + confidence / 2
    # one below the bound, so a rounding error in the bound can never skip the answer
    n = max(2, math.ceil((float(norm.ppf(q)) * std / half_width) ** 2) - 1)
    while float(student_t.ppf(q, n - 1)) * std / math.sqrt(n) > half_width:
        n += 1
    return n
