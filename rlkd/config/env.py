"""The `env:` section: the gymnasium environment (episode = one run, step = one epoch) and its action space."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from rlkd.config.checks import check


@dataclass
class TaskConfig:
    """One task of a family PPO trains across (`env.tasks`): the target with `overrides` applied (data source and
    kwargs, label noise, budget, student, epochs, recipe, its teacher and shards, ...), drawn with `weight`."""

    name: str = ""
    overrides: list[str] = field(default_factory=list)  # `--set`-style, on the target config
    weight: float = 1.0

    def validate(self, path: str) -> None:
        check(bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name)), f"{path}.name", self.name,
              "a name of letters, digits, '_', '.' or '-' (it names the task's folders and report rows)")
        check(self.weight > 0, f"{path}.weight", self.weight, "a number > 0 (the task's share of the episodes)")


@dataclass
class EnvConfig:
    """The gymnasium environment: episode = one run (distill.epochs epochs or the budget), step = one epoch."""

    sampler: str = "adaptive"  # the sampler the action's difficulty drives (a name in SAMPLERS)
    action: Literal["continuous", "discrete"] = "continuous"
    difficulty_bins: int = 5  # discrete: difficulty = bin / (bins - 1)
    control_temperature: bool = False  # extra action dimension: KD temperature
    temperature_range: list[float] = field(default_factory=lambda: [1.0, 8.0])
    control_fraction: bool = True  # extra action dimension: subset fraction (lets a policy use all data)
    min_fraction: float = 0.3
    control_teacher_weights: bool = False  # one extra dimension per teacher (multi-teacher KD)
    control_alpha: bool = False  # extra action dimension: the label weight of the kd loss for the epoch, in [0, 1]
    control_mix: bool = False  # extra action dimension: share of the subset from the window, the rest random
    control_sampler: bool = False  # extra action dimension: the window sampler, one of sampler_choices
    control_feature_weight: bool = False  # extra action dimension: x0..x2 on distill.feature.weights (centre x1)
    control_lr_scale: bool = False  # extra action dimension: x0.1..x10 on the run's lr, log scale (centre x1)
    sampler_choices: list[str] = field(default_factory=lambda: ["adaptive", "hard_mining", "clean", "easy_to_hard"])
    divergence_penalty: float = -10.0  # reward when the run diverges; the episode ends there
    seed: int = 0  # base seed of the episodes' runs
    # runs per method in `rlkd evaluate`: 24 give a 95% half-width of about 0.75 points for policy − kd on test at
    # the sd of paired differences measured on the default (1.3-1.8; docs/results.md)
    eval_seeds: int = 24
    # compute budget: a run sees at most budget x distill.epochs x N training samples (docs/distill.md)
    budget: float = 1.0
    # `--set`-style overrides for the episodes PPO trains on (`rlkd train` / `rlkd tune`), e.g.
    # ["distill.epochs=10"]: cheap proxy episodes, the policy then applied to the target (docs/rl.md)
    proxy: list[str] = field(default_factory=list)
    # tasks PPO's episodes are drawn from (seeded, by weight), each the target with its own overrides
    # (docs/rl.md "Training across tasks"); empty: every episode runs the target (or its proxy)
    tasks: list[TaskConfig] = field(default_factory=list)
    # five more observation keys that mean the same on every task (rlkd.curriculum.observation)
    task_features: bool = False

    def validate(self, path: str) -> None:
        check(0.0 < self.budget <= 1.0, f"{path}.budget", self.budget,
              "a float in (0, 1], the share of distill.epochs x N training samples a run may see")
        check(self.difficulty_bins >= 2, f"{path}.difficulty_bins", self.difficulty_bins, "an integer >= 2")
        check(self.eval_seeds >= 1, f"{path}.eval_seeds", self.eval_seeds,
              "an integer >= 1 (set by `rlkd evaluate --seeds N` or env.eval_seeds)")
        tr = self.temperature_range
        check(len(tr) == 2 and 0 < tr[0] < tr[1], f"{path}.temperature_range", tr, "[low, high] with 0 < low < high")
        check(0.0 < self.min_fraction <= 1.0, f"{path}.min_fraction", self.min_fraction, "a float in (0, 1]")
        check(self.divergence_penalty <= 0, f"{path}.divergence_penalty", self.divergence_penalty,
              "a float <= 0 (the reward of the epoch where a run diverges)")
        check(len(self.sampler_choices) >= 1, f"{path}.sampler_choices", self.sampler_choices,
              "a non-empty list of sampler names (control_sampler picks one per epoch)")
        controls = ("control_temperature", "control_fraction", "control_teacher_weights", "control_alpha",
                    "control_mix", "control_sampler", "control_feature_weight", "control_lr_scale")
        check(self.action == "continuous" or not any(getattr(self, c) for c in controls), f"{path}.action",
              self.action, "continuous when any of " + " / ".join(controls) + " is on")
        names = [task.name for task in self.tasks]
        for i, task in enumerate(self.tasks):  # each task's own fields: TaskConfig.validate
            check(task.name not in names[:i], f"{path}.tasks[{i}].name", task.name, "a name no other task has")
