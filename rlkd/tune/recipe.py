"""`rlkd recipe`: the plain-KD recipe for the user's data, chosen on **val** before any RL.

Settings tuned on one data set can make KD lose to labels on another (digits' distill.lr 0.003 did on a
second set; 0.03, chosen on val, fixed it). So the pipeline searches `tune.recipe.space` (by default
distill.lr, distill.temperature, distill.alpha) with ASHA on val accuracy, each trial one plain KD run
(distill.mode=kd, the `full` sampler). The config's own recipe is always a trial and ASHA never stops it.
The search's best few and the config's own are re-run on `tune.recipe.confirm_seeds` fresh choice seeds, and a
finalist replaces the config's recipe only where its paired val gain is above 0 at `tune.recipe.confidence`
(`choose_recipe`): the search's own scores carry the winner's curse. The chosen overrides go to OUT/recipe.json,
which the pipeline wires into distill, train and evaluate; the search's cost (trials, epochs) is KD's
tuning budget, which `rlkd evaluate` states beside the policy's.
"""

from __future__ import annotations

import json
import statistics

from rlkd.config import Config, config_from_dict, config_to_dict, with_overrides
from rlkd.distill.run import NonFiniteLossError
from rlkd.errors import ConfigError
from rlkd.seeds import block_seeds
from rlkd.tune.kd_trials import start_run
from rlkd.tune.progress import console_output
from rlkd.tune.search import to_tune

RECIPE_FILE = "recipe.json"
EXPERIMENT = "rlkd_recipe"
PLAIN_KD = ["distill.mode=kd", "curriculum.sampler=full"]  # a searched key may still set these


def recipe_override(key: str, value) -> str:
    """`key=value` that reads back as the same value: JSON is YAML, so null stays null and "1" a string."""
    if isinstance(value, float):
        value = float(f"{value:.6g}")
    return f"{key}={json.dumps(value)}"


def recipe_overrides(recipe: dict) -> list[str]:
    return [recipe_override(key, value) for key, value in recipe.items()]


def default_recipe(cfg: Config) -> dict:
    """The config's own value of every searched key."""
    recipe, tree = {}, config_to_dict(cfg)
    for key in cfg.tune.recipe.space:
        node = tree
        for part in key.split("."):
            node = node[part]
        recipe[key] = node
    return recipe


def check_recipe_space(cfg: Config) -> None:
    """Every choice and both ends of every range must make a valid config: found in a trial, it wastes the others."""
    for key, spec in cfg.tune.recipe.space.items():
        (kind, values), = spec.items()
        for value in values:
            try:
                with_overrides(cfg, [recipe_override(key, value)])
            except ConfigError as exc:
                raise ConfigError(f"tune.recipe.space.{key}: {kind} value {value!r} makes an invalid config "
                                  f"({exc}); keep the search inside what the key allows") from None


def recipe_trial(config: dict) -> None:
    """The Tune function trainable: the trial's recipe on `tune.recipe.seeds` KD runs stepped together, one
    report per epoch of their mean val accuracy (one seed of a small val set is too noisy to rank recipes by).

    A run whose loss stops being finite reports val_acc 0 and ends: a recipe that diverges is the worst one,
    and retrying it would diverge again.
    """
    from ray import tune

    cfg = with_overrides(config_from_dict(config["rlkd"]), recipe_overrides(config["recipe"]))
    runs = [start_run(with_overrides(cfg, [f"distill.seed={seed}"]))
            for seed in block_seeds(cfg.seeds.choice, "recipe_search", cfg.tune.recipe.seeds)]
    while not runs[0].finished:
        try:
            val_acc = sum(run.epoch().val_acc for run in runs) / len(runs)
        except NonFiniteLossError:
            tune.report({"val_acc": 0.0, "epoch": runs[0].epoch_index, "finished": False, "diverged": True})
            return
        tune.report({"val_acc": val_acc, "epoch": runs[0].epoch_index, "finished": runs[0].finished,
                     "diverged": False})


def confirmed_val_accs(cfg: Config, seeds: list[int]) -> tuple[list[float], int]:
    """(last-epoch val accuracy per seed, epochs trained) of one recipe's KD runs on `seeds`; a diverged run
    scores 0."""
    accs, epochs = [], 0
    for seed in seeds:
        run = start_run(with_overrides(cfg, [f"distill.seed={seed}"]))
        try:
            while not run.finished:
                run.epoch()
            accs.append(run.evaluate("val")[0])
        except NonFiniteLossError:
            accs.append(0.0)
        epochs += run.epoch_index
    return accs, epochs


def finalist_order(rows: list[dict]) -> list[dict]:
    """The trials that did not diverge in ASHA's order of promise: those that ran longest first (ASHA stopped the
    others as worse at a rung), then by their last val. Stopped trials can be finalists: the confirmation re-runs
    every finalist whole, so a recipe ASHA cut short on two seeds still gets its fair run."""
    return sorted((row for row in rows if not row["diverged"]),
                  key=lambda row: (row["epochs"], row["val_acc_last_epoch"], row["default"]), reverse=True)


def confirm_finalists(base: Config, finalists: list[dict]) -> list[dict]:
    """The search's best recipes and the config's own, re-run on fresh choice seeds (seeds.choice's
    recipe_confirm block; the search used the recipe_search block).

    The search's winner is the maximum of many noisy val scores, so its score is biased up (the winner's curse):
    on digits, the recipe that won the search on two seeds lost 1.6 val points to the config's own on ten other
    seeds. Ranking the finalists on fresh seeds removes that bias. Runs in this process: a few KD runs.
    """
    seeds = block_seeds(base.seeds.choice, "recipe_confirm", base.tune.recipe.confirm_seeds)
    rows = []
    for row in finalists:
        accs, epochs = confirmed_val_accs(with_overrides(base, row["overrides"]), seeds)
        print(f"recipe: confirming {' '.join(row['overrides'])}: val_acc (last epoch, mean of {len(seeds)} seeds "
              f"{seeds[0]}-{seeds[-1]}) {statistics.mean(accs):.2f} (the search said {row['val_acc_last_epoch']:.2f})",
              flush=True)
        rows.append({**row, "confirm_seeds": seeds, "confirm_val_acc_per_seed": accs,
                     "confirm_val_acc_last_epoch": statistics.mean(accs), "confirm_epochs": epochs})
    return rows


def keep_points_asha(points: list[dict], **asha):
    """ASHA that never stops a trial at one of `points` (partial trial configs: the config's own recipe, ...):
    the winner has to beat them over a whole run."""
    from ray.tune.schedulers import ASHAScheduler

    class KeepPointsASHA(ASHAScheduler):
        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)  # its results still set the rungs
            kept = any(all(trial.config.get(key) == value for key, value in point.items()) for point in points)
            return self.CONTINUE if kept else decision

    return KeepPointsASHA(**asha)


def recipe_tuner(cfg: Config, trainable, storage: str, name: str):
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    t = cfg.tune
    default = default_recipe(cfg)
    search = BasicVariantGenerator(points_to_evaluate=[{"recipe": default}], max_concurrent=t.max_concurrent_trials,
                                   random_state=cfg.distill.seed)  # the default recipe first, then seeded samples
    # a run shorter than the grace period is never stopped early (ASHA refuses grace_period > max_t)
    scheduler = keep_points_asha([{"recipe": default}], time_attr="epoch", max_t=cfg.distill.epochs,
                                  grace_period=min(t.recipe.grace_period, cfg.distill.epochs))
    space = {"rlkd": config_to_dict(cfg), "recipe": {key: to_tune(spec) for key, spec in t.recipe.space.items()}}
    console = console_output(t.status_tables, {f"recipe/{key}": key for key in t.recipe.space},
                             {"epoch": "epoch", "val_acc": "val_acc"}, "recipe", t.recipe.samples)
    return tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", num_samples=t.recipe.samples, scheduler=scheduler,
                                    search_alg=search),
        run_config=tune.RunConfig(name=name, storage_path=storage,
                                  failure_config=tune.FailureConfig(max_failures=t.max_failures),
                                  **console))
