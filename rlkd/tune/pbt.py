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
from rlkd.errors import RlkdError
from rlkd.env.curriculum_env import shared_inputs
from rlkd.ray_runtime import check_cpus, ensure_ray
from rlkd.tune.experiment import experiment_location, should_restore
from rlkd.tune.progress import progress_reporter, use_legacy_output
from rlkd.workdir import atomic_write_text, join_uri

SCHEDULE_FILE = "schedule.json"
EXPERIMENT = "rlkd_pbt"


def pbt_member(config: dict) -> None:
    """The Tune function trainable: one KD run, one report (and checkpoint) per epoch."""
    from ray import tune

    from rlkd.distill.run import DistillationRun

    cfg = config_from_dict(config["rlkd"])
    data, shards = shared_inputs(cfg)
    run = DistillationRun(cfg, shards, cfg.distill.seed, data)
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
    from ray import tune

    ensure_ray(cfg.resources.ray_address)
    check_cpus(1, "a PBT member")
    shared_inputs(cfg)  # a bad data set or shard is one clear error here, not members failing one by one
    storage, name = experiment_location(cfg, out, EXPERIMENT)
    path = join_uri(storage, name)
    trainable = tune.with_resources(pbt_member, {"cpu": 1})
    if should_restore(path, cfg, out, resume=False):  # an interrupted population of this folder and config
        print(f"pbt: resuming {path}")
        use_legacy_output()  # the restored RunConfig holds our reporter; only the legacy engine shows it
        grid = tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True, resume_errored=True).fit()
    else:
        grid = pbt_tuner(cfg, trainable, storage, name).fit()
    done = [r for r in grid if r.error is None and r.metrics]
    if not done:
        raise RlkdError(f"pbt: every member failed; see {path}")
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
