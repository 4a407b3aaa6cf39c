"""The config keys that hold file paths, made absolute: Ray workers and Tune trials do not run in the caller's
directory. A policy checkpoint may also be `builtin:<name>`, a policy shipped inside rlkd (`rlkd/policies/`), or
found on RLKD_POLICY_PATH (folders separated by ':', each holding <name>/policy.json): it resolves to its folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from rlkd.config.root import Config
from rlkd.errors import ConfigError

PATH_KEYS = ("data.shards", "data.hf.path", "data.hf.data_dir", "data.imagefolder.root", "teacher.checkpoint",
             "teacher.pretrained_file", "student.pretrained_file", "ppo.checkpoint", "ppo.resume",
             "tune.storage_path", "tune.pbt.schedule", "curriculum.policy", "ppo.pretrained")
BUILTIN = "builtin:"
BUILTIN_POLICIES = Path(__file__).resolve().parent.parent / "policies"


def policy_folders() -> list[Path]:
    """Where `builtin:<name>` is looked up, in order: rlkd's own policies, then RLKD_POLICY_PATH's folders."""
    extra = [Path(p).expanduser() for p in os.environ.get("RLKD_POLICY_PATH", "").split(os.pathsep) if p]
    return [BUILTIN_POLICIES, *extra]


def builtin_names() -> list[str]:
    return sorted({d.name for folder in policy_folders() if folder.is_dir() for d in folder.iterdir()
                   if (d / "policy.json").is_file()})


def builtin_policy(name: str) -> Path:
    """The folder of the shipped (or RLKD_POLICY_PATH) policy `name`."""
    for folder in policy_folders():
        if (folder / name / "policy.json").is_file():
            return (folder / name).resolve()
    names = builtin_names()
    raise ConfigError(f"{BUILTIN}{name}: no such policy; "
                      + (f"the ones there are: {', '.join(BUILTIN + n for n in names)}" if names else
                         "none ship with this rlkd and RLKD_POLICY_PATH names none")
                      + " (or give a checkpoint folder from `rlkd train`)")


def absolute_paths(cfg: Config) -> Config:
    def fix(value):
        if value is None or "://" in value:
            return value
        if value.startswith(BUILTIN):
            return str(builtin_policy(value[len(BUILTIN):]))
        return str(Path(value).expanduser().absolute())

    for key in PATH_KEYS:
        section, *rest = key.split(".")
        node = getattr(cfg, section)
        for part in rest[:-1]:
            node = getattr(node, part)
        setattr(node, rest[-1], fix(getattr(node, rest[-1])))
    cfg.teacher.additional = [fix(p) for p in cfg.teacher.additional]
    cfg.ppo.checkpoints = [fix(p) for p in cfg.ppo.checkpoints]
    return cfg
