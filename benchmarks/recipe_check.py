#!/usr/bin/env python
"""Is the recipe stage's choice never worse than the config's own recipe, and does it still find a better one?

Runs the pipeline's teacher, precompute and recipe stages (cached in --workdir), then trains KD on all data
with the config's own recipe and with the recipe stage's choice on the same --seeds seeds of seeds.evaluation
(never used for a choice), as one student population, and prints the paired difference chosen − own on val
and test (mean [95% t CI] wins/n). Where the stage kept the config's recipe the two arms are the same runs
and the difference is exactly 0.

    python benchmarks/recipe_check.py --config examples/signals/config.yaml --workdir runs/recipe-signals
    python benchmarks/recipe_check.py --config examples/signals/config.yaml --set distill.lr=0.0003 \\
        --workdir runs/recipe-signals-lr-low        # a config that is plainly off: lr 10x too low
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rlkd.config import load_config
from rlkd.curriculum.policies import FixedSchedule
from rlkd.distill.inputs import load_run_inputs
from rlkd.env.episode import PolicyRun, run_policies
from rlkd.reports.stats import format_paired, paired_summary
from rlkd.seeds import range_seeds
from rlkd.stages import STAGES, run_pipeline

UP_TO_RECIPE = ("teacher", "precompute", "recipe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seeds", type=int, default=24)
    parser.add_argument("--workdir", default="runs/recipe-check")
    args = parser.parse_args()
    work = Path(args.workdir)
    for stage in UP_TO_RECIPE:
        run_pipeline(work, args.config, args.overrides, stage=stage)
    upstream = [w for stage in UP_TO_RECIPE[:2] for w in STAGES[stage].wire(work / stage)]
    own = load_config(args.config, args.overrides + upstream + ["env.budget=1.0"])
    chosen = load_config(args.config, args.overrides + upstream + STAGES["recipe"].wire(work / "recipe")
                         + ["env.budget=1.0"])
    recipe = json.loads((work / "recipe" / "recipe.json").read_text())
    seeds = range_seeds(own.seeds.evaluation, args.seeds, "seeds.evaluation")
    data, shards = load_run_inputs(own)
    kd = FixedSchedule("kd (all data)", "full")
    runs = run_policies([PolicyRun(cfg, kd, s) for cfg in (own, chosen) for s in seeds], data, shards)
    arms = {"own": runs[:len(seeds)], "chosen": runs[len(seeds):]}
    print(f"\nrecipe stage: {recipe['decision']}")
    print(f"seeds.evaluation {own.seeds.evaluation}: {len(seeds)} seeds, last epoch")
    for split in ("val", "test"):
        own_acc, chosen_acc = ([r[f"{split}_acc_last_epoch"] for r in arms[a]] for a in ("own", "chosen"))
        print(f"  {split}: own {sum(own_acc) / len(seeds):.2f}, chosen {sum(chosen_acc) / len(seeds):.2f}; "
              f"chosen − own {format_paired(paired_summary(chosen_acc, own_acc))}")


if __name__ == "__main__":
    main()
