#!/usr/bin/env python
"""Does the learned curriculum pay? One table per regime: the policy against every equal-budget control.

Each regime is the whole pipeline (`scripts/launch.py`: teacher -> precompute -> ... -> train ->
evaluate) under a few config overrides; regimes that share their data share the teacher and shards
(one workdir per data setting, so only train and evaluate run again). Everything the policy or a
default is chosen on is val; the tables are `rlkd evaluate`'s test numbers on its own seeds
(10_000 + i), which no training episode or choice used.

    python benchmarks/curriculum_evidence.py --regimes budget0.5 [--seeds 10] [--workdir runs/evidence]

prints markdown for docs/results.md (and writes it to <workdir>/evidence.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from rlkd.pipeline import run_pipeline
from rlkd.reports.stats import format_paired

# the action space that contains every fixed control it is compared with (docs/rl.md "The action space")
FULL_ACTIONS = ["env.control_fraction=true", "env.control_mix=true", "env.control_sampler=true",
                "env.control_alpha=true"]
NOISE = "data.label_noise={{rate: {rate}, kind: symmetric, seed: 0}}"
REGIMES: dict[str, tuple[str, list[str]]] = {  # name -> (data setting, overrides)
    "budget1.0": ("clean", ["env.budget=1.0"]),
    "budget0.5": ("clean", ["env.budget=0.5"]),
    "budget0.3": ("clean", ["env.budget=0.3"]),
    "noise0.2": ("noise0.2", [NOISE.format(rate=0.2)]),
    "noise0.4": ("noise0.4", [NOISE.format(rate=0.4)]),
    "noise0.4-budget0.5": ("noise0.4", [NOISE.format(rate=0.4), "env.budget=0.5"]),
}


def run_regime(workdir: Path, name: str, seeds: int, extra: list[str]) -> dict:
    data, overrides = REGIMES[name]
    folder = workdir / data
    run_pipeline(folder, None, FULL_ACTIONS + overrides + [f"env.eval_seeds={seeds}"] + extra)
    keep = workdir / "regimes" / name
    shutil.rmtree(keep, ignore_errors=True)
    shutil.copytree(folder / "evaluate", keep)  # the next regime of this data setting overwrites evaluate/
    return json.loads((keep / "metrics.json").read_text())


def table(name: str, metrics: dict) -> str:
    seen = metrics["samples_seen"]
    lines = [f"### {name}", "",
             f"policy: test acc (last epoch) {metrics['test_acc_last_epoch']['policy']:.2f}, "
             f"{seen['policy']:.0f} samples seen", "",
             "| control | samples seen | test acc, last epoch | policy − control, test (mean ± sd [95% CI] wins) "
             "| policy − control, val |", "|---|---|---|---|---|"]
    for control, d in metrics["policy_minus_control"].items():
        lines.append(f"| {control} | {seen[control]:.0f} | {metrics['test_acc_last_epoch'][control]:.2f} | "
                     f"{format_paired(d['test'])} | {format_paired(d['val'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/evidence")
    parser.add_argument("--regimes", default=",".join(REGIMES), help=f"comma-separated: {', '.join(REGIMES)}")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--set", dest="extra", action="append", default=[], help="more overrides for every regime")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    out = [table(name, run_regime(workdir, name, args.seeds, args.extra)) for name in args.regimes.split(",")]
    text = "\n".join(out)
    (workdir / "evidence.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
