"""KD tuned with the RL's budget: `rlkd evaluate`'s row "kd, tuned at the RL's budget".

A learned curriculum is worth its RL bill only if it beats a baseline that got as much tuning. The RL's budget
is its training samples (proxy episodes included) over the train size, in KD-epoch equivalents
(`rl_budget_epochs`); the recipe search both start from counts for both. This Tune search spends that budget over
the recipe stage's space
and the schedules a tuner can express (`LinearSchedule`: label weight, temperature and share of data per epoch,
each constant or linear from start to end), plus the policy's own open-loop replay. Two points come first and
ASHA never stops them: the current recipe (constant, all data) and the replay, so the winner's search val is never
below either's. The experiment stops once the budget is spent and both points have run whole (`budget_stopper`):
it overshoots by what the trials then running report next, less than one trial while the points finish early
(they are the first trials). Chosen on val, on the choice range's
baseline_search seeds; resumes after a kill like the recipe stage (rlkd.tune.kd_trials).

On a config with env.tasks each trial runs its schedule on every task (benchmarks/zero_shot_fixed.py: the best
single fixed schedule over a pretrained policy's training tasks, at that policy's RL budget); with no policy to
replay, the recipe is the one point.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional, Sequence

from rlkd.config import Config, config_from_dict, config_to_dict, task_config, with_overrides
from rlkd.curriculum.actions import EpochAction
from rlkd.curriculum.policies import LinearSchedule, ReplayActions
from rlkd.distill.run import NonFiniteLossError
from rlkd.env.curriculum_env import shared_inputs
from rlkd.errors import RlkdError
from rlkd.seeds import block_seeds
from rlkd.tune.experiment import experiment_location
from rlkd.tune.kd_trials import fit_kd_experiment, start_run
from rlkd.tune.progress import console_output
from rlkd.tune.recipe import default_recipe, keep_points_asha, recipe_overrides
from rlkd.tune.search import to_tune
from rlkd.workdir import atomic_write_text

EXPERIMENT = "rlkd_kd_at_rl_budget"
ROW = "kd, tuned at the RL's budget"
SHAPES = ("constant", "linear")  # searched; "replay" (the policy's open-loop replay) is a point, not a choice


def rl_budget_epochs(rl_samples: float, train_size: int) -> float:
    """The RL's own tuning budget in KD epochs: its episodes' training samples over the train size. Both the policy
    and this search start from the recipe, so the recipe's epochs count for both and are added to neither here."""
    return rl_samples / train_size


def points_cost(cfg: Config) -> float:
    """KD epochs the two fixed points cost at most: a search smaller than this cannot run them whole."""
    return 2 * cfg.tune.recipe.seeds * cfg.distill.epochs * cfg.env.budget


def schedule_space(cfg: Config) -> dict:
    """What the search may choose besides the recipe keys: a shape and the end values of a linear schedule."""
    temperatures = cfg.tune.recipe.space.get("distill.temperature", {"choice": [cfg.distill.temperature]})
    return {"shape": {"choice": list(SHAPES)}, "alpha_end": {"uniform": [0.0, 1.0]},
            "temperature_end": temperatures, "fraction_start": {"uniform": [cfg.env.min_fraction, 1.0]},
            "fraction_end": {"uniform": [cfg.env.min_fraction, 1.0]}}


def schedule_policy(cfg: Config, schedule: dict, replay: Sequence[dict]):
    """The curriculum policy a trial's schedule stands for, under the trial's recipe (cfg)."""
    if schedule["shape"] == "replay":
        return ReplayActions(ROW, [EpochAction(**{**row, "teacher_weights": None if row["teacher_weights"] is None
                                                 else tuple(row["teacher_weights"])}) for row in replay])
    d = cfg.distill
    if schedule["shape"] == "constant":
        return LinearSchedule(ROW, (d.alpha, d.alpha), (d.temperature, d.temperature),
                              (schedule["fraction_start"],) * 2)
    return LinearSchedule(ROW, (d.alpha, schedule["alpha_end"]), (d.temperature, schedule["temperature_end"]),
                          (schedule["fraction_start"], schedule["fraction_end"]))


def schedule_trial(config: dict) -> None:
    """The Tune function trainable: one schedule on `tune.recipe.seeds` runs stepped together, on every env.tasks
    entry when the config lists tasks (one schedule across them all, each task's runs centred on its own recipe and
    the trial's recipe keys), else on the config itself. Each epoch reports the mean val accuracy (tasks weighted
    as PPO draws them) and the KD epochs the trial has spent: training samples over the config's own train size,
    the unit the RL's budget is counted in."""
    from ray import tune

    base = config_from_dict(config["rlkd"])
    point = {"recipe": config["recipe"], "schedule": config["schedule"]} in first_points(base, bool(config["replay"]))
    targets = [(task_config(base, t), t.weight) for t in base.env.tasks] or [(base, 1.0)]
    seeds = block_seeds(base.seeds.choice, "baseline_search", base.tune.recipe.seeds)
    lanes = []
    for target, weight in targets:
        cfg = with_overrides(target, recipe_overrides(config["recipe"]))
        policy = schedule_policy(cfg, config["schedule"], config["replay"])
        lanes += [(start_run(with_overrides(cfg, [f"distill.seed={seed}"])), policy, weight) for seed in seeds]
    train_size = config["train_size"]
    last_val = [0.0] * len(lanes)
    diverged = False
    while not all(run.finished for run, _, _ in lanes) and not diverged:
        try:
            for i, (run, policy, _) in enumerate(lanes):
                if not run.finished:
                    last_val[i] = run.epoch(policy.act(None, run.epoch_index, run.epochs)).val_acc
            val_acc = statistics.fmean(last_val, weights=[weight for _, _, weight in lanes])
        except NonFiniteLossError:  # the worst schedule: reported as val 0, and not retried
            val_acc, diverged = 0.0, True
        finished = all(run.finished for run, _, _ in lanes) and not diverged
        tune.report({"val_acc": val_acc, "epoch": max(run.epoch_index for run, _, _ in lanes), "finished": finished,
                     "kd_epochs": sum(run.samples_seen for run, _, _ in lanes) / train_size, "diverged": diverged,
                     "point": point})


SPENT_FILE = "budget_spent.json"
SAVE_EVERY = 50  # results between saves of the spent budget: a kill loses at most this many results' accounting


def budget_stopper(budget_epochs: float, path: Path, points: int = 2):
    """Stops the whole experiment once the trials' KD epochs add up to the budget and the `points` fixed points
    have ended (run whole, or diverged): the choice always has the recipe to fall back on.

    What was spent is saved to `path` (every SAVE_EVERY results and whenever a trial ends) and read back on first
    use: Tune restores the stopper as it was when the experiment began, so a resumed search would otherwise spend
    the whole budget again."""
    from ray.tune import Stopper

    class BudgetStopper(Stopper):
        def __init__(self):
            self.spent: dict[str, float] = {}
            self.points_ended: list[str] = []
            self.loaded, self.unsaved = False, 0

        def _load(self):
            if not self.loaded and path.is_file():
                saved = json.loads(path.read_text())
                self.spent.update(saved["spent"])
                self.points_ended += [t for t in saved["points_ended"] if t not in self.points_ended]
            self.loaded = True

        def __call__(self, trial_id, result):
            self._load()
            self.spent[trial_id] = result["kd_epochs"]
            ended = result["finished"] or result["diverged"]
            if result.get("point") and ended and trial_id not in self.points_ended:
                self.points_ended.append(trial_id)
            self.unsaved += 1
            if ended or self.unsaved >= SAVE_EVERY:
                atomic_write_text(path, json.dumps({"spent": self.spent, "points_ended": self.points_ended}))
                self.unsaved = 0
            return False

        def stop_all(self):
            self._load()
            return sum(self.spent.values()) >= budget_epochs and len(self.points_ended) >= points

    return BudgetStopper()


def first_points(cfg: Config, with_replay: bool = True) -> list[dict]:
    """The current recipe (constant, all data) and, where there is a policy to replay, its open-loop replay under
    it."""
    recipe = default_recipe(cfg)
    base = {"alpha_end": cfg.distill.alpha, "temperature_end": cfg.distill.temperature, "fraction_start": 1.0,
            "fraction_end": 1.0}
    return [{"recipe": recipe, "schedule": {**base, "shape": "constant"}},
            {"recipe": recipe, "schedule": {**base, "shape": "replay"}}][:2 if with_replay else 1]


def budget_tuner(budget_epochs: float, replay: list[dict], spent_file: Path):
    """build_tuner for fit_kd_experiment: the search, its points, ASHA that keeps them, the budget's stopper."""

    def build(cfg: Config, trainable, storage: str, name: str):
        import ray
        from ray import tune
        from ray.tune.search.basic_variant import BasicVariantGenerator

        t = cfg.tune
        points = first_points(cfg, bool(replay))
        # an endless search: without a cap it would queue trials far ahead of the CPUs, to be cut at the budget
        concurrent = t.max_concurrent_trials or max(1, int(ray.cluster_resources().get("CPU", 1)))
        search = BasicVariantGenerator(points_to_evaluate=points, max_concurrent=concurrent,
                                       random_state=cfg.distill.seed)
        scheduler = keep_points_asha(points, time_attr="epoch", max_t=cfg.distill.epochs,
                                     grace_period=min(t.recipe.grace_period, cfg.distill.epochs))
        space = {"rlkd": config_to_dict(cfg), "replay": replay,
                 "train_size": len(shared_inputs(cfg)[0].train.labels),  # the budget's unit, read here once
                 "recipe": {key: to_tune(spec) for key, spec in t.recipe.space.items()},
                 "schedule": {key: to_tune(spec) for key, spec in schedule_space(cfg).items()}}
        console = console_output(t.status_tables, {"schedule/shape": "shape",
                                                   **{f"recipe/{k}": k for k in t.recipe.space}},
                                 {"epoch": "epoch", "val_acc": "val_acc", "kd_epochs": "kd_epochs"},
                                 "evaluate: tuned baseline", budget_epochs, "KD epochs",
                                 amount=lambda result: result.get("kd_epochs"))
        return tune.Tuner(
            trainable, param_space=space,
            tune_config=tune.TuneConfig(metric="val_acc", mode="max", num_samples=-1, scheduler=scheduler,
                                        search_alg=search, reuse_actors=True),  # keeps each worker's loaded data
            run_config=tune.RunConfig(name=name, storage_path=storage,
                                      stop=budget_stopper(budget_epochs, spent_file, len(points)),
                                      failure_config=tune.FailureConfig(max_failures=t.max_failures),
                                      **console))

    return build


def tune_at_budget(cfg: Config, out: Path, budget_epochs: float, policy_actions: list[EpochAction]) -> dict:
    """Run (or resume) the search; the chosen schedule by val among the trials that ran a whole run."""
    start = time.perf_counter()
    replay = [asdict(a) for a in policy_actions]
    storage, name = experiment_location(cfg, out, EXPERIMENT)
    # inside the experiment's folder, which a fresh search clears; beside OUT where the storage is remote
    spent_file = (Path(storage) / name if "://" not in storage else out / name) / SPENT_FILE
    done = fit_kd_experiment(cfg, out, EXPERIMENT, schedule_trial, budget_tuner(budget_epochs, replay, spent_file),
                             "evaluate", "tuned-baseline trial")
    rows = [{"recipe": r.config["recipe"], "schedule": r.config["schedule"], "val_acc_last_epoch": r.metrics["val_acc"],
             "finished": r.metrics["finished"], "kd_epochs": r.metrics["kd_epochs"]}
            for r in done if "kd_epochs" in r.metrics]  # a trial cut at the budget before its first epoch spent none
    spent = sum(row["kd_epochs"] for row in rows)
    whole = [row for row in rows if row["finished"]]
    if not whole:
        raise RlkdError(f"evaluate: {ROW}: no trial ran a whole run (the recipe itself diverged?); lower distill.lr")
    points = first_points(cfg, bool(replay))
    best = max(whole, key=lambda row: (row["val_acc_last_epoch"], {"recipe": row["recipe"],
                                                                   "schedule": row["schedule"]} == points[0]))
    print(f"evaluate: {ROW}: {len(rows)} trials, {spent:.0f} of {budget_epochs:.0f} KD epochs; chose "
          f"{best['schedule']['shape']} {' '.join(recipe_overrides(best['recipe']))} "
          f"(search val {best['val_acc_last_epoch']:.2f})",
          flush=True)
    at_points = {point["schedule"]["shape"]: row for point in points for row in whole
                 if {"recipe": row["recipe"], "schedule": row["schedule"]} == point}
    return {"row": ROW, "budget_kd_epochs": budget_epochs, "spent_kd_epochs": spent, "trials": len(rows),
            "points_val_acc_last_epoch": {shape: row["val_acc_last_epoch"] for shape, row in at_points.items()},
            "points_kd_epochs": {shape: row["kd_epochs"] for shape, row in at_points.items()},
            "seconds": time.perf_counter() - start, "chosen_on": "val", "chosen": best, "replay": replay,
            "seed_block": "baseline_search"}


def chosen_control(cfg: Config, chosen: dict, replay: list[dict]) -> tuple[list[str], object]:
    """(config overrides, policy) of the chosen schedule, for evaluate's grid."""
    overrides = recipe_overrides(chosen["recipe"])
    return overrides, schedule_policy(with_overrides(cfg, overrides), chosen["schedule"], replay)


def read_rl_samples(metrics: Optional[dict]) -> Optional[float]:
    """The RL's training samples from `rlkd train`'s metrics.json (None when there is none)."""
    try:
        return float(metrics["rl_cost"]["samples_seen"])
    except (TypeError, KeyError, ValueError):
        return None
