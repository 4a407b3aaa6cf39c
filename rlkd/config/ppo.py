"""The `ppo:` section: RLlib PPO, counted in epochs (one env step is one epoch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from rlkd.config.checks import check, check_at_least


@dataclass
class PPOConfig:
    """RLlib PPO (new API stack). One env step is one epoch, so batches are counted in epochs."""

    iterations: int = 5
    lr: float = 3e-4
    gamma: float = 0.99
    lambda_: float = 0.95
    clip_param: float = 0.2
    entropy_coeff: float = 0.0
    vf_loss_coeff: float = 1.0
    num_epochs: int = 10
    minibatch_size: int = 40
    episodes_per_batch: int = 2  # train batch = this many whole episodes (RLlib samples whole episodes)
    checkpoint_every: int = 1  # iterations
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    seed: int = 0
    checkpoint: Optional[str] = None  # policy checkpoint for apply / evaluate (set by the train stage)
    # more PPO runs' checkpoints for `rlkd evaluate`: each is reported, and pooled with ppo.checkpoint over PPO
    # runs x seeds (a claim about the method replicates over PPO runs, not only over student seeds)
    checkpoints: list[str] = field(default_factory=list)
    # a policy trained elsewhere (a checkpoint folder or builtin:<name>) that `rlkd evaluate` shows beside the
    # policy trained on the target, labelled zero-shot when no task it was trained on shares the target's family
    pretrained: Optional[str] = None
    resume: Optional[str] = None  # continue training from this checkpoint, iteration count intact

    def validate(self, path: str) -> None:
        check_at_least(self, path, 1, "iterations", "num_epochs", "minibatch_size", "episodes_per_batch",
                       "checkpoint_every")
        check_at_least(self, path, 0, "entropy_coeff", "vf_loss_coeff")
        check(self.lr > 0, f"{path}.lr", self.lr, "a float > 0")
        check(self.clip_param > 0, f"{path}.clip_param", self.clip_param, "a float > 0")
        for name in ("gamma", "lambda_"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"{path}.{name}", value, "a float in [0, 1]")
        check(len(self.hidden) >= 1 and all(size >= 1 for size in self.hidden), f"{path}.hidden", self.hidden,
              "a non-empty list of layer sizes, each an integer >= 1")
