#!/usr/bin/env python
"""Two sets of zero-shot policies on the same left-out tasks and seeds, paired: A − B, seed by seed.

Each side is a `benchmarks/zero_shot.py` workdir (e.g. one trained with `--set reward.thresholds=teacher`, one with
the default). Both sides' PPO runs and the shared seeds are resampled (`two_sided_bootstrap`).

    python benchmarks/zero_shot_pair.py --leave-out tabular --a runs/zero_shot_teacher_thresholds --b runs/zero_shot \\
        --tasks tabular-sep1,tabular-c10,tabular-sym30
"""

from __future__ import annotations

import argparse
from pathlib import Path

from zero_shot_recipe import evaluated_tasks, zero_shot_runs

from rlkd.models.imported import import_from_working_dir
from rlkd.reports.evaluate import pooled_between_ppo_runs


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
        try:
            pooled = pooled_between_ppo_runs(side_a, side_b)
        except ValueError as e:
            raise SystemExit(f"zero_shot_pair: {folder.name}: {e}")
        print(folder.name + "".join(f"  {s}: A − B {d['mean']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] "
                                    f"{d['wins']}/{d['n']}" for s, d in ((s, pooled[s]) for s in ("val", "test"))))


if __name__ == "__main__":
    main()
