"""`env.proxy`: the overrides that make PPO's training episodes (cheap proxies of the target run), and the rules
an entry must keep: it leaves PPO, the resources and the action space alone, and it makes a valid config."""

from __future__ import annotations

import dataclasses
from typing import Optional

from rlkd.config.coerce import build
from rlkd.config.env import EnvConfig
from rlkd.config.overrides import apply_override, apply_overrides, set_keys
from rlkd.config.paths import absolute_paths
from rlkd.config.root import Config
from rlkd.errors import ConfigError


def _proxy_base(cfg: Config) -> dict:
    """The target as a raw dict without its proxy: the proxy config is run as it is, and validating it
    does not apply the overrides again."""
    data = dataclasses.asdict(cfg)
    data["env"]["proxy"] = []
    return data


def proxy_config(cfg: Config) -> Config:
    """The config of the episodes PPO trains on: the target with `env.proxy` applied (the target itself without one).

    Only `rlkd train` / `rlkd tune` episodes use it; checkpoints save the target config (which records
    the proxy), so `rlkd apply` / `rlkd evaluate` run the target. Validated when the target was loaded.
    """
    if not cfg.env.proxy:
        return cfg
    return absolute_paths(build(Config, apply_overrides(_proxy_base(cfg), cfg.env.proxy)))


def action_space_keys() -> list[str]:
    """Config keys that fix the env's action space and what its actions mean (rlkd.curriculum.actions): the
    switches and ranges, and distill.alpha / distill.temperature, the centre the box is anchored on."""
    controls = [f"env.{f.name}" for f in dataclasses.fields(EnvConfig) if f.name.startswith("control_")]
    return [*controls, "env.action", "env.difficulty_bins", "env.sampler", "env.sampler_choices",
            "env.temperature_range", "env.min_fraction", "teacher.additional", "distill.alpha",
            "distill.temperature"]


def _proxy_refusal(key: str) -> Optional[str]:
    """Why an env.proxy entry may not set `key` (None: it may)."""
    if key == "env.proxy":
        return "sets env.proxy itself; a proxy is one list of overrides on the target, proxies do not nest"
    if key.split(".")[0] in ("ppo", "resources"):
        return (f"sets {key}; PPO's settings and resources belong to the training run, not to its episodes: "
                f"set {key} directly")
    if key in action_space_keys():
        return (f"sets {key}, which fixes the action space; the policy trained on proxy episodes acts in the "
                f"target's, so set {key} for the target (outside env.proxy)")
    return None


def check_proxy(cfg: Config) -> None:
    """Each env.proxy entry must parse, leave PPO and the action space alone, and apply; the proxy config must
    validate: entries are applied in order, so an error names the first entry that breaks it."""
    data = _proxy_base(cfg)
    for i, entry in enumerate(cfg.env.proxy):
        where = f"env.proxy[{i}] = {entry!r}"
        try:
            keys = set_keys(entry)
            for key in keys:
                why = _proxy_refusal(key)
                if why:
                    raise ConfigError(("sets a whole section, so all of its keys; it " if len(keys) > 1 else "") + why)
            apply_override(data, entry)
            build(Config, data)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    for key in cfg.tune.param_space:
        for i, entry in enumerate(cfg.env.proxy):
            if key in set_keys(entry):
                raise ConfigError(f"tune.param_space.{key}: env.proxy[{i}] = {entry!r} sets it too; a searched key "
                                  f"takes the searched values in the proxy episodes and the target alike, so drop it "
                                  f"from one of the two")
