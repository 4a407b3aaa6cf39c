"""Environment and PPO overhead, measured side by side on the embedded default.

P4  CurriculumEnv.step / DistillationRun.epoch alone (same seeds, same actions): the env's own cost.
P5  PPO iteration time / the env-step time on its critical path (sum of step times / env runners):
    what RLlib adds around the environment (sampling machinery, learner update, weight sync).
    Also env steps/s with 0, 1 and 2 env runners x K sub-envs each (one CurriculumVectorEnv: K students
    trained as one StudentPopulation).
P6  one CurriculumVectorEnv step of K sub-envs / K lone CurriculumEnv steps (same seeds, same random
    actions, alternating): what the population saves inside one env runner.

Needs teacher + shards: pass the stage folders of a `scripts/launch.py` run.

    python benchmarks/env_speed.py --workdir runs/default [--ks 1,8,16] [--iterations 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from rlkd.config import load_config  # noqa: E402
from rlkd.distill.run import DistillationRun  # noqa: E402
from rlkd.env import CurriculumEnv, env_config_for  # noqa: E402
from rlkd.env.vector_env import CurriculumVectorEnv  # noqa: E402


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

        decoded = [decode_action(a, cfg, env.num_teachers) for a in actions[ep]]
        t = time.perf_counter()
        for action in decoded:
            run.epoch(action)
        run_t.append(time.perf_counter() - t)
    return statistics.median(env_t), statistics.median(run_t)


def p6(cfg, k: int, steps: int) -> tuple[float, float]:
    """(median seconds of one vector step of K sub-envs, of K lone env steps), alternating step by step."""
    vec = CurriculumVectorEnv(env_config_for(cfg), k)
    lone = [CurriculumEnv(env_config_for(cfg)) for _ in range(k)]
    vec.reset(seed=0)
    for j, env in enumerate(lone):
        env.reset(seed=j)
    actions = np.random.default_rng(0).random((steps + 1, k, vec.single_action_space.shape[0]), dtype=np.float32)
    vec_t, lone_t = [], []
    for i, a in enumerate(actions):
        t = time.perf_counter()
        vec.step(a)
        mid = time.perf_counter()
        for env, action in zip(lone, a):
            if env.run.finished:
                env.reset()
            env.step(action)
        if i:  # the first step warms up
            vec_t.append(mid - t)
            lone_t.append(time.perf_counter() - mid)
    return statistics.median(vec_t), statistics.median(lone_t)


def p5(cfg_overrides, runners: int, k: int, iterations: int) -> dict:
    """PPO on the default with `runners` env runners of K sub-envs (one StudentPopulation each); the batch holds
    one whole episode per sub-env (at least 2), so every lane trains a whole run per iteration."""
    from rlkd.rl.ppo import build_ppo_config

    lanes = max(runners, 1) * k
    cfg = load_config(None, cfg_overrides + [f"resources.num_env_runners={runners}",
                                             f"resources.num_envs_per_env_runner={k}",
                                             "resources.num_cpus_per_env_runner=0.5",
                                             f"ppo.episodes_per_batch={max(2, lanes)}"])
    algo = build_ppo_config(cfg).build_algo()
    rows = []
    try:
        for i in range(iterations + 1):
            t = time.perf_counter()
            res = algo.train()
            wall = time.perf_counter() - t
            er = res["env_runners"]
            steps = er["num_env_steps_sampled"]
            sampling = res["timers"]["env_runner_sampling_timer"]
            step_s = er.get("env_step_timer", float("nan"))  # mean seconds of one (vector) env.step
            if i:  # the first iteration pays actor start-up
                rows.append({"wall": wall, "steps": steps, "sampling": sampling,
                             "env_critical": step_s * steps / k / max(runners, 1)})
    finally:
        algo.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    return {"runners": runners, "k": k, "iter_s": med("wall"), "env_s": med("env_critical"),
            "ratio": med("wall") / med("env_critical"), "steps_per_s": med("steps") / med("wall"),
            "sampled_per_s": med("steps") / med("sampling")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/default")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--vector-steps", type=int, default=20, help="P6: vector env steps per K")
    parser.add_argument("--ks", default="1,8,16",
                        help="sub-envs per env runner (StudentPopulation lanes), comma-separated")
    args = parser.parse_args()
    w = Path(args.workdir)
    overrides = [f"teacher.checkpoint={w / 'teacher' / 'teacher.safetensors'}",
                 f"data.shards={w / 'precompute' / 'shards'}"]
    cfg = load_config(None, overrides)
    env_s, run_s = p4(cfg, args.episodes)
    ks = [int(x) for x in args.ks.split(",")]
    p6_rows = [(k, *p6(cfg, k, args.vector_steps)) for k in ks]
    p6_threads = torch.get_num_threads()  # before Ray starts in this process
    from rlkd.ray_runtime import ensure_ray

    ensure_ray()
    p5_rows = [p5(overrides, r, k, args.iterations) for k in ks for r in (0, 1, 2)]
    print(f"\nP4 env episode {env_s:.3f} s / bare DistillationRun {run_s:.3f} s = {env_s / run_s:.3f}  "
          "(target <= 1.05; "
          f"{cfg.distill.epochs} epochs, median of {args.episodes})")
    print("\n| K | vector env step (ms) | K lone env steps (ms) | ratio (target <= 0.35 at K = 16) |\n"
          "|---|---|---|---|")
    for k, vec_s, lone_s in p6_rows:
        print(f"| {k} | {1e3 * vec_s:.1f} | {1e3 * lone_s:.1f} | {vec_s / lone_s:.2f} |")
    print(f"(P6: medians of {args.vector_steps} steps, torch threads {p6_threads})\n")
    print("| env runners | K sub-envs each | iteration s | env-step s (critical path) | ratio | env steps/s (wall) "
          "| env steps/s (sampling) |")
    print("|---|---|---|---|---|---|---|")
    for r in p5_rows:
        print(f"| {r['runners']} | {r['k']} | {r['iter_s']:.2f} | {r['env_s']:.2f} | {r['ratio']:.2f} | "
              f"{r['steps_per_s']:.1f} | {r['sampled_per_s']:.1f} |")
    print("(medians over iterations after the first; wall = whole PPO iterations, learner update included; "
          "sampling = RLlib's env_runner_sampling_timer)")


if __name__ == "__main__":
    main()
