"""The `distill:` section: one student's run (optimiser, schedule, KD loss) and its sub-sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from rlkd.config.checks import check, check_at_least


@dataclass
class FeatureKDConfig:
    """Feature-level KD from the stored teacher embeddings, added to distill.mode's loss."""

    weights: dict = field(default_factory=dict)  # loss name -> weight: fitnet, pkt, rkd; empty: off
    student_layer: Optional[str] = None  # null: the input of the student's last nn.Linear; else a module name
    kwargs: dict = field(default_factory=dict)  # loss name -> its keyword arguments, e.g. {rkd: {angle_weight: 0}}

    def validate(self, path: str) -> None:
        for name, weight in self.weights.items():
            check(isinstance(weight, (int, float)) and not isinstance(weight, bool) and weight >= 0,
                  f"{path}.weights.{name}", weight, "a number >= 0")


@dataclass
class DKDConfig:
    """Decoupled KD (mdistiller's DKD): target and non-target terms, linearly warmed up."""

    alpha: float = 1.0  # weight of the target-class term
    beta: float = 8.0  # weight of the non-target term
    warmup: int = 5  # epochs of linear warm-up of the DKD term
    ce_weight: float = 1.0  # weight of the label loss

    def validate(self, path: str) -> None:
        check_at_least(self, path, 0, "alpha", "beta", "warmup", "ce_weight")


@dataclass
class DistillConfig:
    """One student's run: optimiser, schedule and KD loss."""

    mode: str = "kd"  # a name in rlkd.distill.losses.LOSSES
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"  # a name in rlkd.distill.optimizers.OPTIMIZERS
    lr: float = 0.003
    weight_decay: float = 0.0
    temperature: float = 4.0
    alpha: float = 0.1  # weight of the label loss in kd / multi_teacher
    dkd: DKDConfig = field(default_factory=DKDConfig)
    seed: int = 0  # the student's initialisation, and its order/view stream while order_stream is 0
    # 0: the run's sample order and views come from distill.seed; k > 0: from an independent stream k on the same
    # initialisation (`rlkd evaluate`'s A/A row: the same recipe twice, to measure what a reshuffle alone moves)
    order_stream: int = 0
    amp: bool = True  # bf16 autocast, on CUDA only
    channels_last: bool = True  # on CUDA only
    prerender_mb: int = 1024  # render all stored views once when they fit in this many MB
    feature: FeatureKDConfig = field(default_factory=FeatureKDConfig)

    def validate(self, path: str) -> None:
        check_at_least(self, path, 1, "epochs", "batch_size")
        check_at_least(self, path, 0, "weight_decay", "prerender_mb", "order_stream")
        check(self.lr > 0, f"{path}.lr", self.lr, "a float > 0")
        check(self.temperature > 0, f"{path}.temperature", self.temperature, "a float > 0")
        check(0.0 <= self.alpha <= 1.0, f"{path}.alpha", self.alpha, "a float in [0, 1]")
