"""Tune experiments whose trials are single KD runs, one CPU each (`rlkd recipe`).

The experiment is named, restored and checked as `rlkd tune`'s (rlkd.tune.experiment), so a re-run of the
same command into the same folder resumes an interrupted experiment instead of starting it again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from rlkd.config import Config
from rlkd.distill.run import DistillationRun
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import RlkdError
from rlkd.ray_runtime import check_cpus, start_ray
from rlkd.tune.experiment import experiment_location, should_restore
from rlkd.tune.progress import use_legacy_output
from rlkd.workdir import join_uri


def start_run(cfg: Config) -> DistillationRun:
    """A trial's KD run, on the data and shards this worker process already holds (loaded once per process)."""
    data, shards = shared_inputs(cfg)
    return DistillationRun(cfg, shards, cfg.distill.seed, data)


def fit_kd_experiment(cfg: Config, out: Path, experiment: str, trial: Callable[[dict], None],
                      build_tuner: Callable, command: str, trial_name: str) -> list:
    """Run (or resume) the experiment; the results of the trials that ended without an error.

    `build_tuner(cfg, trainable, storage, name)` makes a fresh Tuner; `command` and `trial_name`
    ("recipe", "trial") word the messages.
    """
    from ray import tune

    start_ray(cfg)
    check_cpus(1, f"a {command} {trial_name}")
    shared_inputs(cfg)  # a bad data set or shard is one clear error here, not trials failing one by one
    storage, name = experiment_location(cfg, out, experiment)
    path = join_uri(storage, name)
    trainable = tune.with_resources(trial, {"cpu": 1})
    if should_restore(path, cfg, out, resume=False):  # an interrupted experiment of this folder and config
        print(f"{command}: resuming {path}")
        use_legacy_output()  # the restored RunConfig holds our reporter; only the legacy engine shows it
        grid = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True).fit()
    else:
        grid = build_tuner(cfg, trainable, storage, name).fit()
    done = [r for r in grid if r.error is None and r.metrics]
    if not done:
        raise RlkdError(f"{command}: every {trial_name} failed; see {path}")
    return done
