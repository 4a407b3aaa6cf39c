#!/usr/bin/env python
"""The zero-shot policies against policies trained on the left-out task itself: what skipping the RL bill costs.

For each left-out task that `benchmarks/zero_shot.py` evaluated, this trains --ppo-seeds PPO runs on that task alone
(`rlkd train` on the evaluation's own config: the family's config with the task's data, its teacher and shards, the
config's PPO settings: one main-job RL bill per run), then runs each policy on the zero-shot evaluation's seeds. The
zero-shot policies − these is pooled with both sides' PPO runs resampled (`two_sided_bootstrap`).

    python benchmarks/zero_shot_own.py --leave-out tabular --tasks tabular-sep1 --evidence

reads runs/zero_shot/<left-out>/evaluate/<task>/ (zero_shot.py's output), writes <that folder>/../../own/<task>/ (or
--out) and,
with --evidence, docs/evidence/zero_shot_own/<left-out>/<task>.json, from which `scripts/write_results.py` writes
docs/results.md's table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from zero_shot_recipe import ROOT, against_baseline, evaluated_tasks, runs_on_seeds, zero_shot_runs

from rlkd.config import with_overrides
from rlkd.curriculum.policies import load_policy
from rlkd.models.imported import import_from_working_dir
from rlkd.reports.evaluate import pooled_between_ppo_runs
from rlkd.reports.results_docs import ZERO_SHOT_BASELINES, baseline_block
from rlkd.reports.summary import git_commit
from rlkd.stages import STAGES, already_done, execute


def trained_on_task(cfg, folder: Path, seed: int, overrides: list[str]) -> tuple[Path, dict]:
    """(the checkpoint, the RL cost) of one PPO run on the task alone, trained once into `folder`."""
    own = with_overrides(cfg, [f"ppo.seed={seed}", "ppo.checkpoint=null", "ppo.checkpoints=[]", *overrides])
    if not already_done(STAGES["train"], own, folder):
        execute(STAGES["train"], own, folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    return folder / "checkpoint", {"ppo_seed": seed, "seconds": metrics["seconds"], **metrics["rl_cost"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leave-out", required=True, help="the family zero_shot.py left out")
    parser.add_argument("--workdir", default="runs/zero_shot", help="zero_shot.py's --workdir")
    parser.add_argument("--tasks", default="", help="comma-separated left-out tasks (default: every one evaluated)")
    parser.add_argument("--ppo-seeds", default="0,1,2", help="one PPO run on the task per seed")
    parser.add_argument("--out", default="", help="where the PPO runs go (default: <workdir>/<left-out>/own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="for the PPO runs")
    parser.add_argument("--evidence", action="store_true", help="write each task's comparison to "
                        f"{ZERO_SHOT_BASELINES['own']['folder']}/<left-out>/<task>.json")
    args = parser.parse_args()
    import_from_working_dir()  # the families' loaders by import path (examples.*), as `rlkd` resolves them
    out = Path(args.workdir).resolve() / args.leave_out
    trained = Path(args.out).resolve() if args.out else out / "own"
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    commit = git_commit(ROOT)
    evidence = ROOT / ZERO_SHOT_BASELINES["own"]["folder"] / args.leave_out
    seeds = [int(s) for s in args.ppo_seeds.split(",")]
    results = {}
    for evaluated in evaluated_tasks(out, args.tasks, args.leave_out):
        cfg, summary, runs, policies = zero_shot_runs(evaluated)
        own, costs = [], []
        for seed in seeds:
            folder = trained / evaluated.name / f"train-ppo{seed}"
            checkpoint, cost = trained_on_task(cfg, folder, seed, args.overrides)
            own.append(runs_on_seeds(cfg, load_policy(str(checkpoint)), summary["seeds"], f"own policy, PPO seed "
                                     f"{seed}", folder / "runs.json", {"checkpoint": str(checkpoint.resolve())}))
            costs.append(cost)
        about = {"commit": commit, "command": command, "own_ppo_runs": costs}
        results[evaluated.name] = against_baseline("own", evaluated.name, summary, runs, policies, own,
                                                   pooled_between_ppo_runs(policies, own), about,
                                                   evidence if args.evidence else None)
    print(baseline_block("own", {args.leave_out: results}))


if __name__ == "__main__":
    main()
