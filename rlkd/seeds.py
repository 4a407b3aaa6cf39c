"""Named, disjoint ranges of student seeds, by what a seed may be used for (shared/EVALUATION.md).

A number measured on seeds that chose something (a recipe, a finalist, a PPO policy) is biased up by the
choice, so every seed rlkd draws comes from the range of its use: **choice** seeds (recipe trials and
finalists, the tuned baselines, PBT, PPO episodes), **evaluation** seeds (`rlkd evaluate`) and
**confirmation** seeds (the docs' headline runs, one named sub-range per headline). The choice range is cut
into fixed blocks, one per stage, so two stages never share a seed either. Pure functions: no torch.
"""

from __future__ import annotations

from typing import Sequence

from rlkd.errors import ConfigError

# 10000-10009 were the evaluation seeds before the ranges existed and were used for choices (the reward's loss
# variant, envs per runner, the main job's regime): they are spent, and no evaluation or confirmation range
# may contain them
SPENT = (10_000, 10_010)

# offsets inside the choice range: [start, stop) of each stage's block; episodes take the rest of the range
BLOCK_SIZE = 100
CHOICE_BLOCKS = {name: (i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)
                 for i, name in enumerate(("recipe_search", "recipe_confirm", "baseline_search", "pbt"))}
EPISODES_OFFSET = 1_000


def overlap(a: Sequence[int], b: Sequence[int]) -> bool:
    """Whether two half-open ranges [start, stop) share a seed."""
    return max(a[0], b[0]) < min(a[1], b[1])


def block_seeds(choice: Sequence[int], block: str, n: int) -> list[int]:
    """The first n seeds of a stage's block of the choice range."""
    start, stop = CHOICE_BLOCKS[block]
    if n > stop - start:
        raise ValueError(f"{block}: {n} seeds asked for, the block holds {stop - start}")
    return [choice[0] + start + i for i in range(n)]


def episode_range(choice: Sequence[int]) -> tuple[int, int]:
    """Where PPO episodes draw their runs' seeds: the choice range past the stages' blocks."""
    return choice[0] + EPISODES_OFFSET, choice[1]


def range_seeds(bounds: Sequence[int], n: int, where: str) -> list[int]:
    """The first n seeds of a range; more than it holds is an error naming it."""
    if n > bounds[1] - bounds[0]:
        raise ValueError(f"{where} {list(bounds)} holds {bounds[1] - bounds[0]} seeds, {n} asked for")
    return [bounds[0] + i for i in range(n)]


def refuse_used_seeds(key: str, bounds: Sequence[int], used: dict[str, Sequence[int]]) -> None:
    """Raise ConfigError (exit 2) naming both ranges when the seeds to evaluate on share any seed with a range
    that chose something (a checkpoint's training, the recipe stage), or with the spent seeds."""
    for where, other in {**used, "the spent seeds (the old evaluation seeds, used for choices)": SPENT}.items():
        if overlap(bounds, other):
            raise ConfigError(f"{key} {list(bounds)} shares seeds with {where} {list(other)}: a seed that chose "
                              f"something cannot measure it; evaluate on a range that holds none of them "
                              f"(--set seeds.evaluation=[start, stop])")
