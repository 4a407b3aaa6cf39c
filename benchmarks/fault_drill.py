#!/usr/bin/env python
"""kill -9 `scripts/launch.py` in the middle of each stage, run the same command again, and say what was lost.

Prints one markdown row per stage for docs/reliability.md: how long the run had
gone when it was killed, whether the re-run finished (with its report), which
stages it skipped as done, and where `train` resumed.

    python benchmarks/fault_drill.py [--workdir /tmp/drill] [--stages teacher,precompute,recipe,distill,train,evaluate]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlkd.stages import PIPELINE

ROOT = Path(__file__).resolve().parent.parent
TINY = ["teacher.epochs=6", "teacher.cross_fit=2", "distill.epochs=20", "ppo.iterations=30", "ppo.episodes_per_batch=1",
        "ppo.hidden=[8]", "ppo.num_epochs=1", "ppo.checkpoint_every=1", "resources.num_env_runners=0",
        "env.eval_seeds=3", "resources.precompute.actors=1", "tune.recipe.samples=2", "tune.recipe.grace_period=1"]
STAGES = PIPELINE


def launch_cmd(workdir: Path) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "launch.py"), "--workdir", str(workdir),
            *[x for o in TINY for x in ("--set", o)]]


def started(workdir: Path, stage: str) -> bool:
    """The stage is under way: its folder has the config, and (train) a checkpoint or two."""
    folder = workdir / stage
    if stage == "train":
        return len(list((folder / "checkpoints").glob("iter_*"))) >= 3
    return (folder / "config.yaml").is_file() and not (folder / "metrics.json").is_file()


def drill(workdir: Path, stage: str) -> dict:
    shutil.rmtree(workdir, ignore_errors=True)
    cmd = launch_cmd(workdir)
    for s in STAGES[: STAGES.index(stage)]:  # finish the stages before it first, so the kill lands in `stage`
        done = subprocess.run(cmd + ["--stage", s], cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            raise SystemExit(f"stage {s} failed before the drill: {done.stderr[-2000:]}")
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    start = time.time()
    while proc.poll() is None and not started(workdir, stage):
        time.sleep(0.1)
    if proc.poll() is not None:
        return {"stage": stage, "outcome": "finished before the kill"}
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_after = time.time() - start
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    skipped = re.findall(r"\[(\w+)\] up to date", again.stdout)
    resumed = re.search(r"resumed from .* at iteration (\d+)", again.stdout)
    return {"stage": stage, "rerun_exit": again.returncode, "skipped": skipped,
            "killed_after_s": round(killed_after, 1),
            "train_resumed_at": int(resumed.group(1)) if resumed else None,
            "report": (workdir / "evaluate" / "report.md").is_file(),
            "stderr_tail": again.stderr[-500:] if again.returncode else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/rlkd-fault-drill")
    parser.add_argument("--stages", default=",".join(STAGES))
    args = parser.parse_args()
    rows = [drill(Path(args.workdir), s) for s in args.stages.split(",")]
    print("| kill -9 during | re-run exit | skipped as done | train resumed at | report written |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['stage']} (after {r.get('killed_after_s', '-')} s) | {r.get('rerun_exit', r.get('outcome'))} | "
              f"{', '.join(r.get('skipped', [])) or '-'} | {r.get('train_resumed_at') or '-'} | {r.get('report')} |")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
