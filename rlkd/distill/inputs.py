"""Load the data set and its verified teacher shards for a run (once per process in the env)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rlkd.config import Config, TeacherConfig
from rlkd.data import DatasetSplits, load_data
from rlkd.data.shards import ShardExpectation, TeacherShards, load_shards
from rlkd.errors import CheckpointError, ConfigError
from rlkd.models import file_sha256


def teacher_files(tc: TeacherConfig) -> Optional[list[str]]:
    """The teacher checkpoints the shards must come from (None: no teacher to match), each checked to exist."""
    if tc.checkpoint is None:
        return None
    keyed = [("teacher.checkpoint", tc.checkpoint),
             *((f"teacher.additional[{i}]", p) for i, p in enumerate(tc.additional))]
    for key, path in keyed:
        if not Path(path).is_file():
            raise CheckpointError(f"{key}: teacher checkpoint {path} does not exist; point it at the "
                                  f"teacher.safetensors that `rlkd teacher` wrote (the one the shards were made with)")
    return [path for _, path in keyed]


def load_run_inputs(cfg: Config) -> tuple[DatasetSplits, TeacherShards]:
    if cfg.data.shards is None:
        raise ConfigError("data.shards: not set; run `rlkd precompute` and pass --set data.shards=<out>/shards "
                          "(scripts/launch.py wires it for you)")
    teachers = teacher_files(cfg.teacher)  # before the data: a wrong path should not wait for a slow load
    data = load_data(cfg.data)
    expect = ShardExpectation(data.fingerprints, [file_sha256(p) for p in teachers] if teachers else None,
                              data.num_classes)
    return data, load_shards(cfg.data.shards, expect)
