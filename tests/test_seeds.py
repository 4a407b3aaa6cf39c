"""Named seed ranges: disjoint blocks, refusal of overlaps, episodes inside the choice range."""

import re

import numpy as np
import pytest

from rlkd.config import load_config
from rlkd.env.curriculum_env import draw_run_seed
from rlkd.errors import ConfigError
from rlkd.seeds import CHOICE_BLOCKS, EPISODES_OFFSET, SPENT, block_seeds, episode_range, overlap, range_seeds


def test_overlap_is_half_open():
    assert overlap((0, 10), (9, 20))
    assert not overlap((0, 10), (10, 20))
    assert overlap((5, 6), (0, 100))
    assert not overlap((20, 30), (0, 10))


def test_choice_blocks_are_disjoint_and_below_episodes():
    blocks = sorted(CHOICE_BLOCKS.values())
    for a, b in zip(blocks, blocks[1:]):
        assert not overlap(a, b)
    assert blocks[-1][1] <= EPISODES_OFFSET


def test_block_seeds_start_at_their_block():
    assert block_seeds((500, 5000), "recipe_confirm", 3) == [600, 601, 602]
    with pytest.raises(ValueError, match="recipe_search"):
        block_seeds((0, 5000), "recipe_search", 101)


def test_episode_range_is_inside_choice_and_past_blocks():
    lo, hi = episode_range((0, 1_000_000))
    assert (lo, hi) == (EPISODES_OFFSET, 1_000_000)


def test_range_seeds_refuses_more_than_it_holds():
    assert range_seeds((20_000, 20_003), 3, "env.evaluation_seeds") == [20_000, 20_001, 20_002]
    with pytest.raises(ValueError, match="env.evaluation_seeds"):
        range_seeds((20_000, 20_003), 4, "env.evaluation_seeds")


def test_spent_range_is_the_old_evaluation_seeds():
    assert SPENT == (10_000, 10_010)


@pytest.mark.parametrize("overrides, message", [
    (["seeds.evaluation=[5000, 12000]"], "seeds.choice [0, 10000] and seeds.evaluation [5000, 12000] share seeds"),
    (["seeds.evaluation=[10005, 10020]"], "the old evaluation seeds"),
    (["seeds.confirmation={a: [40000, 40100], b: [40050, 40200]}"], "seeds.confirmation.a"),
    (["seeds.evaluate_on=confirmation.nope"], "seeds.evaluate_on"),
    (["seeds.choice=[0, 500]"], "seeds.choice"),
])
def test_overlapping_or_malformed_seed_ranges_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(None, overrides)


def test_episode_seeds_are_drawn_inside_the_choice_range():
    cfg = load_config(None, ["env.seed=123456789"])
    rng = np.random.default_rng(0)
    low, high = episode_range(cfg.seeds.choice)
    assert all(low <= draw_run_seed(rng, cfg) < high for _ in range(200))
