"""rlkd.reports.stats bootstraps / power / overlap and the forest plot, checked against hand computations.

Percentile method under test: numpy.percentile(..., method="linear") (Hyndman & Fan type 7). With 5
replicates sorted s0..s4 the 2.5th percentile sits at position 0.025 * 4 = 0.1, i.e. s0 + 0.1 * (s1 - s0),
and the 97.5th at 3.9, i.e. s3 + 0.9 * (s4 - s3).
"""

import math

import numpy as np
import pytest
from PIL import Image

from rlkd.reports.plots import FOREST_DPI, FOREST_WIDTH_IN, forest_height_in, forest_plot
from rlkd.reports.stats import (
    CROSSED_METHOD,
    HIERARCHICAL_METHOD,
    half_width,
    hierarchical_bootstrap,
    overlaps,
    paired_bootstrap_examples,
    paired_summary,
    required_seeds,
    two_sided_bootstrap,
)


def _type7(sorted_stats, p):
    """Linear (type 7) percentile by hand: interpolate at position p/100 * (n - 1)."""
    pos = p / 100 * (len(sorted_stats) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_stats) - 1)
    return sorted_stats[lo] + (pos - lo) * (sorted_stats[hi] - sorted_stats[lo])


# --- paired bootstrap over test examples -------------------------------------------------------------

A = np.array([[1, 1, 0, 0],
              [1, 0, 1, 0]])
B = np.array([[0, 1, 0, 0],
              [1, 1, 0, 0]])
EXAMPLE_IDX = np.array([[0, 0, 0, 0],
                        [1, 1, 1, 1],
                        [0, 1, 2, 3],
                        [3, 3, 2, 2],
                        [1, 3, 3, 3]])


def test_paired_bootstrap_examples_by_hand():
    # seed 0: acc_a 50, acc_b 25 -> +25; seed 1: 50 - 50 -> 0; mean over seeds 12.5 points
    out = paired_bootstrap_examples(A, B, indices=EXAMPLE_IDX)
    assert out["mean"] == pytest.approx(12.5)
    assert out["n_boot"] == 5 and out["n_examples"] == 4
    # each replicate by hand: the same example resample on both arms and both seeds
    reps = []
    for idx in EXAMPLE_IDX:
        per_seed = [100 * (A[s, idx].mean() - B[s, idx].mean()) for s in range(2)]
        reps.append(np.mean(per_seed))
    assert reps == pytest.approx([50.0, -50.0, 12.5, 25.0, -12.5])
    s = sorted(reps)  # [-50, -12.5, 12.5, 25, 50]
    assert _type7(s, 2.5) == pytest.approx(-46.25)  # -50 + 0.1 * 37.5
    assert _type7(s, 97.5) == pytest.approx(47.5)  # 25 + 0.9 * 25
    assert out["ci_low"] == pytest.approx(-46.25)
    assert out["ci_high"] == pytest.approx(47.5)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(tuple(np.percentile(reps, [2.5, 97.5], method="linear")))


def test_paired_bootstrap_examples_identical_arms_zero_width():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2, size=(5, 60))
    out = paired_bootstrap_examples(a, a.copy(), n_boot=500, seed=1)
    assert out["mean"] == 0.0 and out["ci_low"] == 0.0 and out["ci_high"] == 0.0
    assert half_width(out) == 0.0


def test_paired_bootstrap_examples_seeded_and_sane():
    rng = np.random.default_rng(7)
    a = rng.random((4, 200)) < 0.8
    b = rng.random((4, 200)) < 0.7
    one = paired_bootstrap_examples(a, b, n_boot=800, seed=11)
    two = paired_bootstrap_examples(a, b, n_boot=800, seed=11)
    other = paired_bootstrap_examples(a, b, n_boot=800, seed=12)
    assert one == two
    assert (one["ci_low"], one["ci_high"]) != (other["ci_low"], other["ci_high"])
    assert one["mean"] == pytest.approx(100 * (a.mean(axis=1) - b.mean(axis=1)).mean())
    assert one["ci_low"] < one["mean"] < one["ci_high"]
    # a 1-D input is one seed
    single = paired_bootstrap_examples(a[0].astype(int), b[0].astype(int), n_boot=50, seed=0)
    assert single["mean"] == pytest.approx(100 * (a[0].mean() - b[0].mean()))


def test_paired_bootstrap_examples_rejects_bad_input():
    with pytest.raises(ValueError):
        paired_bootstrap_examples(A, B[:, :3])
    with pytest.raises(ValueError):
        paired_bootstrap_examples(A * 2, B)
    with pytest.raises(ValueError):
        paired_bootstrap_examples(A, B, indices=np.array([[0, 1, 2]]))
    with pytest.raises(ValueError):
        paired_bootstrap_examples(A, B, indices=np.array([[0, 1, 2, 4]]))


# --- hierarchical bootstrap: PPO runs, then seeds ----------------------------------------------------

DIFFS = [[1.0, 3.0], [0.0, 4.0, 8.0]]  # run means 2 and 4
RUN_IDX = [
    ([0, 0], [[0, 0], [1, 1]]),           # run0 {1,1} -> 1, run0 {3,3} -> 3: mean 2
    ([1, 1], [[0, 0, 0], [2, 2, 2]]),     # run1 {0,0,0} -> 0, run1 {8,8,8} -> 8: mean 4
    ([0, 1], [[0, 1], [0, 1, 2]]),        # 2 and 4: mean 3
    ([1, 0], [[1, 2, 2], [1, 1]]),        # run1 {4,8,8} -> 20/3, run0 {3,3} -> 3: mean 29/6
    ([0, 0], [[0, 0], [0, 0]]),           # 1 and 1: mean 1
]


def test_hierarchical_bootstrap_by_hand():
    out = hierarchical_bootstrap(DIFFS, indices=RUN_IDX)
    assert out["mean"] == pytest.approx(3.0)  # mean of per-run means, not the pooled 16/5
    assert out["runs"] == 2 and out["seeds_per_run"] == [2, 3] and out["n_boot"] == 5
    assert out["method"] == HIERARCHICAL_METHOD
    assert out["method"] == ("two-stage hierarchical bootstrap (PPO runs, then seeds within each run), "
                             "percentile 95% interval")
    reps = sorted([2.0, 4.0, 3.0, 29 / 6, 1.0])  # [1, 2, 3, 4, 29/6]
    assert _type7(reps, 2.5) == pytest.approx(1.1)  # 1 + 0.1 * 1
    assert _type7(reps, 97.5) == pytest.approx(4.75)  # 4 + 0.9 * 5/6
    assert out["ci_low"] == pytest.approx(1.1)
    assert out["ci_high"] == pytest.approx(4.75)
    assert half_width(out) == pytest.approx((4.75 - 1.1) / 2)


def test_hierarchical_bootstrap_one_run_is_a_seed_bootstrap():
    seeds = [0.5, -1.0, 2.0, 1.5]
    idx = [([0], [[0, 0, 1, 2]]), ([0], [[3, 3, 3, 3]]), ([0], [[1, 1, 2, 0]]), ([0], [[0, 1, 2, 3]])]
    out = hierarchical_bootstrap([seeds], indices=idx)
    plain = [np.mean(np.asarray(seeds)[i[1][0]]) for i in idx]  # a plain bootstrap over the one run's seeds
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(tuple(np.percentile(plain, [2.5, 97.5])))
    assert out["mean"] == pytest.approx(np.mean(seeds)) and out["runs"] == 1
    rand = hierarchical_bootstrap([seeds], n_boot=400, seed=0)
    assert min(seeds) <= rand["ci_low"] <= rand["mean"] <= rand["ci_high"] <= max(seeds)
    # one run of one seed: nothing varies, so no interval
    lone = hierarchical_bootstrap([[1.25]], n_boot=10)
    assert lone["mean"] == 1.25 and math.isnan(lone["ci_low"]) and math.isnan(lone["ci_high"])


def test_hierarchical_bootstrap_identical_arms_and_seeding():
    zero = hierarchical_bootstrap([[0.0, 0.0, 0.0], [0.0, 0.0]], n_boot=300, seed=4)
    assert zero["mean"] == 0.0 and zero["ci_low"] == 0.0 and zero["ci_high"] == 0.0 and half_width(zero) == 0.0
    rng = np.random.default_rng(5)
    diffs = [list(rng.normal(loc, 1.0, size=n)) for loc, n in ((0.5, 6), (1.5, 4), (-0.2, 5))]
    one = hierarchical_bootstrap(diffs, n_boot=600, seed=9)
    assert one == hierarchical_bootstrap(diffs, n_boot=600, seed=9)
    assert one != hierarchical_bootstrap(diffs, n_boot=600, seed=10)
    assert one["ci_low"] < one["mean"] < one["ci_high"]
    # the run stage widens the interval beyond what seeds alone give: these runs' means differ a lot
    pooled_seed_only = paired_summary([x for run in diffs for x in run], [0.0] * 15)
    assert half_width(one) > half_width(pooled_seed_only) > 0


def test_crossed_bootstrap_by_hand_shares_one_seed_resample():
    diffs = [[1.0, 3.0], [2.0, 6.0]]  # two runs on the same two seeds
    idx = [([0, 1], [[0, 0], [0, 0]]),  # seed 0 twice for both runs: (1 + 2) / 2 = 1.5
           ([1, 1], [[1, 1], [1, 1]]),  # run 1 twice, seed 1: 6
           ([0, 0], [[0, 1], [0, 1]]),  # run 0 twice, both seeds: 2
           ([1, 0], [[1, 0], [1, 0]])]  # both runs, both seeds: (4 + 2) / 2 = 3
    out = hierarchical_bootstrap(diffs, indices=idx, crossed=True)
    reps = sorted([1.5, 6.0, 2.0, 3.0])
    assert out["mean"] == pytest.approx(3.0) and out["method"] == CROSSED_METHOD
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((_type7(reps, 2.5), _type7(reps, 97.5)))
    with pytest.raises(ValueError, match="one seed resample"):
        hierarchical_bootstrap(diffs, indices=[([0, 1], [[0, 0], [1, 1]])], crossed=True)
    with pytest.raises(ValueError, match="same seed count"):
        hierarchical_bootstrap([[1.0, 2.0], [1.0]], crossed=True)


def test_a_seed_effect_shared_by_every_run_is_not_averaged_away_when_crossed():
    # three PPO runs on the same 12 seeds: the seeds' (and the shared control runs') noise is common to all
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0.0, 2.0, size=12)
    diffs = [list(seed_effect + rng.normal(0.0, 0.2, size=12)) for _ in range(3)]
    nested = hierarchical_bootstrap(diffs, n_boot=2000, seed=1)
    crossed = hierarchical_bootstrap(diffs, n_boot=2000, seed=1, crossed=True)
    one_run = paired_summary(diffs[0], [0.0] * 12)
    assert half_width(crossed) > 1.4 * half_width(nested)  # nested shrinks the shared noise by ~1/sqrt(3)
    assert half_width(crossed) == pytest.approx(half_width(one_run), rel=0.3)  # runs add little here


def test_two_sided_bootstrap_keeps_the_second_sides_run_spread():
    # A: three PPO runs that agree; B: three that differ by whole points run to run, on the same 12 seeds
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0.0, 1.0, size=12)
    a = [list(50.0 + seed_effect + rng.normal(0.0, 0.2, size=12)) for _ in range(3)]
    b = [list(48.0 + offset + seed_effect + rng.normal(0.0, 0.2, size=12)) for offset in (-3.0, 0.0, 3.0)]
    both = two_sided_bootstrap(a, b, n_boot=2000, seed=1)
    b_mean = [float(np.mean(column)) for column in zip(*b)]
    a_only = hierarchical_bootstrap([[x - y for x, y in zip(run, b_mean)] for run in a], 2000, seed=1, crossed=True)
    assert both["mean"] == pytest.approx(float(np.mean(a) - np.mean(b))) == pytest.approx(a_only["mean"])
    assert both["runs"] == [3, 3] and both["seeds_per_run"] == 12
    assert half_width(both) > 3 * half_width(a_only)  # B's ±3-point runs are in the interval, not averaged away
    shifted = two_sided_bootstrap([[x + 1.5 for x in run] for run in a], b, n_boot=2000, seed=1)
    assert (shifted["ci_low"], shifted["ci_high"]) == pytest.approx((both["ci_low"] + 1.5, both["ci_high"] + 1.5))
    same = two_sided_bootstrap(a, a, n_boot=500, seed=2)
    assert same["ci_low"] < 0 < same["ci_high"] and same["mean"] == pytest.approx(0.0)


def test_two_sided_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="same seeds"):
        two_sided_bootstrap([[1.0, 2.0]], [[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="same seeds"):
        two_sided_bootstrap([], [[1.0]])
    with pytest.raises(ValueError, match="finite"):
        two_sided_bootstrap([[1.0, float("nan")]], [[1.0, 2.0]])
    assert math.isnan(two_sided_bootstrap([[1.0]], [[2.0]])["ci_low"])  # one run of one seed a side: nothing varies


def test_hierarchical_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError):
        hierarchical_bootstrap([])
    with pytest.raises(ValueError):
        hierarchical_bootstrap([[1.0], []])
    with pytest.raises(ValueError):
        hierarchical_bootstrap(DIFFS, indices=[([0, 2], [[0, 0], [0, 0]])])
    with pytest.raises(ValueError):
        hierarchical_bootstrap(DIFFS, indices=[([0, 1], [[0, 0], [0, 0]])])  # run 1 needs 3 seed indices


# --- overlaps and required_seeds --------------------------------------------------------------------

def test_overlaps_edge_cases():
    assert overlaps((0, 1), (0.5, 2))
    assert overlaps((0.5, 2), (0, 1))
    assert not overlaps((0, 1), (1.01, 2))
    assert not overlaps((1.01, 2), (0, 1))
    assert overlaps((0, 1), (1, 2))  # touching endpoints overlap (closed intervals)
    assert overlaps((-3, 3), (-0.1, 0.1))  # nested
    assert overlaps((0.2, 0.2), (0, 1))  # a point inside
    assert not overlaps((0.2, 0.2), (0.3, 0.3))
    assert overlaps((-1, -0.5), (-1, -0.5))  # identical
    with pytest.raises(ValueError):
        overlaps((1, 0), (0, 1))
    with pytest.raises(ValueError):
        overlaps((math.nan, 1), (0, 1))


def test_required_seeds_against_t_table():
    # t_{0.975}: df 44 -> 2.0154, df 45 -> 2.0141 (printed tables)
    assert 2.0154 * 2.5 / math.sqrt(45) > 0.75  # n = 45: 0.7511, too wide
    assert 2.0141 * 2.5 / math.sqrt(46) <= 0.75  # n = 46: 0.7424
    assert required_seeds(2.5) == 46
    # t_{0.975}: df 8 -> 2.306, df 9 -> 2.262; std 1: n = 9 gives 0.769, n = 10 gives 0.715
    assert required_seeds(1.0) == 10
    assert required_seeds(0.0) == 2
    assert required_seeds(1.0, half_width=100.0) == 2
    # t_{0.95}, df 9 -> 1.833: 1.833 * 1 / sqrt(10) = 0.580; df 8 -> 1.860 / 3 = 0.620
    assert required_seeds(1.0, half_width=0.6, confidence=0.90) == 10


def test_required_seeds_matches_a_scan_from_two():
    from scipy.stats import t

    for std, hw in ((0.3, 0.75), (2.5, 0.75), (1.7, 0.4), (4.0, 0.25), (0.01, 0.001)):
        n = 2
        while t.ppf(0.975, n - 1) * std / math.sqrt(n) > hw:
            n += 1
        assert required_seeds(std, hw) == n
    with pytest.raises(ValueError):
        required_seeds(-1.0)
    with pytest.raises(ValueError):
        required_seeds(1.0, half_width=0.0)


# --- forest plot ------------------------------------------------------------------------------------

def test_forest_plot_writes_png(tmp_path):
    rows = [
        {"label": "A/A (KD vs KD, other order stream)", "test": (0.1, -0.6, 0.8), "val": (0.0, -0.5, 0.5)},
        {"label": "policy − KD", "test": (0.9, 0.2, 1.6), "val": (1.4, 0.8, 2.0)},
        {"label": "policy − random curriculum (1 seed)", "test": (0.3, math.nan, math.nan), "val": None},
    ]
    path = forest_plot(tmp_path / "forest.png", rows, aa_band=(-0.6, 0.8), title="test forest")
    assert path == tmp_path / "forest.png"
    assert path.stat().st_size > 0
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG"
        assert img.size == (round(FOREST_WIDTH_IN * FOREST_DPI), round(forest_height_in(3) * FOREST_DPI))
        assert img.size == (770, 330)
    forest_plot(tmp_path / "no_band.png", rows[1:2])
    with Image.open(tmp_path / "no_band.png") as img:
        assert img.size == (770, round(2.5 * FOREST_DPI))
    with pytest.raises(ValueError):
        forest_plot(tmp_path / "empty.png", [])
