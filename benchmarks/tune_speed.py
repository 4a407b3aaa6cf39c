"""Ray Tune scale-out on this machine: 1 vs 2 concurrent PPO trials, and Ray's share of an iteration.

Runs the same 2-trial grid twice (max_concurrent_trials 1, then 2) and reads each trial's
progress.csv: iteration time, env steps sampled, and the env-step time inside the iteration.

    python benchmarks/tune_speed.py --workdir runs/default
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from rlkd.config import load_config  # noqa: E402
from rlkd.stages.tune import run_tune  # noqa: E402
from rlkd.tune.run import EXPERIMENT  # noqa: E402


def measure(overrides: list[str], concurrent: int) -> dict:
    cfg = load_config(None, overrides + [f"tune.max_concurrent_trials={concurrent}"])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        start = time.perf_counter()
        run_tune(cfg, out)
        wall = time.perf_counter() - start
        iters, steps, env_frac = [], 0, []
        for progress in (out / "ray_results" / EXPERIMENT).glob("*/progress.csv"):
            with open(progress) as fh:
                rows = list(csv.DictReader(fh))[1:]  # the first iteration pays actor start-up
            for r in rows:
                t = float(r["time_this_iter_s"])
                n = float(r["env_runners/num_env_steps_sampled"])
                iters.append(t)
                steps += n
                env_frac.append(float(r["env_runners/env_step_timer"]) * n / t)
    return {"concurrent": concurrent, "wall_s": wall, "iter_s": statistics.median(iters),
            "steps_per_s": steps / sum(iters) * concurrent, "env_fraction": statistics.median(env_frac)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/default")
    parser.add_argument("--iterations", type=int, default=6)
    args = parser.parse_args()
    w = Path(args.workdir)
    overrides = [f"teacher.checkpoint={w / 'teacher' / 'teacher.safetensors'}",
                 f"data.shards={w / 'precompute' / 'shards'}", f"ppo.iterations={args.iterations}",
                 "ppo.episodes_per_batch=1", "resources.num_env_runners=0", "ppo.checkpoint_every=1000",
                 "tune.param_space={ppo.lr: {grid: [0.0001, 0.0003]}}"]
    rows = [measure(overrides, c) for c in (1, 2)]
    print(f"\n{'concurrent trials':>17} {'experiment wall s':>18} {'iteration s (median)':>21} "
          f"{'env steps/s (all trials)':>25} {'env-step share of iteration':>28}")
    for r in rows:
        print(f"{r['concurrent']:>17} {r['wall_s']:>18.1f} {r['iter_s']:>21.2f} {r['steps_per_s']:>25.1f} "
              f"{r['env_fraction']:>28.2f}")
    print("(each trial: PPO with 0 env runners, 1 CPU reserved; iterations after the first)")


if __name__ == "__main__":
    main()
