#!/usr/bin/env python
"""The zero-shot policies against tuned schedules at an RL's budget: is what the policy does worth its RL bill?

Both baselines are the search behind `rlkd evaluate`'s "kd, tuned at the RL's budget" (rlkd.tune.budget_search):
recipe keys, then a constant or linear label weight, temperature and share of data per epoch, chosen on val on the
choice seeds, until a budget of KD epochs is spent.

- default, `fixed`: the best single fixed schedule over the policies' training tasks. The search runs across the
  training tasks of the first zero-shot PPO run (each trial one schedule on every task, ranked by their mean val)
  until that run's own RL budget (its training samples) is spent. Issue 20: policy − this > 0 with the interval
  above 0 is what adapting to the task is worth.
- `--per-task TARGET_RUNS`, `tuned`: KD tuned on each left-out task itself at the budget of an RL run on that task
  (TARGET_RUNS target-run equivalents; the default config's PPO run costs 259.5).

Each chosen schedule then runs on its left-out task on the zero-shot evaluation's seeds, paired seed by seed with the
zero-shot policies and pooled over the PPO runs as `rlkd evaluate` pools them. The open-loop replay of the policy's
own mean action on the task (zero_shot.py's row, PPO run 1) is reported beside it.

    python benchmarks/zero_shot_fixed.py --leave-out tabular --evidence
    python benchmarks/zero_shot_fixed.py --leave-out tabular --per-task 259.5 --evidence

reads runs/zero_shot/<left-out>/ (zero_shot.py's output), writes <that folder>/fixed/ (or tuned/) and, with
--evidence, docs/evidence/zero_shot_fixed/ (or zero_shot_tuned/) <left-out>/<task>.json, from which
`scripts/write_results.py` writes docs/results.md's tables.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from zero_shot_recipe import ROOT, against_baseline, evaluated_tasks, runs_on_seeds, zero_shot_runs

from rlkd.config import load_config, with_overrides
from rlkd.data import load_data
from rlkd.models.imported import import_from_working_dir
from rlkd.reports.evaluate import pooled_over_ppo_runs
from rlkd.reports.results_docs import ZERO_SHOT_BASELINES, baseline_block
from rlkd.reports.summary import git_commit
from rlkd.tune.budget_search import chosen_control, read_rl_samples, rl_budget_epochs, tune_at_budget
from rlkd.workdir import write_json

SEARCH_KEYS = ("budget_kd_epochs", "spent_kd_epochs", "trials", "seconds", "chosen", "points_val_acc_last_epoch",
               "tasks")


def searched(cfg, folder: Path, budget_epochs: float, about: dict) -> dict:
    """The search on `cfg` at `budget_epochs` into `folder` (run once, then read back from search.json)."""
    found = folder / "search.json"
    if found.is_file():
        return json.loads(found.read_text())
    search = {**tune_at_budget(cfg, folder, budget_epochs, []), "tasks": [t.name for t in cfg.env.tasks], **about}
    write_json(found, search)
    return search


def fixed_over_training_tasks(out: Path) -> dict:
    """The one schedule across the first PPO run's training tasks, at that run's budget."""
    trained = out / "train-ppo0" / "train"
    cfg = load_config(trained / "config.yaml")  # PPO's config: every training task, its teacher and shards wired
    samples = read_rl_samples(json.loads((trained / "metrics.json").read_text()))
    return searched(cfg, out / "fixed", rl_budget_epochs(samples, len(load_data(cfg.data).train.labels)),
                    {"rl_samples": samples, "ppo_run": str(trained)})


def tuned_on_task(cfg, folder: Path, target_runs: float) -> dict:
    """KD's schedule searched on the task itself, at `target_runs` of the task's own runs."""
    return searched(cfg, folder, target_runs * cfg.distill.epochs * cfg.env.budget, {"target_runs": target_runs})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leave-out", required=True, help="the family zero_shot.py left out")
    parser.add_argument("--workdir", default="runs/zero_shot", help="zero_shot.py's --workdir")
    parser.add_argument("--tasks", default="", help="comma-separated left-out tasks (default: every one evaluated)")
    parser.add_argument("--per-task", type=float, default=0.0, metavar="TARGET_RUNS",
                        help="tune KD on each left-out task at this many target runs (default: one fixed schedule "
                             "over the training tasks)")
    parser.add_argument("--evidence", action="store_true", help="write each task's comparison to "
                        "docs/evidence/zero_shot_fixed/ (zero_shot_tuned/ with --per-task) <left-out>/<task>.json")
    args = parser.parse_args()
    import_from_working_dir()  # the families' loaders by import path (examples.*), as `rlkd` resolves them
    kind = "tuned" if args.per_task else "fixed"
    out = Path(args.workdir).resolve() / args.leave_out
    folders = evaluated_tasks(out, args.tasks, args.leave_out)
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    commit = git_commit(ROOT)
    evidence = ROOT / ZERO_SHOT_BASELINES[kind]["folder"] / args.leave_out
    fixed = None if args.per_task else fixed_over_training_tasks(out)
    results = {}
    for evaluated in folders:
        cfg, summary, runs, policies = zero_shot_runs(evaluated)
        search = fixed or tuned_on_task(cfg, out / kind / evaluated.name, args.per_task)
        overrides, policy = chosen_control(cfg, search["chosen"], [])
        baseline = runs_on_seeds(with_overrides(cfg, overrides), policy, summary["seeds"], f"the {kind} schedule",
                                 out / kind / evaluated.name / "runs.json", {"chosen": search["chosen"]})
        about = {"commit": commit, "command": command, "search": {key: search[key] for key in SEARCH_KEYS},
                 "chosen_on": "val, seeds.choice (baseline_search)"}
        pooled = pooled_over_ppo_runs(policies, {"baseline": baseline})["baseline"]
        results[evaluated.name] = against_baseline(kind, evaluated.name, summary, runs, policies, [baseline], pooled,
                                                   about, evidence if args.evidence else None)
    print(baseline_block(kind, {args.leave_out: results}))


if __name__ == "__main__":
    main()
