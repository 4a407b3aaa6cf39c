#!/usr/bin/env python
"""Two sets of zero-shot policies on the same left-out tasks and seeds, paired: A − B, seed by seed.

Each side is a `benchmarks/zero_shot.py` workdir (e.g. one trained with `--set reward.thresholds=teacher`, one with
the default). A's PPO runs are resampled as `rlkd evaluate` pools them; B enters as its per-seed mean over its PPO
runs (its own run-to-run spread is not resampled, so the interval is somewhat narrow).

    python benchmarks/zero_shot_pair.py --leave-out tabular --a runs/zero_shot_teacher_thresholds --b runs/zero_shot \\
        --tasks tabular-sep1,tabular-c10,tabular-sym30
"""

from __future__ import annotations

import argparse
from pathlib import Path
from statistics import mean

from zero_shot_recipe import SPLITS, evaluated_tasks, zero_shot_runs

from rlkd.models.imported import import_from_working_dir
from rlkd.reports.evaluate import pooled_over_ppo_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leave-out", required=True)
    parser.add_argument("--a", required=True, help="zero_shot.py --workdir of side A")
    parser.add_argument("--b", required=True, help="zero_shot.py --workdir of side B")
    parser.add_argument("--tasks", default="", help="comma-separated left-out tasks (default: every one A evaluated)")
    args = parser.parse_args()
    import_from_working_dir()
    for folder in evaluated_tasks(Path(args.a).resolve() / args.leave_out, args.tasks, args.leave_out):
        _, _, _, side_a = zero_shot_runs(folder)
        _, _, _, side_b = zero_shot_runs(Path(args.b).resolve() / args.leave_out / "evaluate" / folder.name)
        seeds = [r["seed"] for r in side_a[0]]
        if any([r["seed"] for r in run] != seeds for run in side_a + side_b):
            raise SystemExit(f"zero_shot_pair: {folder.name}: the two sides ran different seeds")
        b_mean = [{"seed": rows[0]["seed"], **{f"{s}_acc_last_epoch": mean(r[f"{s}_acc_last_epoch"] for r in rows)
                                              for s in SPLITS}} for rows in zip(*side_b)]
        pooled = pooled_over_ppo_runs(side_a, {"b": b_mean})["b"]
        print(folder.name + "".join(f"  {s}: A − B {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] "
                                    f"{d['wins']}/{d['n']}" for s, d in ((s, pooled[s]) for s in ("val", "test"))))


if __name__ == "__main__":
    main()
