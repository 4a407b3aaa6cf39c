"""Environment and PPO overhead, measured side by side on the embedded default.

P4  CurriculumEnv.step / DistillationRun.epoch alone (same seeds, same actions): the env's own cost.
P5  PPO iteration time / the env-step time on its critical path (sum of step times / env runners):
    what RLlib adds around the environment (sampling machinery, learner update, weight sync).
    Also env steps/s with 0, 1 and 2 env runners.

Needs teacher + shards: pass the stage folders of a `scripts/launch.py` run.

    python benchmarks/env_speed.py --workdir runs/default
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from rlkd.config import load_config  # noqa: E402
from rlkd.distill.run import DistillationRun  # noqa: E402
from rlkd.env import CurriculumEnv, env_config_for  # noqa: E402


def p4(cfg, episodes: int) -> tuple[float, float]:
    env = CurriculumEnv(env_config_for(cfg))
    rng = np.random.default_rng(0)
    actions = rng.uniform(0, 1, size=(episodes, cfg.distill.epochs, env.action_space.shape[0])).astype(np.float32)
    env_t, run_t = [], []
    for ep in range(episodes):  # interleaved: env episode, then the same epochs on a bare run
        _, info = env.reset(seed=ep)
        t = time.perf_counter()
        for a in actions[ep]:
            env.step(a)
        env_t.append(time.perf_counter() - t)
        run = DistillationRun(cfg, env.shards, info["run_seed"], env.data)
        from rlkd.curriculum.actions import decode_action

        decoded = [decode_action(a, cfg, env.num_teachers).as_epoch_kwargs() for a in actions[ep]]
        t = time.perf_counter()
        for kw in decoded:
            run.epoch(**kw)
        run_t.append(time.perf_counter() - t)
    return statistics.median(env_t), statistics.median(run_t)


def p5(cfg_overrides, runners: int, iterations: int) -> dict:
    import ray

    from rlkd.rl.ppo import build_ppo_config

    cfg = load_config(None, cfg_overrides + [f"resources.num_env_runners={runners}",
                                             "resources.num_cpus_per_env_runner=0.5"])
    algo = build_ppo_config(cfg).build_algo()
    rows = []
    try:
        for i in range(iterations + 1):
            t = time.perf_counter()
            res = algo.train()
            wall = time.perf_counter() - t
            er = res["env_runners"]
            steps = er["num_env_steps_sampled"]
            step_s = er.get("env_step_timer", float("nan"))  # mean seconds of one env.step
            if i:  # the first iteration pays actor start-up
                rows.append({"wall": wall, "steps": steps, "env_critical": step_s * steps / max(runners, 1)})
    finally:
        algo.stop()
    wall = statistics.median(r["wall"] for r in rows)
    crit = statistics.median(r["env_critical"] for r in rows)
    steps = statistics.median(r["steps"] for r in rows)
    del ray
    return {"runners": runners, "iter_s": wall, "env_s": crit, "ratio": wall / crit, "steps_per_s": steps / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/default")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=3)
    args = parser.parse_args()
    w = Path(args.workdir)
    overrides = [f"teacher.checkpoint={w / 'teacher' / 'teacher.safetensors'}",
                 f"data.shards={w / 'precompute' / 'shards'}"]
    cfg = load_config(None, overrides)
    env_s, run_s = p4(cfg, args.episodes)
    from rlkd.ray_runtime import ensure_ray

    ensure_ray()
    p5_rows = [p5(overrides, r, args.iterations) for r in (0, 1, 2)]
    print(f"\nP4 env episode {env_s:.3f} s / bare DistillationRun {run_s:.3f} s = {env_s / run_s:.3f}  (target <= 1.05; "
          f"{cfg.distill.epochs} epochs, median of {args.episodes})")
    print(f"{'env runners':>11} {'iteration s':>12} {'env-step s (critical path)':>27} {'ratio':>6} {'env steps/s':>12}")
    for r in p5_rows:
        print(f"{r['runners']:>11} {r['iter_s']:>12.2f} {r['env_s']:>27.2f} {r['ratio']:>6.2f} {r['steps_per_s']:>12.1f}")
    print("(P5 target <= 1.2 with >= 1 env runner; medians over iterations after the first)")


if __name__ == "__main__":
    main()
