"""`rlkd pbt`: the baseline a user would try instead of RL — Population Based Training of the curriculum.

A population of plain KD runs (one `DistillationRun` each, class-stratified
`adaptive` sampler); every `tune.perturbation_interval` epochs the worst copy the
best one's student (via its checkpoint) and mutates difficulty and fraction (and
temperature when `env.control_temperature`). The best member's per-epoch
schedule, inherited epochs included, is written to `schedule.json`, which
`rlkd evaluate` replays on its own seeds beside the learned policy.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from rlkd.config import Config, config_from_dict, config_to_dict
from rlkd.tune.kd_trials import fit_kd_experiment, start_run
from rlkd.tune.progress import progress_reporter
from rlkd.workdir import atomic_write_text

SCHEDULE_FILE = "schedule.json"
EXPERIMENT = "rlkd_pbt"


def pbt_member(config: dict) -> None:
    """The Tune function trainable: one KD run, one report (and checkpoint) per epoch."""
    from ray import tune

    run = start_run(config_from_dict(config["rlkd"]))
    schedule: list[dict] = []
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as folder:
            state = torch.load(Path(folder) / "state.pt", weights_only=True)  # tensors and plain data only
        run.load_state_dict(state["run"])
        schedule = state["schedule"]
    while not run.finished:
        action = {"difficulty": float(config["difficulty"]), "fraction": float(config["fraction"]),
                  "temperature": float(config["temperature"]) if "temperature" in config else None}
        stats = run.epoch(sampler="adaptive", **action)
        schedule.append({**action, "val_acc": stats.val_acc, "samples": stats.subset_size})
        with tempfile.TemporaryDirectory() as folder:
            torch.save({"run": run.state_dict(), "schedule": schedule}, Path(folder) / "state.pt")
            tune.report({"val_acc": stats.val_acc, "epoch": run.epoch_index, "schedule": json.dumps(schedule)},
                        checkpoint=tune.Checkpoint.from_directory(folder))


def run_pbt(cfg: Config, out: Path) -> dict:
    done = fit_kd_experiment(cfg, out, EXPERIMENT, pbt_member, pbt_tuner, "pbt", "member")
    best = max(done, key=lambda r: r.metrics["val_acc"])  # val at the last epoch: the schedule's own run
    schedule = json.loads(best.metrics["schedule"])
    atomic_write_text(out / SCHEDULE_FILE, json.dumps(schedule, indent=2))
    print(f"pbt: best member val_acc (last epoch) {best.metrics['val_acc']:.2f}; schedule -> {out / SCHEDULE_FILE}")
    for e, row in enumerate(schedule, 1):
        print(f"  epoch {e:>3}  difficulty {row['difficulty']:.3f}  fraction {row['fraction']:.3f}  "
              f"val_acc {row['val_acc']:.2f}")
    return {"schedule": str(out / SCHEDULE_FILE), "val_acc_last_epoch_best_member": best.metrics["val_acc"],
            "members": len(done), "note": "chosen on val; evaluate replays the schedule on other seeds and reports test"}


def pbt_tuner(cfg: Config, trainable, storage: str, name: str):
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining

    env, t = cfg.env, cfg.tune
    space = {"rlkd": config_to_dict(cfg), "difficulty": tune.uniform(0.0, 1.0),
             "fraction": tune.uniform(env.min_fraction, 1.0)}
    mutations = {"difficulty": tune.uniform(0.0, 1.0), "fraction": tune.uniform(env.min_fraction, 1.0)}
    if env.control_temperature:
        space["temperature"] = mutations["temperature"] = tune.uniform(*env.temperature_range)
    scheduler = PopulationBasedTraining(time_attr="epoch", perturbation_interval=t.perturbation_interval,
                                        hyperparam_mutations=mutations)
    return tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", num_samples=t.pbt_population, scheduler=scheduler,
                                    max_concurrent_trials=t.max_concurrent_trials or None),
        run_config=tune.RunConfig(name=name, storage_path=storage, stop={"epoch": cfg.distill.epochs},
                                  failure_config=tune.FailureConfig(max_failures=t.max_failures),
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=4),
                                  # the mutated values and val_acc; not the whole rlkd config under "rlkd"
                                  progress_reporter=progress_reporter({k: k for k in mutations},
                                                                      {"epoch": "epoch", "val_acc": "val_acc"}),
                                  verbose=1))
