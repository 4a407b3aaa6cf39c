"""The override lists that make PPO's training episodes from the target: `env.proxy` (cheap proxies of the target
run) and `env.tasks` (a family of tasks), and the rules an entry must keep: it leaves PPO, the resources and the
action space alone, and it makes a valid config. A task may set the recipe (distill.alpha, distill.temperature):
the action is decoded around the config of the run it acts in, so the box's centre is each task's own recipe."""

from __future__ import annotations

import copy
import dataclasses
from typing import Optional

from rlkd.config.coerce import build
from rlkd.config.env import EnvConfig, TaskConfig
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


def _task_base(cfg: Config) -> dict:
    """The target as a raw dict without its tasks: a task is a lone target (its proxy, if any, still applies)."""
    data = dataclasses.asdict(cfg)
    data["env"]["tasks"] = []
    return data


def task_config(cfg: Config, task: TaskConfig) -> Config:
    """The target config of one task: the target with the task's overrides. Validated when the target was loaded."""
    return absolute_paths(build(Config, apply_overrides(_task_base(cfg), task.overrides)))


def episode_configs(cfg: Config) -> list[tuple[str, float, Config]]:
    """(task name, weight, config) of what PPO's episodes run: each task's proxy config, or with no tasks the
    target's ("" the name, weight 1)."""
    if not cfg.env.tasks:
        return [("", 1.0, proxy_config(cfg))]
    return [(task.name, task.weight, proxy_config(task_config(cfg, task))) for task in cfg.env.tasks]


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


ANCHORS = ("distill.alpha", "distill.temperature")  # a task may move the box's centre: it is decoded per run


def _refusal(key: str, what: str) -> Optional[str]:
    """Why an entry of `what` (env.proxy or env.tasks) may not set `key` (None: it may)."""
    if key in ("env.proxy", "env.tasks"):
        return (f"sets {key}; an entry of {what} is one list of overrides on the target: set env.proxy and "
                f"env.tasks on the target (proxies do not nest, nor do tasks)")
    if key.split(".")[0] in ("ppo", "resources", "seeds", "tune"):
        return (f"sets {key}; PPO's settings, resources, seed ranges and searches belong to the training run, not to "
                f"its episodes: set {key} directly")
    if key in action_space_keys() and not (what == "env.tasks" and key in ANCHORS):
        return (f"sets {key}, which fixes the action space; the policy trained on these episodes acts in the "
                f"target's, so set {key} for the target (outside {what})")
    return None


def _check_entries(entries: list[str], data: dict, what: str, where: str) -> None:
    """Apply `entries` to `data` in order, each checked and the result validated: an error names the first
    entry that breaks it. The config is built once when all apply; entry by entry only to find the one that broke it
    (a family of tasks is checked whenever a config that lists it is loaded)."""
    for i, entry in enumerate(entries):
        try:
            keys = set_keys(entry)
            for key in keys:
                why = _refusal(key, what)
                if why:
                    raise ConfigError(("sets a whole section, so all of its keys; it " if len(keys) > 1 else "") + why)
        except ConfigError as exc:
            raise ConfigError(f"{where}[{i}] = {entry!r}: {exc}") from None
    try:
        build(Config, apply_overrides(copy.deepcopy(data), entries))
        return
    except ConfigError:
        pass
    for i, entry in enumerate(entries):
        try:
            apply_override(data, entry)
            build(Config, data)
        except ConfigError as exc:
            raise ConfigError(f"{where}[{i}] = {entry!r}: {exc}") from None


def check_proxy(cfg: Config) -> None:
    """Each env.proxy and env.tasks entry must parse, leave PPO and the action space alone, and apply; the
    proxy config and every task's config must validate."""
    _check_entries(cfg.env.proxy, _proxy_base(cfg), "env.proxy", "env.proxy")
    for t, task in enumerate(cfg.env.tasks):
        _check_entries(task.overrides, _task_base(cfg), "env.tasks", f"env.tasks[{t}] ({task.name}).overrides")
    for key in cfg.tune.param_space:
        for i, entry in enumerate(cfg.env.proxy):
            if key in set_keys(entry):
                raise ConfigError(f"tune.param_space.{key}: env.proxy[{i}] = {entry!r} sets it too; a searched key "
                                  f"takes the searched values in the proxy episodes and the target alike, so drop it "
                                  f"from one of the two")
