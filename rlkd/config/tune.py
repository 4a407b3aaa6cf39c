"""The `tune:` section: Ray Tune over PPO, and its `recipe:` (`rlkd recipe`) and `pbt:` (`rlkd pbt`) sub-sections.

A search space (tune.param_space, tune.recipe.space) maps any config key to a search: {grid: [..]},
{choice: [..]}, {uniform: [lo, hi]} or {loguniform: [lo, hi]}, e.g. `ppo.lr: {loguniform: [1e-4, 1e-3]}`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from rlkd.config.checks import check, check_at_least
from rlkd.config.coerce import coerce

SEARCH_KINDS = ("grid", "choice", "uniform", "loguniform")
SEARCH_SPACES = ("param_space", "recipe.space")  # the tune fields mapping config keys to searches


def check_search(spec: Any, path: str) -> None:
    """The shape of one search; whether its values fit the key is checked by `Config.validate`."""
    check(isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in SEARCH_KINDS
          and isinstance(next(iter(spec.values())), list), path, spec,
          "one of {grid: [...]}, {choice: [...]}, {uniform: [lo, hi]}, {loguniform: [lo, hi]}")
    (kind, values), = spec.items()
    if kind in ("grid", "choice"):
        check(len(values) >= 1, f"{path}.{kind}", values, "a non-empty list of the values to try")
        return
    bounds = [coerce(v, float, f"{path}.{kind}[{i}]") for i, v in enumerate(values)]
    low = 0.0 if kind == "loguniform" else -math.inf
    check(len(bounds) == 2 and all(math.isfinite(b) for b in bounds) and low < bounds[0] < bounds[1],
          f"{path}.{kind}", values, "[lo, hi]: two finite numbers with lo < hi"
          + (" and lo > 0 (a log scale)" if kind == "loguniform" else ""))


def search_space(tune: "TuneConfig", name: str) -> dict:
    """A search space by its SEARCH_SPACES name ("recipe.space": tune.recipe.space)."""
    node: Any = tune
    for part in name.split("."):
        node = getattr(node, part)
    return node


@dataclass
class RecipeConfig:
    """`rlkd recipe`: the plain-KD settings searched on val before RL (docs/distill.md, "Recipe stage")."""

    space: dict = field(default_factory=lambda: {
        "distill.lr": {"loguniform": [0.0003, 0.03]}, "distill.temperature": {"choice": [1.0, 2.0, 4.0, 8.0]},
        "distill.alpha": {"uniform": [0.1, 0.9]}})
    samples: int = 12  # KD runs in the search, the config's own recipe included
    grace_period: int = 5  # ASHA: epochs before a recipe trial can be stopped
    seeds: int = 2  # KD runs per recipe trial, ranked by their mean val accuracy
    finalists: int = 3  # the search's best recipes re-run (with the config's own) on fresh seeds to choose
    # fresh choice seeds each finalist and the config's own recipe are re-run on; a finalist replaces the config's
    # recipe only where the lower bound of its paired `confidence` interval of val gain is above 0
    confirm_seeds: int = 8
    confidence: float = 0.9
    # informational, set by the recipe stage's wiring for `rlkd evaluate`'s report: KD's tuning budget, and the
    # config's own recipe as overrides when the stage replaced it (evaluate's "kd, the config's own recipe" row)
    trials: int = 0
    epochs_trained: int = 0
    replaced: list[str] = field(default_factory=list)
    choice: list[int] = field(default_factory=list)  # the seeds.choice range the recipe stage drew from
    seconds: float = 0.0  # the recipe stage's wall time

    def validate(self, path: str) -> None:
        check_at_least(self, path, 1, "samples", "grace_period", "seeds", "finalists")
        check(self.confirm_seeds >= 2, f"{path}.confirm_seeds", self.confirm_seeds,
              "an integer >= 2 (a paired interval needs two seeds; 8 or more for a 360-sample val set)")
        check(0.5 <= self.confidence < 1.0, f"{path}.confidence", self.confidence,
              "a float in [0.5, 1), the level of the paired interval a finalist's val gain must clear")
        check_at_least(self, path, 0, "trials", "epochs_trained", "seconds")
        check(len(self.space) >= 1, f"{path}.space", self.space,
              "a mapping of at least one config key to its search (tune.recipe.samples=1 runs the config's own "
              "recipe only)")


@dataclass
class PBTConfig:
    """`rlkd pbt`: Population Based Training of the curriculum, the baseline a user would try instead of RL."""

    population: int = 4  # KD runs in the population (at least)
    budget: float = 0.0  # KD epochs to spend (e.g. the RL's); 0: `population` members only
    schedule: Optional[str] = None  # a schedule.json from `rlkd pbt`, shown by `rlkd evaluate`

    def validate(self, path: str) -> None:
        check(self.population >= 2, f"{path}.population", self.population, "an integer >= 2")
        check_at_least(self, path, 0, "budget")


@dataclass
class TuneConfig:
    """Ray Tune over PPO (`rlkd tune`), the PBT curriculum baseline (`rlkd pbt`) and the KD recipe (`rlkd recipe`)."""

    num_samples: int = 1
    scheduler: str = "none"  # a name in rlkd.tune.schedulers.SCHEDULERS
    max_concurrent_trials: int = 0  # 0: as many as the resources allow
    metric: str = "env_runners/episode_return_mean"
    mode: Literal["max", "min"] = "max"
    param_space: dict = field(default_factory=dict)
    stop: dict = field(default_factory=dict)  # extra stop criteria (metric: value); iterations from ppo.iterations
    storage_path: Optional[str] = None  # default: <out>/ray_results (use shared storage on a cluster)
    keep_checkpoints: int = 2  # best k by `metric`
    max_failures: int = 2  # retries of a failed trial from its last checkpoint
    grace_period: int = 2  # ASHA: iterations before a trial can be stopped
    perturbation_interval: int = 4  # PBT: iterations (PPO) or epochs (the pbt baseline) between exploits
    status_tables: bool = False  # Tune's own status tables on the console; else one rlkd progress line per ~10%
    pbt: PBTConfig = field(default_factory=PBTConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    # `rlkd evaluate`'s "kd, tuned at the RL's budget" (rlkd.tune.budget_search): searched unless false; its budget
    # in KD epochs, 0: the RL's (the checkpoint's metrics.json from `rlkd train`) plus the recipe's
    tuned_baseline: bool = True
    baseline_budget: float = 0.0

    def validate(self, path: str) -> None:
        check_at_least(self, path, 1, "num_samples", "keep_checkpoints", "grace_period", "perturbation_interval")
        check_at_least(self, path, 0, "max_concurrent_trials", "max_failures", "baseline_budget")
        for metric, value in self.stop.items():
            check(isinstance(value, (int, float)) and not isinstance(value, bool), f"{path}.stop.{metric}", value,
                  "a number: the trial stops when the metric reaches it")
        for space in SEARCH_SPACES:
            for key, spec in search_space(self, space).items():
                check_search(spec, f"{path}.{space}.{key}")
