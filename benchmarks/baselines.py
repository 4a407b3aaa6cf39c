"""Every fixed curriculum and loss on the same seeds: the table in docs/results.md.

Builds the teacher and the shards once (scripts/launch.py's stages, cached in
--workdir), then runs each method x seed as a `DistillationRun` in this process.
Reports last-epoch **test** accuracy mean ± std, samples seen, and paired
differences (same seeds: mean ± std [95% t CI] wins/n, rlkd.reports.stats)
against KD on all data and against the random subset of the same size.

    python benchmarks/baselines.py --seeds 5 --markdown docs/results.md
    python benchmarks/baselines.py --seeds 3 --set data.views=4 --methods labels,kd   # explore a setting
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from rlkd.config import load_config  # noqa: E402
from rlkd.distill.inputs import load_run_inputs  # noqa: E402
from rlkd.distill.run import DistillationRun  # noqa: E402
from rlkd.reports.stats import format_paired, mean_std, paired_summary  # noqa: E402
from rlkd.stages import run_pipeline  # noqa: E402

# name -> (overrides, the same-size random control's name or None)
METHODS: dict[str, list[str]] = {
    "labels": ["distill.mode=labels"],
    "kd": ["distill.mode=kd"],
    "dkd": ["distill.mode=dkd"],
    "kd+adaptive0.3": ["curriculum.sampler=adaptive", "curriculum.difficulty=0.3"],
    "kd+adaptive0.5": ["curriculum.sampler=adaptive", "curriculum.difficulty=0.5"],
    "kd+adaptive0.7": ["curriculum.sampler=adaptive", "curriculum.difficulty=0.7"],
    "kd+pacing": ["curriculum.sampler=pacing"],
    "kd+anti": ["curriculum.sampler=anti"],
    "kd+random": ["curriculum.sampler=random"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--workdir", default="runs/baselines")
    parser.add_argument("--markdown", default=None, help="write the table to this file")
    args = parser.parse_args()
    work = Path(args.workdir)
    run_pipeline(work, args.config, args.overrides, stage="teacher")
    run_pipeline(work, args.config, args.overrides, stage="precompute")
    wiring = [f"teacher.checkpoint={work / 'teacher' / 'teacher.safetensors'}",
              f"data.shards={work / 'precompute' / 'shards'}"]
    base = load_config(args.config, args.overrides + wiring)
    data, shards = load_run_inputs(base)
    methods = args.methods.split(",")
    results: dict[str, dict] = {}
    start = time.perf_counter()
    for name in methods:
        cfg = load_config(args.config, args.overrides + wiring + METHODS[name])
        accs, seen = [], []
        for seed in range(args.seeds):
            run = DistillationRun(cfg, shards, seed, data)
            while not run.finished:
                run.epoch()
            accs.append(run.evaluate("test")[0])
            seen.append(run.samples_seen)
        results[name] = {"test": accs, "seen": statistics.mean(seen)}
        print(f"{name:<16} test_acc (last epoch) {mean_std(accs)}   samples seen {statistics.mean(seen):.0f}",
              flush=True)
    elapsed = time.perf_counter() - start
    lines = [f"| method | test acc, last epoch (mean ± std, {args.seeds} seeds) | samples seen | vs KD all data "
             f"(paired: mean ± std [95% CI] wins) | vs random same size (paired) |", "|---|---|---|---|---|"]
    for name in methods:
        r = results[name]
        vs_kd = (format_paired(paired_summary(r["test"], results["kd"]["test"]))
                 if "kd" in results and name != "kd" else "—")
        same_size = name.startswith("kd+") and name not in ("kd+random", "kd+pacing") and "kd+random" in results
        vs_rand = format_paired(paired_summary(r["test"], results["kd+random"]["test"])) if same_size else "—"
        lines.append(f"| {name} | {mean_std(r['test'])} | {r['seen']:.0f} | {vs_kd} | {vs_rand} |")
    table = "\n".join(lines)
    print("\n" + table + f"\n\n({elapsed:.0f} s; overrides: {' '.join(args.overrides) or 'none'})")
    if args.markdown:
        Path(args.markdown).write_text(table + "\n")


if __name__ == "__main__":
    main()
