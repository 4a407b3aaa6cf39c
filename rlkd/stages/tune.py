"""`rlkd tune`: Ray Tune over PPO (rlkd.tune.run), restored after a kill; the best trial's checkpoint is exported.
"""

from __future__ import annotations

import os
from pathlib import Path

from rlkd.config import Config
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import RlkdError
from rlkd.ray_runtime import check_cpus, start_ray
from rlkd.stages.base import RL_STAGE, Stage
from rlkd.tune.experiment import experiment_location, should_restore
from rlkd.tune.progress import use_legacy_output
from rlkd.tune.run import EXPERIMENT, _get, build_tuner, export_checkpoint, param_space, trial_cpus
from rlkd.tune.search import resolved_overrides
from rlkd.workdir import join_uri


def run_tune(cfg: Config, out: Path, resume: bool = False) -> dict:
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO

    # snapshot the experiment state (which checkpoint each trial has) at most 1 s apart, so a killed
    # driver resumes from the trials' latest checkpoints instead of Tune's adaptive, coarser period
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    start_ray(cfg)
    check_cpus(trial_cpus(cfg), "one tune trial")
    shared_inputs(cfg)  # a bad data set or shard is one clear error here, not trials failing one by one
    path = join_uri(*experiment_location(cfg, out, EXPERIMENT))
    if should_restore(path, cfg, out, resume):
        print(f"tune: resuming {path}")
        use_legacy_output()  # the restored RunConfig holds our reporter; only the legacy engine shows it
        # unpickles the experiment's trial state: only storage you trust (docs/rl.md)
        tuner = tune.Tuner.restore(path, trainable=PPO, param_space=param_space(cfg), resume_unfinished=True,
                                   resume_errored=True)
    else:
        tuner = build_tuner(cfg, out)
    grid = tuner.fit()
    t = cfg.tune
    rows = []
    for res in grid:
        m = res.metrics or {}
        rows.append({"trial": Path(res.path).name,
                     "overrides": resolved_overrides(res.config, cfg) if res.config else [],
                     "iterations": m.get("training_iteration"), "metric": _get(m, t.metric),
                     "iterations_since_restore": m.get("iterations_since_restore"),
                     "final_val_acc": _get(m, "env_runners/final_val_acc"),
                     "error": str(res.error) if res.error else None})
    ok = [r for r in grid if r.error is None]
    if not ok:
        raise RlkdError(f"tune: every trial failed; see {path}")
    best = grid.get_best_result(metric=t.metric, mode=t.mode, filter_nan_and_inf=False)
    best_ckpt = best.get_best_checkpoint(t.metric, t.mode) or best.checkpoint
    overrides = resolved_overrides(best.config, cfg)
    exported = export_checkpoint(best_ckpt.path, cfg, overrides, out / "checkpoint")
    print(f"\n{'trial':<40} {'iters':>5} {t.metric:>34} {'final_val_acc':>13}  overrides")
    for r in rows:
        metric = f"{r['metric']:.3f}" if isinstance(r["metric"], (int, float)) else str(r["metric"])
        val = f"{r['final_val_acc']:.2f}" if isinstance(r["final_val_acc"], (int, float)) else "-"
        print(f"{r['trial'][:40]:<40} {str(r['iterations']):>5} {metric:>34} {val:>13}  {' '.join(r['overrides'])}"
              + (f"  ERROR {r['error'][:60]}" if r["error"] else ""))
    print(f"tune: best trial {Path(best.path).name} ({' '.join(overrides) or 'no search'}); checkpoint -> {exported}")
    return {"trials": rows, "best_trial": Path(best.path).name, "best_overrides": overrides,
            "best_metric": _get(best.metrics, t.metric), "checkpoint": str(exported), "experiment": str(path)}


STAGE = Stage(
    "tune", run_tune,
    "Ray Tune over PPO from the tune section (grid/choice/uniform/loguniform on any key; ASHA/PBT); "
    "exports the best checkpoint to OUT/checkpoint",
    wire=lambda out: [f"ppo.checkpoint={out / 'checkpoint'}"],
    outputs=("checkpoint",), **RL_STAGE,
    flags=(("resume", "restore the interrupted experiment in OUT (unfinished and errored trials resume)"),),
)
