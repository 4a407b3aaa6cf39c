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
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import RlkdError
from rlkd.models.imported import config_modules
from rlkd.ray_runtime import check_cpus, ensure_ray
from rlkd.rl.ppo import CONFIG_FILE, build_ppo_config
from rlkd.tune.experiment import experiment_location, should_restore
from rlkd.tune.progress import progress_reporter, use_legacy_output
from rlkd.tune.search import apply_search_space, pbt_mutations, resolved_overrides, trial_config_path
from rlkd.workdir import join_uri

EXPERIMENT = "rlkd_tune"


def trial_cpus(cfg: Config) -> float:
    """What one PPO trial reserves: 1 CPU for its driver plus one share per env runner (RAY_NOTES.md)."""
    r = cfg.resources
    return 1 + r.num_env_runners * r.num_cpus_per_env_runner


def param_space(cfg: Config):
    """PPO's config with the searches in it; given again on restore (Tune loses its object references)."""
    algo_config = build_ppo_config(cfg)
    if cfg.tune.scheduler != "pbt":
        apply_search_space(algo_config, cfg)
    return algo_config


def build_tuner(cfg: Config, out: Path):
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO
    from ray.tune.schedulers import ASHAScheduler, PopulationBasedTraining

    t = cfg.tune
    scheduler = None
    if t.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=cfg.ppo.iterations, grace_period=t.grace_period)
    elif t.scheduler == "pbt":
        scheduler = PopulationBasedTraining(time_attr="training_iteration",
                                            perturbation_interval=t.perturbation_interval,
                                            hyperparam_mutations=pbt_mutations(cfg))
    stop = {"training_iteration": cfg.ppo.iterations, **t.stop}
    # the searched keys under their --set names; with no search, the seed (the whole config otherwise)
    searched = {trial_config_path(key): key for key in t.param_space} or {"seed": "ppo.seed"}
    reporter = progress_reporter(searched, {"training_iteration": "iter", t.metric: t.metric.rsplit("/", 1)[-1],
                                            "env_runners/final_val_acc": "val_acc (last epoch)"})
    storage, name = experiment_location(cfg, out, EXPERIMENT)
    run_config = tune.RunConfig(
        name=name, storage_path=storage, stop=stop,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=t.keep_checkpoints, checkpoint_score_attribute=t.metric,
                                                checkpoint_score_order=t.mode,
                                                checkpoint_frequency=cfg.ppo.checkpoint_every, checkpoint_at_end=True),
        failure_config=tune.FailureConfig(max_failures=t.max_failures), progress_reporter=reporter, verbose=1)
    tune_config = tune.TuneConfig(metric=t.metric, mode=t.mode, num_samples=t.num_samples, scheduler=scheduler,
                                  max_concurrent_trials=t.max_concurrent_trials or None)
    return tune.Tuner(PPO, param_space=param_space(cfg), tune_config=tune_config, run_config=run_config)


def run_tune(cfg: Config, out: Path, resume: bool = False) -> dict:
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO

    # snapshot the experiment state (which checkpoint each trial has) at most 1 s apart, so a killed
    # driver resumes from the trials' latest checkpoints instead of Tune's adaptive, coarser period
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
    ensure_ray(cfg.resources.ray_address, py_modules=config_modules(cfg))
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


def export_checkpoint(src: str, cfg: Config, overrides: list[str], dest: Path) -> Path:
    """Copy a trial checkpoint, save the trial's resolved rlkd config and the policy export (what load_policy reads)."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    from rlkd.rl.export import export_policy, rllib_module_dir

    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(src, dest)
    trial_cfg = with_overrides(cfg, overrides)
    save_config(trial_cfg, dest / CONFIG_FILE)
    # RLModule.from_checkpoint unpickles the module: acceptable only because this is our own trial's
    # checkpoint, just written by this experiment; the export is what others may load safely
    export_policy(RLModule.from_checkpoint(str(rllib_module_dir(dest))), trial_cfg, dest)
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
