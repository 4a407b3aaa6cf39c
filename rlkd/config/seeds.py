"""The `seeds:` section: named, disjoint seed ranges by what they may be used for (rlkd/seeds.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rlkd.config.checks import check
from rlkd.errors import ConfigError
from rlkd.seeds import EPISODES_OFFSET, SPENT, overlap

SEED_RANGE = "[start, stop): integers with 0 <= start < stop"


def _check_seed_range(bounds: Any, path: str) -> None:
    check(isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
          and 0 <= bounds[0] < bounds[1], path, bounds, SEED_RANGE)


@dataclass
class SeedsConfig:
    """Named, disjoint ranges [start, stop) of student seeds by what they may be used for (rlkd/seeds.py).

    Choices (recipe trials and finalists, tuned baselines, PBT, PPO episodes) draw from `choice`; `rlkd evaluate`
    from `evaluation`, or from one named `confirmation` range (the docs' headline runs, one per headline) with
    `evaluate_on: confirmation.<name>`. No two ranges may share a seed, and 10000-10009 (the old evaluation
    seeds, used for choices) are spent: no evaluation or confirmation range may hold them.
    """

    choice: list[int] = field(default_factory=lambda: [0, 10_000])
    evaluation: list[int] = field(default_factory=lambda: [20_000, 30_000])
    confirmation: dict = field(default_factory=lambda: {
        "default": [30_000, 30_500], "label_noise_0.2": [30_500, 31_000], "label_noise_0.4": [31_000, 31_500],
        "budget_0.5": [31_500, 32_000]})
    evaluate_on: str = "evaluation"

    def named(self) -> dict[str, list[int]]:
        """Every range by its config key."""
        return {"seeds.choice": self.choice, "seeds.evaluation": self.evaluation,
                **{f"seeds.confirmation.{k}": v for k, v in self.confirmation.items()}}

    def evaluation_range(self) -> tuple[str, list[int]]:
        """(config key, range) that `rlkd evaluate` draws its seeds from."""
        key = "seeds.evaluation" if self.evaluate_on == "evaluation" else f"seeds.{self.evaluate_on}"
        return key, self.named()[key]

    def validate(self, path: str) -> None:
        for key, bounds in self.named().items():
            _check_seed_range(bounds, key)
        check(self.choice[1] - self.choice[0] > EPISODES_OFFSET, f"{path}.choice", self.choice,
              f"a range of more than {EPISODES_OFFSET} seeds (the stages' blocks, then the PPO episodes)")
        names = ["evaluation", *(f"confirmation.{k}" for k in self.confirmation)]
        check(self.evaluate_on in names, f"{path}.evaluate_on", self.evaluate_on, "one of " + ", ".join(names))
        ranges = list(self.named().items())
        for i, (key, bounds) in enumerate(ranges):
            if key != "seeds.choice" and overlap(bounds, SPENT):
                raise ConfigError(f"{key}: {bounds} holds seeds of {list(SPENT)}, the old evaluation seeds that were "
                                  f"used for choices; start it at {SPENT[1]} or later")
            for other, other_bounds in ranges[i + 1:]:
                if overlap(bounds, other_bounds):
                    raise ConfigError(f"{key} {bounds} and {other} {other_bounds} share seeds; seed ranges must be "
                                      f"disjoint (a seed that chose something cannot also measure it)")
