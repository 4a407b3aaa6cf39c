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
from pathlib import Path

from rlkd.config import Config, config_from_dict, config_to_dict, with_overrides
from rlkd.distill.run import NonFiniteLossError
from rlkd.errors import ConfigError, RlkdError
from rlkd.reports.stats import paired_summary
from rlkd.seeds import block_seeds
from rlkd.tune.kd_trials import fit_kd_experiment, start_run
from rlkd.tune.progress import progress_reporter
from rlkd.tune.search import to_tune
from rlkd.workdir import atomic_write_text

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


def choose_recipe(confirmed: list[dict], confidence: float) -> tuple[dict, str]:
    """(the recipe to use, why): a finalist replaces the config's own recipe only where the lower bound of its
    paired `confidence` interval of val gain over it, on the confirmation seeds, is above 0; among those, the
    largest mean gain. Otherwise the config's recipe stays: a recipe stage must never hand back a worse one.

    Each finalist row gains "gain_over_config" (the paired summary, finalist − config, on val)."""
    own = next((row for row in confirmed if row["default"]), None)
    if own is None:
        raise RlkdError("recipe: the config's own recipe is not among the finalists; it is the search's first "
                        "trial, so its folder is damaged: delete it and run `rlkd recipe` again")
    others = [row for row in confirmed if not row["default"]]
    for row in others:
        row["gain_over_config"] = paired_summary(row["confirm_val_acc_per_seed"], own["confirm_val_acc_per_seed"],
                                                 confidence)
    level = f"{100 * confidence:g}%"
    better = [row for row in others if row["gain_over_config"]["ci_low"] > 0]
    if better:
        best = max(better, key=lambda row: row["gain_over_config"]["mean"])
        gain = best["gain_over_config"]
        return best, (f"replaced the config's recipe: val gain {gain['mean']:+.2f} points, paired {level} interval "
                      f"[{gain['ci_low']:+.2f}, {gain['ci_high']:+.2f}] over {gain['n']} confirmation seeds, above 0")
    if not others:
        return own, "kept the config's recipe: no other finalist"
    nearest = max(others, key=lambda row: row["gain_over_config"]["ci_low"])
    gain = nearest["gain_over_config"]
    return own, (f"kept the config's recipe: no finalist's paired {level} interval of val gain over it lies above 0 "
                 f"(closest: {' '.join(nearest['overrides'])}, {gain['mean']:+.2f} [{gain['ci_low']:+.2f}, "
                 f"{gain['ci_high']:+.2f}] over {gain['n']} confirmation seeds)")


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
    reporter = progress_reporter({f"recipe/{key}": key for key in t.recipe.space},
                                 {"epoch": "epoch", "val_acc": "val_acc"})
    return tune.Tuner(
        trainable, param_space=space,
        tune_config=tune.TuneConfig(metric="val_acc", mode="max", num_samples=t.recipe.samples, scheduler=scheduler,
                                    search_alg=search),
        run_config=tune.RunConfig(name=name, storage_path=storage,
                                  failure_config=tune.FailureConfig(max_failures=t.max_failures),
                                  progress_reporter=reporter, verbose=1))


def run_recipe(cfg: Config, out: Path) -> dict:
    check_recipe_space(cfg)
    default = default_recipe(cfg)
    base = with_overrides(cfg, PLAIN_KD)
    done = fit_kd_experiment(base, out, EXPERIMENT, recipe_trial, recipe_tuner, "recipe", "trial")
    rows = [{"trial": r.metrics["trial_id"], "recipe": r.config["recipe"], "default": r.config["recipe"] == default,
             "overrides": recipe_overrides(r.config["recipe"]), "epochs": r.metrics["epoch"],
             "val_acc_last_epoch": r.metrics["val_acc"], "finished": r.metrics["finished"],
             "diverged": r.metrics["diverged"]} for r in done]
    whole = [row for row in rows if row["finished"]]  # stopped trials' val is from an earlier epoch: not comparable
    if not whole:
        raise RlkdError(f"recipe: no trial ran a whole KD run ({len(rows)} stopped or diverged); "
                        f"narrow tune.recipe.space (e.g. a lower distill.lr) and run again")
    print_table(rows, list(cfg.tune.recipe.space))
    top = finalist_order(rows)[:cfg.tune.recipe.finalists]
    own = next((row for row in rows if row["default"]), None)
    confirmed = confirm_finalists(base, top + ([own] if own is not None and own not in top else []))
    best, decision = choose_recipe(confirmed, cfg.tune.recipe.confidence)
    epochs = (sum(row["epochs"] for row in rows) * cfg.tune.recipe.seeds
              + sum(row["confirm_epochs"] for row in confirmed))  # KD epochs trained, every seed
    atomic_write_text(out / RECIPE_FILE, json.dumps(
        {"overrides": best["overrides"], "val_acc_last_epoch": best["confirm_val_acc_last_epoch"],
         "replaced": not best["default"], "decision": decision, "config_overrides": recipe_overrides(default),
         "trials": len(rows), "epochs_trained": epochs, "seed_ranges": {"seeds.choice": cfg.seeds.choice},
         "trial_table": rows, "finalists": confirmed}, indent=2))
    print(f"recipe: {decision}\nrecipe: {' '.join(best['overrides'])} (val_acc, last epoch, mean of the "
          f"confirmation seeds {best['confirm_val_acc_last_epoch']:.2f}) from {len(rows)} trials and "
          f"{len(confirmed)} finalists, {epochs} KD epochs -> {out / RECIPE_FILE}")
    return {"recipe": str(out / RECIPE_FILE), "best_overrides": best["overrides"], "decision": decision,
            "replaced": not best["default"], "val_acc_last_epoch": best["confirm_val_acc_last_epoch"],
            "default_val_acc_last_epoch": next((r["confirm_val_acc_last_epoch"] for r in confirmed if r["default"]),
                                               None),
            "trials": len(rows), "epochs_trained": epochs,
            "note": "chosen on val; the trials and epochs are KD's tuning budget, stated in `rlkd evaluate`'s report"}


def print_table(rows: list[dict], keys: list[str]) -> None:
    print(f"\n{'trial':<12} " + " ".join(f"{key:>20}" for key in keys) + f" {'epochs':>6} {'val_acc (last)':>14}")
    for row in rows:
        values = " ".join(f"{row['recipe'][key]:>20.4g}" if isinstance(row["recipe"][key], float)
                          else f"{str(row['recipe'][key]):>20}" for key in keys)
        ending = "diverged" if row["diverged"] else "" if row["finished"] else "stopped by ASHA"
        note = ", ".join(n for n in ("default" if row["default"] else "", ending) if n)
        print(f"{row['trial']:<12} {values} {row['epochs']:>6} {row['val_acc_last_epoch']:>14.2f}  {note}")


def recipe_wiring(out: Path) -> list[str]:
    """What the recipe stage hands the later stages: its overrides and its budget (for evaluate's report)."""
    path = out / RECIPE_FILE
    if not path.is_file():
        return []
    try:
        recipe = json.loads(path.read_text())
        metrics = json.loads((out / "metrics.json").read_text()) if (out / "metrics.json").is_file() else {}
        replaced = recipe["config_overrides"] if recipe.get("replaced") else []  # older stages: not recorded
        return [*recipe["overrides"], f"tune.recipe.trials={recipe['trials']}",
                f"tune.recipe.epochs_trained={recipe['epochs_trained']}",
                f"tune.recipe.replaced={json.dumps(replaced)}",
                *(f"tune.recipe.choice={json.dumps(bounds)}" for bounds in recipe.get("seed_ranges", {}).values()),
                *([f"tune.recipe.seconds={metrics['seconds']}"] if "seconds" in metrics else [])]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a recipe written by `rlkd recipe` ({exc}); delete the folder "
                          f"{out} to run the recipe stage again") from None
