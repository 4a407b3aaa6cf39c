#!/usr/bin/env python
"""Leave one family out: a policy trained across every other task family, applied zero-shot to the left-out one.

For each --ppo-seeds entry, `scripts/train_pretrained.py` trains a policy on the families other than --leave-out
(one PPO run each: the unit of replication). Then every task of the left-out family gets one `rlkd evaluate`
whose policy rows are those policies, never trained on that family: KD with the config's own recipe, its A/A
twin (the noise floor), the open-loop replay of the policy's mean action and the fixed controls beside them, on
the evaluation seeds, test and val, last epoch. Teachers and shards come from --reuse, the workdir of a
`train_pretrained.py` run that prepared every family's tasks (nothing is made twice).

    python benchmarks/zero_shot.py --leave-out signals --reuse runs/pretrained/families-v1 --ppo-seeds 0,1,2

prints a markdown table (also written to <workdir>/<left-out>/zero_shot.md); with --evidence each task's
summary.json becomes docs/evidence/zero_shot/<left-out>/<task>.json, from which `scripts/write_results.py` writes
docs/results.md's "Pretrained policies" tables and README's line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from rlkd.config import load_config, task_config, with_overrides
from rlkd.reports.results_docs import ZERO_SHOT_DIR, zero_shot_block
from rlkd.reports.summary import SUMMARY_FILE
from rlkd.stages import STAGES, already_done, execute
from rlkd.stages.tasks import TASKS_DIR, prepare_tasks

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import train_pretrained  # noqa: E402  (a script, not a package module)


def reuse_folders(reuse: Path, workdir: Path) -> None:
    """Link the prepared teachers and shards of `reuse` into `workdir`, where the pipeline finds them up to date."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("teacher", "precompute", TASKS_DIR):
        link = workdir / name
        if not link.exists() and (reuse / name).exists():
            link.symlink_to((reuse / name).resolve())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leave-out", required=True, help="the family applied zero-shot")
    parser.add_argument("--families", default="digits,signals,tabular")
    parser.add_argument("--reuse", default="runs/pretrained/families-v1", help="a train_pretrained.py workdir")
    parser.add_argument("--workdir", default="runs/zero_shot")
    parser.add_argument("--ppo-seeds", default="0,1,2")
    parser.add_argument("--seeds", type=int, default=24, help="evaluation seeds per task")
    parser.add_argument("--tasks", default="", help="comma-separated left-out tasks (default: all of the family)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="for the PPO runs")
    parser.add_argument("--evidence", action="store_true", help="copy each task's summary.json to "
                        f"{ZERO_SHOT_DIR}/<left-out>/<task>.json (then run scripts/write_results.py)")
    args = parser.parse_args()
    families = args.families.split(",")
    train_on = [f for f in families if f != args.leave_out]
    reuse, out = Path(args.reuse).resolve(), Path(args.workdir).resolve() / args.leave_out
    start = time.perf_counter()
    policies = []
    for seed in [int(s) for s in args.ppo_seeds.split(",")]:
        name, folder = f"lofo-{args.leave_out}-ppo{seed}", out / f"train-ppo{seed}"
        reuse_folders(reuse, folder)
        train_pretrained.main(["--families", ",".join(train_on), "--name", name, "--workdir", str(folder),
                               "--out", str(out / "policies"), "--set", f"ppo.seed={seed}", *
                               [x for o in args.overrides for x in ("--set", o)]])
        policies.append(out / "policies" / name)
    trained_s = time.perf_counter() - start
    every = load_config(reuse / "training_config.yaml")  # every family's tasks, wired to --reuse's folders
    wiring, _ = prepare_tasks(reuse, every, STAGES, run=False)
    every = with_overrides(every, wiring)
    left_out = {t.name for t in load_config(train_pretrained.FAMILIES / f"{args.leave_out}.yaml").env.tasks}
    wanted = {t for t in args.tasks.split(",") if t} or left_out
    family = [t for t in every.env.tasks if t.name in left_out & wanted]
    summaries = {}
    for task in family:
        cfg = with_overrides(task_config(every, task), [
            f"ppo.checkpoint={policies[0]}", f"ppo.checkpoints={json.dumps([str(p) for p in policies[1:]])}",
            f"env.eval_seeds={args.seeds}", "tune.tuned_baseline=false", "ppo.pretrained=null"])
        folder = out / "evaluate" / task.name
        if not already_done(STAGES["evaluate"], cfg, folder):
            execute(STAGES["evaluate"], cfg, folder)
        summaries[task.name] = json.loads((folder / SUMMARY_FILE).read_text())
        if args.evidence:
            evidence = ROOT / ZERO_SHOT_DIR / args.leave_out
            evidence.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / SUMMARY_FILE, evidence / f"{task.name}.json")
    lines = [f"Trained on {', '.join(train_on)}: {len(policies)} PPO runs in {trained_s / 60:.0f} min (teachers and "
             f"shards reused); in all {(time.perf_counter() - start) / 60:.0f} min", "",
             zero_shot_block({args.leave_out: summaries})]
    text = "\n".join(lines) + "\n"
    (out / "zero_shot.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
