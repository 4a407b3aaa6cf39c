#!/usr/bin/env python
"""Is feedback worth anything? The zero-shot policies against the best single fixed schedule over their training
tasks, chosen by a tuner at the RL's budget.

For --leave-out F this runs the search behind `rlkd evaluate`'s "kd, tuned at the RL's budget"
(rlkd.tune.budget_search) across the training tasks of the first zero-shot PPO run: each trial is one schedule
(recipe keys, then a constant or linear label weight, temperature and share of data per epoch) run on every training
task, ranked by the mean val accuracy over the tasks on the choice seeds, until that PPO run's own budget (its
training samples) is spent. The chosen schedule then runs on every left-out task on the zero-shot evaluation's seeds,
paired seed by seed with the zero-shot policies and pooled over the PPO runs as `rlkd evaluate` pools them. Issue 20's
target: policy − this schedule > 0 with the interval above 0 (feedback pays). The open-loop replay of the policy's
own mean action on the task (zero_shot.py's row, PPO run 1) is reported beside it.

    python benchmarks/zero_shot_fixed.py --leave-out tabular --evidence

reads runs/zero_shot/<left-out>/ (zero_shot.py's output), writes <that folder>/fixed/ and, with --evidence,
docs/evidence/zero_shot_fixed/<left-out>/<task>.json, from which `scripts/write_results.py` writes docs/results.md's
table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from statistics import mean

from zero_shot_recipe import ROOT, SPLITS, evaluated_tasks, runs_on_seeds, zero_shot_runs

from rlkd.config import load_config, with_overrides
from rlkd.data import load_data
from rlkd.models.imported import import_from_working_dir
from rlkd.reports.evaluate import pooled_over_ppo_runs
from rlkd.reports.results_docs import REPLAY, ZERO_SHOT_FIXED_DIR, feedback_pays, zero_shot_fixed_block
from rlkd.reports.summary import git_commit
from rlkd.tune.budget_search import chosen_control, read_rl_samples, rl_budget_epochs, tune_at_budget
from rlkd.workdir import write_json


def fixed_schedule(out: Path) -> dict:
    """The search across the first PPO run's training tasks at its budget (run once, then read back)."""
    found = out / "fixed" / "search.json"
    if found.is_file():
        return json.loads(found.read_text())
    trained = out / "train-ppo0" / "train"
    cfg = load_config(trained / "config.yaml")  # PPO's config: every training task, its teacher and shards wired
    samples = read_rl_samples(json.loads((trained / "metrics.json").read_text()))
    budget = rl_budget_epochs(samples, len(load_data(cfg.data).train.labels))
    search = {**tune_at_budget(cfg, out / "fixed", budget, []), "tasks": [t.name for t in cfg.env.tasks],
              "rl_samples": samples, "ppo_run": str(trained)}
    write_json(found, search)
    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leave-out", required=True, help="the family zero_shot.py left out")
    parser.add_argument("--workdir", default="runs/zero_shot", help="zero_shot.py's --workdir")
    parser.add_argument("--tasks", default="", help="comma-separated left-out tasks (default: every one evaluated)")
    parser.add_argument("--evidence", action="store_true",
                        help=f"write each task's comparison to {ZERO_SHOT_FIXED_DIR}/<left-out>/<task>.json")
    args = parser.parse_args()
    import_from_working_dir()  # the families' loaders by import path (examples.*), as `rlkd` resolves them
    out = Path(args.workdir).resolve() / args.leave_out
    folders = evaluated_tasks(out, args.tasks, args.leave_out)
    command = shlex.join(["zero_shot_fixed.py", *sys.argv[1:]])
    commit = git_commit(ROOT)
    search = fixed_schedule(out)
    chosen = search["chosen"]
    results = {}
    for evaluated in folders:
        start = time.perf_counter()
        cfg, summary, runs, policies = zero_shot_runs(evaluated)
        overrides, policy = chosen_control(cfg, chosen, [])
        fixed = runs_on_seeds(with_overrides(cfg, overrides), policy, summary["seeds"], "the fixed schedule",
                              out / "fixed" / evaluated.name / "runs.json", {"chosen": chosen})
        result = {
            "version": 1, "commit": commit, "command": command, "task": evaluated.name,
            "seed_range": summary["seed_range"], "seeds": summary["seeds"], "ppo_runs": summary["ppo_runs"],
            "epoch": "last", "zero_shot_commit": summary["commit"],
            "search": {key: search[key] for key in ("budget_kd_epochs", "spent_kd_epochs", "trials", "seconds",
                                                    "chosen", "points_val_acc_last_epoch", "tasks", "ppo_run")},
            "chosen_on": "val, mean over the training tasks, seeds.choice (baseline_search block)",
            "policy": {s: mean([mean([r[f"{s}_acc_last_epoch"] for r in run]) for run in policies]) for s in SPLITS},
            "fixed": {s: mean([r[f"{s}_acc_last_epoch"] for r in fixed]) for s in SPLITS},
            "policy_minus_fixed": pooled_over_ppo_runs(policies, {"fixed": fixed})["fixed"],
            "fixed_minus_kd": pooled_over_ppo_runs([fixed], {"kd": runs["kd (all data)"]})["kd"],
            "policy_minus_replay": summary["policy_minus_control"][REPLAY],
        }
        result["feedback_pays"] = feedback_pays(result)
        if args.evidence:
            (ROOT / ZERO_SHOT_FIXED_DIR / args.leave_out).mkdir(parents=True, exist_ok=True)
            write_json(ROOT / ZERO_SHOT_FIXED_DIR / args.leave_out / f"{evaluated.name}.json", result)
        results[evaluated.name] = result
        d = result["policy_minus_fixed"]["test"]
        print(f"{evaluated.name}: policy - fixed schedule {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] "
              f"test ({(time.perf_counter() - start) / 60:.1f} min)", flush=True)
    print(zero_shot_fixed_block({args.leave_out: results}))


if __name__ == "__main__":
    main()
