"""`tune.scheduler` by name: the Tune trial scheduler `rlkd tune` runs its PPO trials under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from rlkd.config import Config
from rlkd.tune.search import pbt_mutations


@dataclass(frozen=True)
class TrialScheduler:
    """One scheduler: how it is built from the config, and whether `tune.param_space` samples each trial's
    values up front (PBT mutates them while trials run instead)."""

    build: Callable[[Config], Any]
    samples_param_space: bool = True


def _asha(cfg: Config):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(time_attr="training_iteration", max_t=cfg.ppo.iterations, grace_period=cfg.tune.grace_period)


def _pbt(cfg: Config):
    from ray.tune.schedulers import PopulationBasedTraining

    return PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=cfg.tune.perturbation_interval,
                                   hyperparam_mutations=pbt_mutations(cfg))


SCHEDULERS: dict[str, TrialScheduler] = {
    "none": TrialScheduler(lambda cfg: None),  # Tune's FIFO: every trial runs to its stop condition
    "asha": TrialScheduler(_asha),
    "pbt": TrialScheduler(_pbt, samples_param_space=False),
}
