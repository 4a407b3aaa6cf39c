"""`rlkd recipe`: a tiny Tune + ASHA search over plain KD runs, in the session's real local Ray."""

import json

import pytest

from rlkd.cli import main
from rlkd.config import load_config
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import DistillationRun
from rlkd.reports.evaluate import kd_tuning_budget
from rlkd.stages import STAGES
from rlkd.stages.recipe import choose_recipe
from rlkd.tune.recipe import PLAIN_KD
from tests.conftest import run_overrides

TINY = ["distill.epochs=3", "tune.recipe.samples=3", "tune.recipe.grace_period=1", "tune.recipe.finalists=1",
        "tune.recipe.confirm_seeds=2"]


def sets(overrides):
    return [x for o in overrides for x in ("--set", o)]


@pytest.mark.slow
def test_recipe_search_picks_the_best_trial_and_wires_it(tmp_path, teacher_dir, shards_dir, ray_session, capsys):
    out = tmp_path / "recipe"
    base = run_overrides(teacher_dir, shards_dir) + TINY
    assert main(["recipe", "--out", str(out), *sets(base)]) == 0
    cfg = load_config(None, base)
    data, shards = load_run_inputs(cfg)
    recipe = json.loads((out / "recipe.json").read_text())
    keys = list(cfg.tune.recipe.space)
    assert [o.split("=")[0] for o in recipe["overrides"]] == keys
    rows = recipe["trial_table"]
    assert recipe["trials"] == len(rows) == 3
    own = {key: getattr(cfg.distill, key.split(".")[1]) for key in keys}
    defaults = [row for row in rows if row["default"]]
    assert len(defaults) == 1 and defaults[0]["recipe"] == own
    assert defaults[0]["finished"] and defaults[0]["epochs"] == 3  # ASHA never stops the config's own recipe
    alive = [row for row in rows if not row["diverged"]]  # the longest-running first, then by val
    top = sorted(alive, key=lambda row: (row["epochs"], row["val_acc_last_epoch"], row["default"]), reverse=True)[:1]
    finalists = recipe["finalists"]  # the search's best and the config's own, re-run on the recipe_confirm block
    assert [f["overrides"] for f in finalists] == [r["overrides"] for r in top + (defaults if defaults != top else [])]
    best, decision = choose_recipe(finalists, cfg.tune.recipe.confidence)
    assert ((recipe["overrides"], recipe["val_acc_last_epoch"])
            == (best["overrides"], best["confirm_val_acc_last_epoch"]))
    assert recipe["decision"] == decision and recipe["replaced"] == (not best["default"])
    assert recipe["seed_ranges"] == {"seeds.choice": cfg.seeds.choice}
    fresh = []
    for seed in (100, 101):  # the confirmation's val, recomputed: plain KD runs of the winner on the fresh seeds
        run = DistillationRun(load_config(None, base + PLAIN_KD + best["overrides"] + [f"distill.seed={seed}"]),
                              shards, seed,
                              data)
        while not run.finished:
            run.epoch()
        fresh.append(run.evaluate("val")[0])
    assert best["confirm_seeds"] == [100, 101] and best["confirm_val_acc_per_seed"] == pytest.approx(fresh)
    assert recipe["epochs_trained"] == sum(row["epochs"] for row in rows) * 2 + 3 * 2 * len(finalists)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["best_overrides"] == recipe["overrides"] and metrics["trials"] == 3
    assert "default" in capsys.readouterr().out

    wire = STAGES["recipe"].wire(out)
    replaced = json.dumps(recipe["config_overrides"] if recipe["replaced"] else [])
    assert wire == [*recipe["overrides"], "tune.recipe.trials=3",
                    f"tune.recipe.epochs_trained={recipe['epochs_trained']}",
                    f"tune.recipe.replaced={replaced}", f"tune.recipe.choice={json.dumps(cfg.seeds.choice)}",
                    f"tune.recipe.seconds={metrics['seconds']}"]
    wired = load_config(None, base + wire)
    chosen = dict(o.split("=") for o in recipe["overrides"])
    assert all(getattr(wired.distill, key.split(".")[1]) == float(value) for key, value in chosen.items())
    assert "chosen on val by `rlkd recipe` over 3 trials" in kd_tuning_budget(wired)
    assert "not searched" in kd_tuning_budget(cfg)
    assert STAGES["recipe"].wire(tmp_path / "nothing-here") == []


def finalist(name, accs, default=False):
    return {"overrides": [f"distill.lr={name}"], "default": default, "confirm_val_acc_per_seed": accs,
            "confirm_val_acc_last_epoch": sum(accs) / len(accs)}


def test_a_finalist_replaces_the_config_only_when_its_paired_interval_is_above_zero():
    own = finalist("own", [80.0, 81.0, 79.0, 80.0])
    noisy = finalist("noisy", [85.0, 78.0, 83.0, 77.0])  # mean +0.75, the interval crosses 0: a search's lucky draw
    steady = finalist("steady", [81.0, 82.0, 80.0, 81.0])  # +1.0 on every seed
    best, decision = choose_recipe([noisy, {**own, "default": True}], 0.9)
    assert best["default"] and decision.startswith("kept the config's recipe")
    assert noisy["gain_over_config"]["ci_low"] < 0 < noisy["gain_over_config"]["mean"]
    best, decision = choose_recipe([noisy, steady, {**own, "default": True}], 0.9)
    assert best is steady and decision.startswith("replaced the config's recipe")
    assert steady["gain_over_config"]["ci_low"] == pytest.approx(1.0)


@pytest.mark.slow
def test_recipe_keeps_the_config_when_every_searched_option_is_worse(tmp_path, teacher_dir, shards_dir,
                                                                     ray_session):
    out = tmp_path / "recipe"
    worse = ["tune.recipe.space={distill.lr: {choice: [1.0e-7]}}", "tune.recipe.samples=2",
             "tune.recipe.confirm_seeds=3", "tune.recipe.finalists=2",  # the worse option is a finalist too ...
             "tune.recipe.grace_period=3"]  # ... as ASHA cannot stop it before its last epoch
    base = run_overrides(teacher_dir, shards_dir) + TINY + worse
    assert main(["recipe", "--out", str(out), *sets(base)]) == 0
    recipe = json.loads((out / "recipe.json").read_text())
    cfg = load_config(None, base)
    assert recipe["replaced"] is False and recipe["decision"].startswith("kept the config's recipe")
    assert recipe["overrides"] == recipe["config_overrides"] == [f"distill.lr={cfg.distill.lr}"]
    searched = next(f for f in recipe["finalists"] if not f["default"])
    assert searched["overrides"] == ["distill.lr=1e-07"] and searched["gain_over_config"]["ci_high"] < 0
    assert "tune.recipe.replaced=[]" in STAGES["recipe"].wire(out)


def test_a_recipe_value_the_key_does_not_allow_is_refused_before_any_trial(tmp_path, capsys):
    args = ["recipe", "--out", str(tmp_path), "--set", "tune.recipe.space={distill.alpha: {choice: [0.5, 2.0]}}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "tune.recipe.space.distill.alpha: choice value 2.0" in err and "distill.alpha" in err
    assert not (tmp_path / "ray_results").exists()


def test_recipe_space_has_the_param_space_checks(tmp_path, capsys):
    args = ["recipe", "--out", str(tmp_path), "--set", "tune.recipe.space={distill.lrr: {loguniform: [0.001, 0.1]}}"]
    assert main(args) == 2
    assert "tune.recipe.space.distill.lrr: not a config key" in capsys.readouterr().err


def test_runs_shorter_than_the_grace_period_are_searched_without_early_stops(tmp_path):
    from rlkd.tune.recipe import recipe_trial, recipe_tuner

    cfg = load_config(None, ["distill.epochs=2", "tune.recipe.grace_period=5"])  # ASHA alone refuses 5 > 2
    assert recipe_tuner(cfg, recipe_trial, str(tmp_path), "unused") is not None  # raised AssertionError before
