"""`rlkd pbt`'s exploit and explore steps (pure functions), checked by hand; the whole command runs in test_tune.py."""

import math

import numpy as np

from rlkd.config import load_config
from rlkd.tune.pbt import PERTURB_FACTORS, exploit_pairs, explore, population_size, search_space


def test_bottom_quarter_takes_over_the_top_quarter_worst_with_best():
    scores = [50.0, 70.0, math.nan, 60.0, 80.0, 40.0, 65.0, 55.0]
    # ascending: nan (2), 40 (5), 50 (0), 55 (7), 60 (3), 65 (6), 70 (1), 80 (4); a quarter of 8 is 2
    assert exploit_pairs(scores) == [(2, 4), (5, 1)]
    assert exploit_pairs([10.0, 30.0]) == [(0, 1)]  # at least one pair


def test_explore_redraws_a_quarter_and_scales_the_rest_within_range():
    cfg = load_config(None, ["env.min_fraction=0.3"])
    space = search_space(cfg)
    assert space == {"difficulty": (0.0, 1.0), "fraction": (0.3, 1.0), "alpha": (0.0, 1.0),
                     "temperature": tuple(cfg.env.temperature_range)}
    rng = np.random.default_rng(0)
    draws = [explore({"difficulty": 0.5, "fraction": 0.9, "alpha": 0.5, "temperature": 4.0}, space, rng)
             for _ in range(400)]
    assert PERTURB_FACTORS == (0.8, 1.2)
    assert all(0.0 <= d["difficulty"] <= 1.0 and 0.3 <= d["fraction"] <= 1.0 for d in draws)
    scaled = sum(any(abs(d["difficulty"] - v) < 1e-12 for v in (0.4, 0.6)) for d in draws) / len(draws)
    assert 0.68 <= scaled <= 0.82  # 3/4 scaled by 0.8 or 1.2, 1/4 redrawn
    fractions = [d["fraction"] for d in draws]
    assert any(abs(f - 0.72) < 1e-12 for f in fractions) and 1.0 in fractions  # 0.9 x 0.8; 0.9 x 1.2 clipped


def test_a_pbt_budget_sizes_the_population_to_spend_it():
    assert population_size(load_config(None, ["distill.epochs=40"])) == 4
    assert population_size(load_config(None, ["distill.epochs=40", "tune.pbt.budget=12217"])) == 305
    assert population_size(load_config(None, ["distill.epochs=40", "tune.pbt.budget=50"])) == 4  # at least
    half = load_config(None, ["distill.epochs=40", "tune.pbt.budget=12217", "env.budget=0.5"])
    assert population_size(half) == 610  # each member sees half the samples
