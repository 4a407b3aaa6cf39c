"""`rlkd recipe`: search the plain-KD recipe on val (rlkd.tune.recipe), re-run the finalists on fresh seeds and keep
the config's own recipe unless one beats it (docs/distill.md, "Recipe stage").
"""

from __future__ import annotations

import json
from pathlib import Path

from rlkd.config import Config, with_overrides
from rlkd.errors import ConfigError, RlkdError
from rlkd.reports.stats import paired_summary
from rlkd.stages.base import CHOOSING, EVALUATION_ONLY, NOT_RECIPE, RL_ONLY, Stage
from rlkd.tune.kd_trials import fit_kd_experiment
from rlkd.tune.recipe import (
    EXPERIMENT,
    PLAIN_KD,
    RECIPE_FILE,
    check_recipe_space,
    confirm_finalists,
    default_recipe,
    finalist_order,
    recipe_overrides,
    recipe_trial,
    recipe_tuner,
)
from rlkd.workdir import atomic_write_text


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


STAGE = Stage(
    "recipe", run_recipe,
    "choose the plain-KD recipe (distill.lr, temperature, alpha: tune.recipe.space) on val with Ray Tune + ASHA; "
    "writes recipe.json, whose overrides the pipeline hands to distill, train and evaluate",
    wire=recipe_wiring,
    outputs=(RECIPE_FILE,),
    depends=CHOOSING, ignores=(*EVALUATION_ONLY, *NOT_RECIPE, *RL_ONLY),
)
