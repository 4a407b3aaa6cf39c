"""Search spaces on any rlkd config key, turned into Ray Tune objects inside the PPO config."""

from __future__ import annotations

import dataclasses
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


def check_key(cfg: Config, key: str) -> None:
    """The key must name a field of the config, like `--set` keys."""
    node = cfg
    for part in key.split("."):
        if not dataclasses.is_dataclass(node) or part not in {f.name for f in dataclasses.fields(node)}:
            raise ConfigError(f"tune.param_space.{key}: not a config key")
        node = getattr(node, part)


def apply_search_space(algo_config, cfg: Config) -> None:
    """Put each search into the PPO config: PPO hyperparameters directly, other keys into env_config."""
    env_cfg = algo_config.env_config["config"]
    for key, spec in cfg.tune.param_space.items():
        check_key(cfg, key)
        section, _, name = key.partition(".")
        if section == "ppo" and name in PPO_KEYS:
            setattr(algo_config, PPO_KEYS[name], to_tune(spec))
        else:
            node = env_cfg
            parts = key.split(".")
            for part in parts[:-1]:
                node = node[part]
            node[parts[-1]] = to_tune(spec)


def resolved_overrides(trial_config: dict, cfg: Config) -> list[str]:
    """The `--set` overrides a finished trial stands for (to save beside its checkpoint)."""
    out = []
    env_cfg = trial_config.get("env_config", {}).get("config", {})
    for key in cfg.tune.param_space:
        section, _, name = key.partition(".")
        if section == "ppo" and name in PPO_KEYS:
            value = trial_config.get(PPO_KEYS[name])
        else:
            value = env_cfg
            for part in key.split("."):
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

