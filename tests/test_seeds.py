"""Named seed ranges: disjoint blocks, refusal of overlaps, episodes inside the choice range."""

import pytest

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
