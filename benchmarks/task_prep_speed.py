#!/usr/bin/env python
"""Preparing a family's tasks: their teachers one after another against side by side as Ray tasks.

Both arms start from the same finished teacher and shards of the family's own config (made once, first) and make
every task's teacher and shards into a fresh folder with `rlkd.stages.tasks.prepare_tasks`, the pipeline's own
step: first with no stage in parallel, then with the teachers as Ray tasks (the default). Shards are written one
task after another in both arms. Prints each arm's wall time and their ratio; run it on an otherwise idle machine.

    python benchmarks/task_prep_speed.py --family signals
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from rlkd.config import load_config
from rlkd.models.imported import import_from_working_dir
from rlkd.stages import STAGES, run_pipeline
from rlkd.stages.tasks import PARALLEL_STAGES, prepare_tasks

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="signals", help="a tune_configs/families/ config")
    args = parser.parse_args()
    import_from_working_dir()
    config = str(ROOT / "tune_configs" / "families" / f"{args.family}.yaml")
    with tempfile.TemporaryDirectory(prefix="rlkd-task-prep-") as tmp:
        base = Path(tmp) / "base"
        run_pipeline(base, config, [], "teacher,precompute")  # the family config's own, shared by both arms
        cfg = load_config(config)
        seconds = {}
        for arm, parallel in (("one after another", ()), ("teachers as Ray tasks", PARALLEL_STAGES)):
            work = Path(tmp) / arm.replace(" ", "-")
            for stage in ("teacher", "precompute"):  # linked, as benchmarks/zero_shot.py links a prepared workdir
                (work / stage).parent.mkdir(parents=True, exist_ok=True)
                (work / stage).symlink_to(base / stage)
            start = time.perf_counter()
            prepare_tasks(work, cfg, STAGES, run=True, parallel=parallel)
            seconds[arm] = time.perf_counter() - start
    print(f"\n{args.family}: {len(cfg.env.tasks)} tasks")
    for arm, s in seconds.items():
        print(f"  {arm:<24} {s:7.1f} s")
    print(f"  speed-up (one after another / as Ray tasks): "
          f"{seconds['one after another'] / seconds['teachers as Ray tasks']:.2f}x")


if __name__ == "__main__":
    main()
