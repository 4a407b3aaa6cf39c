"""`rlkd tune`: a Ray Tune experiment with RLlib's PPO as the trainable, from the `tune` section.

Each trial is a full PPO run (its own env runners, GPUs per runner and learner
from `resources`). The best trial's best checkpoint is exported to OUT/checkpoint
with its resolved rlkd config, so `rlkd.load_policy` / `rlkd apply` take it as is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from rlkd.config import Config, save_config, with_overrides
from rlkd.errors import RlkdError
from rlkd.ray_runtime import check_cpus, ensure_ray
from rlkd.rl.ppo import CONFIG_FILE, build_ppo_config
from rlkd.tune.search import apply_search_space, pbt_mutations, resolved_overrides

EXPERIMENT = "rlkd_tune"


def storage_of(cfg: Config, out: Path) -> Path:
    return Path(cfg.tune.storage_path or out / "ray_results").resolve()


def trial_cpus(cfg: Config) -> float:
    """What one PPO trial reserves: 1 CPU for its driver plus one share per env runner (RAY_NOTES.md)."""
    r = cfg.resources
    return 1 + r.num_env_runners * r.num_cpus_per_env_runner


def build_tuner(cfg: Config, out: Path):
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    t = cfg.tune
    algo_config = build_ppo_config(cfg)
    scheduler = None
    if t.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=cfg.ppo.iterations, grace_period=t.grace_period)
    elif t.scheduler == "pbt":
        scheduler = PopulationBasedTraining(time_attr="training_iteration", perturbation_interval=t.perturbation_interval,
                                            hyperparam_mutations=pbt_mutations(cfg))
    if t.scheduler != "pbt":
        apply_search_space(algo_config, cfg)
    stop = {"training_iteration": cfg.ppo.iterations, **t.stop}
    run_config = tune.RunConfig(
        name=EXPERIMENT, storage_path=str(storage_of(cfg, out)), stop=stop,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=t.keep_checkpoints, checkpoint_score_attribute=t.metric,
                                                checkpoint_score_order=t.mode,
                                                checkpoint_frequency=cfg.ppo.checkpoint_every, checkpoint_at_end=True),
        failure_config=tune.FailureConfig(max_failures=t.max_failures), verbose=1)
    tune_config = tune.TuneConfig(metric=t.metric, mode=t.mode, num_samples=t.num_samples, scheduler=scheduler,
                                  max_concurrent_trials=t.max_concurrent_trials or None)
    return tune.Tuner(PPO, param_space=algo_config, tune_config=tune_config, run_config=run_config)


def run_tune(cfg: Config, out: Path, resume: bool = False) -> dict:
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO

    # snapshot the experiment state (which checkpoint each trial has) at most 1 s apart, so a killed
    # driver resumes from the trials' latest checkpoints instead of Tune's adaptive, coarser period
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    ensure_ray(cfg.resources.ray_address)
    check_cpus(trial_cpus(cfg), "one tune trial")
    path = storage_of(cfg, out) / EXPERIMENT
    if resume:
        if not tune.Tuner.can_restore(str(path)):
            raise RlkdError(f"--resume: no interrupted experiment at {path}; run `rlkd tune` with the same --out first")
        print(f"tune: resuming {path}")
        tuner = tune.Tuner.restore(str(path), trainable=PPO, resume_unfinished=True, resume_errored=True)
    else:
        if path.exists():
            shutil.rmtree(path)
        tuner = build_tuner(cfg, out)
    grid = tuner.fit()
    t = cfg.tune
    rows = []
    for res in grid:
        m = res.metrics or {}
        rows.append({"trial": Path(res.path).name, "overrides": resolved_overrides(res.config, cfg) if res.config else [],
                     "iterations": m.get("training_iteration"), "metric": _get(m, t.metric),
                     "iterations_since_restore": m.get("iterations_since_restore"),
                     "final_val_acc": _get(m, "env_runners/final_val_acc"), "error": str(res.error) if res.error else None})
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


def export_checkpoint(src: str, cfg: Config, overrides: list[str], dest: Path) -> Path:
    """Copy a trial checkpoint and save the trial's resolved rlkd config beside it (what load_policy reads)."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    save_config(with_overrides(cfg, overrides), dest / CONFIG_FILE)
    return dest


def _get(metrics: dict, name: str):
    """A metric by its flat ('a/b') or nested name."""
    if name in metrics:
        return metrics[name]
    node = metrics
    for part in name.split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
