"""Load the data set and its verified teacher shards for a run (once per process in the env)."""

from __future__ import annotations

from rlkd.config import Config
from rlkd.data import DatasetSplits, load_data
from rlkd.data.shards import ShardExpectation, TeacherShards, load_shards
from rlkd.errors import ConfigError
from rlkd.models import file_sha256


def load_run_inputs(cfg: Config, verify: str = "size") -> tuple[DatasetSplits, TeacherShards]:
    if cfg.data.shards is None:
        raise ConfigError("data.shards: not set; run `rlkd precompute` and pass --set data.shards=<out>/shards "
                          "(scripts/launch.py wires it for you)")
    data = load_data(cfg.data)
    teachers = [cfg.teacher.checkpoint, *cfg.teacher.additional] if cfg.teacher.checkpoint else None
    expect = ShardExpectation(data.fingerprints, [file_sha256(p) for p in teachers] if teachers else None,
                              data.num_classes)
    return data, load_shards(cfg.data.shards, expect, verify)
