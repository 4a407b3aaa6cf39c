"""The `curriculum:` section: which training samples an epoch uses when no policy chooses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from rlkd.config.checks import check


@dataclass
class CurriculumConfig:
    """Which training samples an epoch uses (rlkd.distill.samplers)."""

    sampler: str = "full"  # a name in rlkd.distill.samplers.SAMPLERS
    difficulty: float = 0.5  # target difficulty when no policy chooses it
    fraction: float = 0.7  # share of the training set an epoch uses (the seed's 70%)
    stratify: bool = True  # select within each class (a global window drops whole classes)
    pacing: Literal["linear", "root", "geometric"] = "linear"
    pacing_start: float = 0.3  # pacing: share of the data at the first epoch
    kl_refresh: Literal["full", "train_pass"] = "full"  # how D_kl follows the student (docs/distill.md)
    full_pass_every: int = 5  # with train_pass: also a full pass every k epochs
    # a trained policy that picks every epoch's action in `rlkd distill` (--curriculum policy:REF): a checkpoint
    # folder from `rlkd train`, or builtin:<name> (rlkd/policies); null: the sampler above, every epoch alike
    policy: Optional[str] = None

    def validate(self, path: str) -> None:
        check(0.0 < self.fraction <= 1.0, f"{path}.fraction", self.fraction, "a float in (0, 1]")
        check(0.0 <= self.difficulty <= 1.0, f"{path}.difficulty", self.difficulty, "a float in [0, 1]")
        check(0.0 < self.pacing_start <= 1.0, f"{path}.pacing_start", self.pacing_start, "a float in (0, 1]")
        check(self.full_pass_every >= 1, f"{path}.full_pass_every", self.full_pass_every, "an integer >= 1")
