"""The config keys that hold file paths, made absolute: Ray workers and Tune trials do not run in the caller's
directory."""

from __future__ import annotations

from pathlib import Path

from rlkd.config.root import Config

PATH_KEYS = ("data.shards", "data.hf.path", "data.hf.data_dir", "data.imagefolder.root", "teacher.checkpoint",
             "teacher.pretrained_file", "student.pretrained_file", "ppo.checkpoint", "ppo.resume",
             "tune.storage_path", "tune.pbt.schedule")


def absolute_paths(cfg: Config) -> Config:
    def fix(value):
        return value if value is None or "://" in value else str(Path(value).expanduser().absolute())

    for key in PATH_KEYS:
        section, *rest = key.split(".")
        node = getattr(cfg, section)
        for part in rest[:-1]:
            node = getattr(node, part)
        setattr(node, rest[-1], fix(getattr(node, rest[-1])))
    cfg.teacher.additional = [fix(p) for p in cfg.teacher.additional]
    return cfg
