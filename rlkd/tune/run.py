"""`rlkd tune`: a Ray Tune experiment with RLlib's PPO as the trainable, from the `tune` section.

Each trial is a full PPO run (its own env runners, GPUs per runner and learner
from `resources`). The best trial's best checkpoint is exported to OUT/checkpoint
with its resolved rlkd config, so `rlkd.load_policy` / `rlkd apply` take it as is.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from rlkd.config import Config, save_config, with_overrides
from rlkd.rl.ppo import CONFIG_FILE, build_ppo_config
from rlkd.tune.experiment import experiment_location
from rlkd.tune.progress import console_output
from rlkd.tune.schedulers import SCHEDULERS
from rlkd.tune.search import apply_search_space, trial_config_path

EXPERIMENT = "rlkd_tune"


def trial_cpus(cfg: Config) -> float:
    """What one PPO trial reserves: 1 CPU for its driver plus one share per env runner (RAY_NOTES.md)."""
    r = cfg.resources
    return 1 + r.num_env_runners * r.num_cpus_per_env_runner


def param_space(cfg: Config):
    """PPO's config with the searches in it; given again on restore (Tune loses its object references)."""
    algo_config = build_ppo_config(cfg)
    if SCHEDULERS[cfg.tune.scheduler].samples_param_space:
        apply_search_space(algo_config, cfg)
    return algo_config


def trial_count(cfg: Config) -> int:
    """How many trials the search runs: tune.num_samples times the product of its grid sizes."""
    grids = [len(values) for spec in cfg.tune.param_space.values() for kind, values in spec.items() if kind == "grid"]
    return cfg.tune.num_samples * math.prod(grids)


def build_tuner(cfg: Config, out: Path):
    from ray import tune
    from ray.rllib.algorithms.ppo import PPO

    t = cfg.tune
    stop = {"training_iteration": cfg.ppo.iterations, **t.stop}
    # the searched keys under their --set names; with no search, the seed (the whole config otherwise)
    searched = {trial_config_path(key): key for key in t.param_space} or {"seed": "ppo.seed"}
    console = console_output(t.status_tables, searched,
                             {"training_iteration": "iter", t.metric: t.metric.rsplit("/", 1)[-1],
                              "env_runners/final_val_acc": "val_acc (last epoch)"},
                             "tune", trial_count(cfg))
    storage, name = experiment_location(cfg, out, EXPERIMENT)
    run_config = tune.RunConfig(
        name=name, storage_path=storage, stop=stop,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=t.keep_checkpoints, checkpoint_score_attribute=t.metric,
                                                checkpoint_score_order=t.mode,
                                                checkpoint_frequency=cfg.ppo.checkpoint_every, checkpoint_at_end=True),
        failure_config=tune.FailureConfig(max_failures=t.max_failures), **console)
    tune_config = tune.TuneConfig(metric=t.metric, mode=t.mode, num_samples=t.num_samples,
                                  scheduler=SCHEDULERS[t.scheduler].build(cfg),
                                  max_concurrent_trials=t.max_concurrent_trials or None)
    return tune.Tuner(PPO, param_space=param_space(cfg), tune_config=tune_config, run_config=run_config)


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
