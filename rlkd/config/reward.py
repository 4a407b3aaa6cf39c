"""The `reward:` section: the seed reward's weights (DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rlkd.config.checks import check, check_at_least


@dataclass
class RewardConfig:
    """Weights of the seed reward (DESIGN.md); the defaults are the seed's."""

    acc_weight: float = 2.0
    loss_weight: float = 5.0
    loss_cap: float = 5.0
    early_bonus: float = 2.0
    early_acc: float = 60.0
    early_fraction: float = 0.3
    abs_weight: float = 0.1
    abs_threshold: float = 70.0
    # l_t: "reference" = the run's configured loss over all of train after the epoch, which no action (alpha,
    # temperature, subset) can re-define; "epoch" = the epoch's mean training loss, the seed's (docs/rl.md)
    train_loss: Literal["epoch", "reference"] = "reference"
    # "absolute": early_acc and abs_threshold are accuracies in % (the seed's); "teacher": shares in % of the
    # teacher's val accuracy (60 -> 0.6 x the teacher's), so the bonuses mean the same on every task (env.tasks)
    thresholds: Literal["absolute", "teacher"] = "absolute"

    def validate(self, path: str) -> None:
        check_at_least(self, path, 0, "acc_weight", "loss_weight", "loss_cap", "early_bonus", "abs_weight")
        check(0.0 <= self.early_fraction <= 1.0, f"{path}.early_fraction", self.early_fraction, "a float in [0, 1]")
        for name in ("early_acc", "abs_threshold"):
            value = getattr(self, name)
            check(0.0 <= value <= 100.0, f"{path}.{name}", value, "an accuracy in percent, in [0, 100]")
