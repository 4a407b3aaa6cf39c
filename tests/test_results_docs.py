"""docs/results.md's evidence section and README's headline are generated from docs/evidence/*.json."""

import copy
import subprocess
from pathlib import Path

import pytest

from rlkd.reports.results_docs import (
    EQUAL_BUDGET,
    OWN_RECIPE,
    _baseline_clause,
    baseline_block,
    claim,
    headline,
    noninferior,
    policy_ahead,
    render,
    zero_shot_block,
    zero_shot_claim,
    zero_shot_headline,
    zero_shot_recipe_block,
)
from rlkd.reports.summary import git_commit

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_docs_are_what_the_committed_summaries_generate():
    for path, text in render(ROOT).items():
        assert (ROOT / path).read_text() == text, f"{path} is out of date: run `python scripts/write_results.py`"


def summary(low, high, runs=3, floor=(-0.6, 0.6)):
    interval = {"mean": (low + high) / 2, "ci_low": low, "ci_high": high, "wins": 50, "n": 72}
    return {"ppo_runs": runs, "noise_floor": {"test": {"mean": 0.0, "ci_low": floor[0], "ci_high": floor[1],
                                                       "wins": 12, "n": 24}},
            "policy_minus_control": {}, "pooled_policy_minus_control": {EQUAL_BUDGET: {"test": interval,
                                                                                       "val": interval}}}


def test_a_claim_needs_an_interval_above_zero_outside_the_floor_over_three_ppo_runs():
    assert claim(summary(0.8, 2.0))
    assert not claim(summary(0.3, 2.0))  # above 0 but inside the A/A interval
    assert not claim(summary(-0.2, 2.0))
    assert not claim(summary(0.8, 2.0, runs=1))
    no_floor = copy.deepcopy(summary(0.8, 2.0))
    no_floor["noise_floor"] = None
    assert not claim(no_floor)
    single = copy.deepcopy(summary(0.8, 2.0))  # a one-run interval never stands in for the pooled one
    single["policy_minus_control"] = single.pop("pooled_policy_minus_control")
    single["pooled_policy_minus_control"] = None
    assert not claim(single)
    undefined = copy.deepcopy(summary(0.8, 2.0))
    undefined["pooled_policy_minus_control"][EQUAL_BUDGET]["test"]["ci_low"] = None  # summary.json's NaN
    assert not claim(undefined)


def test_the_headline_says_plainly_when_nothing_pays():
    line = headline({"default": summary(-0.5, 0.5)})
    assert line.startswith("No regime measured so far shows the learned curriculum") and "default (3 PPO runs)" in line
    assert headline({"noise0.4": summary(1.0, 2.0)}).startswith("Where the learned curriculum pays")


def zero_shot_summary(low, high, runs=3, floor=(-0.6, 0.6)):
    s = summary(low, high, runs, floor)
    s["pooled_policy_minus_control"] = {OWN_RECIPE: s["pooled_policy_minus_control"][EQUAL_BUDGET]}
    return {**s, "seed_range": {"seeds.evaluation": [20000, 30000]}, "seeds": list(range(20000, 20024)),
            "command": "zero_shot.py --leave-out signals", "commit": "abc1234", "epoch": "last",
            "rows": {"policy": {"test": 50.0, "val": 51.0}}}


def test_a_zero_shot_policy_pays_only_by_a_point_outside_the_floor_over_three_ppo_runs():
    assert zero_shot_claim(zero_shot_summary(0.8, 2.0))  # mean +1.4
    assert not zero_shot_claim(zero_shot_summary(0.7, 1.1))  # above the floor, but +0.9 < +1.0
    assert not zero_shot_claim(zero_shot_summary(0.3, 2.5))  # inside the A/A interval
    assert not zero_shot_claim(zero_shot_summary(0.8, 2.0, runs=2))
    families = {"signals": {"signals-l40": zero_shot_summary(0.8, 2.0), "signals-l64": zero_shot_summary(-1, -0.1)}}
    line = zero_shot_headline(families, {}, {})
    assert "on 1 of 2 tasks (signals/signals-l40), is below it on 1 (signals/signals-l64)" in line
    assert "3 PPO runs" in line and "open-loop replay (what feedback adds, PPO run 1) on 0" in line
    table = zero_shot_block(families)
    assert "| signals-l40 | test | 50.00 | +1.40 [+0.80, +2.00] 50/72 |" in table and "| yes |" in table
    assert zero_shot_headline({}, {}, {}).startswith("No pretrained policy has been judged")


def recipe_result(low, high):
    d = {"mean": (low + high) / 2 if low is not None else 0.3, "ci_low": low, "ci_high": high, "runs": 3}
    return {"command": "zero_shot_recipe.py --leave-out signals", "commit": "abc1234", "ppo_runs": 3,
            "seeds": list(range(20000, 20024)), "epoch": "last", "policy": {"test": 50.0, "val": 51.0},
            "kd_after_recipe": {"test": 50.5, "val": 51.5}, "recipe": {"trials": 12, "target_runs": 42.8},
            "policy_minus_kd_after_recipe": {"test": d, "val": d}, "kd_after_recipe_minus_kd": {"test": d, "val": d}}


def test_saving_the_tuning_needs_a_lower_bound_above_minus_half_and_a_narrow_interval():
    assert noninferior(recipe_result(-0.4, 1.0))  # half-width 0.7
    assert not noninferior(recipe_result(-0.6, 0.8))  # the lower bound is below -0.5
    assert not noninferior(recipe_result(-0.4, 1.2))  # half-width 0.8: too wide to say
    assert not noninferior(recipe_result(None, 1.0))  # one seed: no interval
    recipe = {"signals": {"signals-l40": recipe_result(-0.4, 1.0), "signals-l64": recipe_result(-2.0, -0.5)}}
    table = zero_shot_recipe_block(recipe)
    assert "| signals-l40 | test | 50.00 | 50.50 | +0.30 [-0.40, +1.00] | +0.30 [-0.40, +1.00] | 12, 42.8 | yes |" \
        in table and "| signals-l64 | test |" in table and "| no |" in table
    families = {"signals": {"signals-l40": zero_shot_summary(0.8, 2.0)}}
    line = zero_shot_headline(families, recipe, {})
    assert "(≤ 43 target runs of tuning each) it is non-inferior on 1 of 2 and below it on 1" in line
    assert "against KD after `rlkd recipe` it has not been measured yet" in zero_shot_headline(families, {}, {})
    assert zero_shot_recipe_block({}).rstrip().endswith("has been committed yet.")


def test_the_commit_is_dirty_for_changed_code_not_for_changed_docs(tmp_path):
    """A benchmark writing its evidence into docs/ must not mark the runs after its first as made by changed code."""
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "docs").mkdir()
    for name in ("code.py", "docs/evidence.json"):
        (tmp_path / name).write_text("1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_commit(tmp_path)
    assert clean is not None and not clean.endswith("-dirty")
    (tmp_path / "docs" / "evidence.json").write_text("2\n")
    assert git_commit(tmp_path) == clean
    (tmp_path / "code.py").write_text("2\n")
    assert git_commit(tmp_path) == clean + "-dirty"


@pytest.mark.parametrize("kind", ["fixed", "tuned", "own"])
def test_the_policy_is_ahead_of_a_baseline_only_with_the_interval_above_zero(kind):
    interval = {"mean": 0.9, "ci_low": 0.1, "ci_high": 1.7, "wins": 50, "n": 72}
    result = {"command": "zero_shot_fixed.py --leave-out tabular", "commit": "abc1234", "ppo_runs": 3,
              "seeds": list(range(24)), "epoch": "last",
              "search": {"trials": 30, "tasks": ["a", "b"], "spent_kd_epochs": 101.0, "budget_kd_epochs": 100.0,
                         "seconds": 600.0, "points_val_acc_last_epoch": {"constant": 50.0},
                         "chosen": {"recipe": {"distill.lr": 0.01}, "schedule": {"shape": "constant"},
                                    "val_acc_last_epoch": 52.5}},
              "own_ppo_runs": [{"episodes": 300, "target_run_equivalents": 259.5, "seconds": 240.0},
                               {"episodes": 300, "target_run_equivalents": 260.5, "seconds": 360.0}],
              "policy": {"test": 50.0, "val": 51.0}, "baseline": {"test": 49.1, "val": 50.0},
              "policy_minus_baseline": {"test": interval, "val": interval},
              "baseline_minus_kd": {"test": interval, "val": interval},
              "policy_minus_replay": {"test": interval, "val": interval}}
    assert policy_ahead(result)
    across = copy.deepcopy(result)
    across["policy_minus_baseline"]["test"] = {**interval, "ci_low": -0.1}
    assert not policy_ahead(across)
    block = baseline_block(kind, {"tabular": {"t1": result, "t2": across}})
    assert "| t1 | test | 50.00 | 49.10 | +0.90 [+0.10, +1.70] |" in block and block.count("| yes |") == 1
    assert ("30 trials over 2 training tasks, 101 of 100 KD epochs" in block) == (kind == "fixed")
    assert ("| 30, 101 | yes |" in block) == (kind == "tuned")
    assert ("| 2 × 300 episodes, 260.0 target runs, 5 min each | yes |" in block) == (kind == "own")
    below = copy.deepcopy(result)
    below["policy_minus_baseline"]["test"] = {**interval, "mean": -1.0, "ci_low": -1.5, "ci_high": -0.5}
    clause = _baseline_clause(kind, {"tabular": {"t1": result, "t2": across, "t3": below}})
    assert "it is ahead on 1 of 3 and below it on 1" in clause
    assert "has not been measured yet" in _baseline_clause(kind, {})
