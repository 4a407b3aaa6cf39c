"""Search spaces on any rlkd config key, turned into Ray Tune objects inside the PPO config."""

from __future__ import annotations

import math

from rlkd.config import Config
from rlkd.errors import ConfigError

# rlkd ppo keys that are PPO's own hyperparameters; every other key goes to the env's rlkd config
PPO_KEYS = {"lr": "lr", "gamma": "gamma", "lambda_": "lambda_", "clip_param": "clip_param",
            "entropy_coeff": "entropy_coeff", "vf_loss_coeff": "vf_loss_coeff", "num_epochs": "num_epochs",
            "minibatch_size": "minibatch_size"}


def to_tune(spec: dict):
    from ray import tune

    kind, values = next(iter(spec.items()))
    if kind == "grid":
        return tune.grid_search(values)
    if kind == "choice":
        return tune.choice(values)
    lo, hi = float(values[0]), float(values[1])
    return tune.uniform(lo, hi) if kind == "uniform" else tune.loguniform(lo, hi)


def apply_search_space(algo_config, cfg: Config) -> None:
    """Put each search into the PPO config: PPO hyperparameters directly, other keys into env_config.

    The keys and values were checked when the config was loaded (`Config.validate`).
    """
    for key, spec in cfg.tune.param_space.items():
        first, *rest = trial_config_path(key).split("/")
        if not rest:
            setattr(algo_config, first, to_tune(spec))
            continue
        node = getattr(algo_config, first)
        for part in rest[:-1]:
            node = node[part]
        node[rest[-1]] = to_tune(spec)


def resolved_overrides(trial_config: dict, cfg: Config) -> list[str]:
    """The `--set` overrides a finished trial stands for (to save beside its checkpoint)."""
    out = []
    for key in cfg.tune.param_space:
        value = trial_config
        for part in trial_config_path(key).split("/"):
            value = value[part]
        if isinstance(value, float) and math.isfinite(value):
            value = float(f"{value:.6g}")
        out.append(f"{key}={value}")
    return out


def pbt_mutations(cfg: Config) -> dict:
    """PBT needs the mutable hyperparameters as search objects at the top level of PPO's config."""
    muts = {}
    for key, spec in cfg.tune.param_space.items():
        section, _, name = key.partition(".")
        if not (section == "ppo" and name in PPO_KEYS):
            raise ConfigError(f"tune.param_space.{key}: with scheduler pbt only PPO hyperparameters "
                              f"({', '.join('ppo.' + k for k in PPO_KEYS)}) can be mutated")
        kind, values = next(iter(spec.items()))
        muts[PPO_KEYS[name]] = values if kind in ("grid", "choice") else to_tune(spec)
    return muts


def trial_config_path(key: str) -> str:
    """Where a `tune.param_space` key sits in a trial's config, '/'-separated as Tune's reporters look keys up."""
    section, _, name = key.partition(".")
    if section == "ppo" and name in PPO_KEYS:
        return PPO_KEYS[name]
    return "/".join(["env_config", "config", *key.split(".")])
