"""Per-student epoch time of a StudentPopulation of K vs K lone DistillationRuns one after another.

Default student (mlp [256], batch 64, kd) on digits-sized synthetic data (1,077 samples of 1x12x12,
the cost of the real digits shards without the pipeline). Two action mixes:
  same   every lane trains on the config's default action (all lanes the same subset size and LR)
  mixed  lane k trains the adaptive sampler at its own fraction in [0.3, 1] (sizes and LRs differ,
         as PPO's lanes do)
Lone and population epochs alternate within each repeat so machine drift hits both alike; times are
whole epochs as EpochStats counts them (training, D_kl full pass, val evaluation), medians over repeats.

Two more tables, same alternation:
  ceiling  one forward + backward of K default students on their own batches: K lone modules, the vmapped
           stack StudentPopulation uses, and two raw torch.bmm layers (the least a batched MLP can cost):
           how much batching can gain at all on this machine
  grid     `rlkd evaluate`'s runs: every fixed control (5 at the full budget) x S seeds through
           `run_policies` as one population vs one after another (10-epoch runs)

    python benchmarks/population_speed.py [--ks 1,4,8,16,32] [--threads 1,2] [--repeats 5] [--grid-seeds 2,6]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from distill_speed import synthetic
from torch.func import functional_call, stack_module_state, vmap

from rlkd.config import load_config, with_overrides
from rlkd.curriculum.actions import EpochAction
from rlkd.curriculum.policies import baseline_policies
from rlkd.distill.population import StudentPopulation
from rlkd.distill.run import DistillationRun
from rlkd.env.episode import PolicyRun, run_policies
from rlkd.models import build_model


def lane_actions(k: int, mix: str) -> list[EpochAction]:
    if mix == "same":
        return [EpochAction() for _ in range(k)]
    return [EpochAction(0.5, 0.3 + 0.7 * j / max(k - 1, 1), sampler="adaptive") for j in range(k)]


def measure(cfg, shards, data, k: int, mix: str, repeats: int) -> tuple[float, float]:
    """(median seconds of K lone epochs one after another, median seconds of one population epoch of K)."""
    actions = lane_actions(k, mix)
    lone = [DistillationRun(cfg, shards, seed, data) for seed in range(k)]
    population = StudentPopulation(cfg, shards, list(range(k)), data)
    return alternate(lambda: [run.epoch(action) for run, action in zip(lone, actions)],
                     lambda: population.epoch(actions), repeats)


def alternate(first, second, repeats: int) -> tuple[float, float]:
    """Median seconds of `first()` and `second()`, called in turn `repeats` times after one warm-up round."""
    a, b = [], []
    for repeat in range(repeats + 1):
        start = time.perf_counter()
        first()
        mid = time.perf_counter()
        second()
        if repeat:
            a.append(mid - start)
            b.append(time.perf_counter() - mid)
    return statistics.median(a), statistics.median(b)


def ceiling(cfg, k: int, repeats: int) -> tuple[float, float, float]:
    """Seconds of one forward + backward of K default students: lone modules, vmapped stack, raw bmm."""
    students = [build_model(cfg.student.arch, 10, 1, False, input_shape=(1, 12, 12),
                            model_kwargs=cfg.student.model_kwargs)
                for _ in range(k)]
    x, y = torch.randn(k, cfg.distill.batch_size, 1, 12, 12), torch.randint(0, 10, (k, cfg.distill.batch_size))
    params, buffers = stack_module_state(students)
    template = copy.deepcopy(students[0]).to("meta")
    stacked = vmap(lambda p, b, xx: functional_call(template, (p, b), (xx,)))
    w1 = torch.randn(k, 144, 256, requires_grad=True)
    w2 = torch.randn(k, 256, 10, requires_grad=True)

    def lone():
        for j, student in enumerate(students):
            torch.nn.functional.cross_entropy(student(x[j]), y[j]).backward()

    def batched():
        out = stacked(params, buffers, x)
        torch.nn.functional.cross_entropy(out.reshape(-1, 10), y.reshape(-1), reduction="sum").backward()

    def raw():
        out = torch.bmm(torch.bmm(x.reshape(k, -1, 144), w1).relu_(), w2)
        torch.nn.functional.cross_entropy(out.reshape(-1, 10), y.reshape(-1), reduction="sum").backward()

    lone_s, batched_s = alternate(lone, batched, repeats * 20)
    _, raw_s = alternate(lambda: None, raw, repeats * 20)
    return lone_s, batched_s, raw_s


def grid(cfg, shards, data, seeds: int, repeats: int) -> tuple[int, float, float]:
    """(runs, seconds one after another, seconds as one population) of every fixed control x `seeds` seeds."""
    short = with_overrides(cfg, ["distill.epochs=10"])
    runs = [PolicyRun(with_overrides(short, overrides), policy, seed)
            for _, overrides, policy in baseline_policies(1.0) for seed in range(seeds)]
    lone_s, population_s = alternate(lambda: [run_policies([r], data, shards) for r in runs],
                                     lambda: run_policies(runs, data, shards), repeats)
    return len(runs), lone_s, population_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="1,4,8,16,32", help="population sizes, comma-separated")
    parser.add_argument("--threads", default="1,2", help="torch thread counts, comma-separated")
    parser.add_argument("--mixes", default="same,mixed", help="action mixes: same, mixed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grid-seeds", default="2,6", help="seeds per control in the grid table, comma-separated")
    args = parser.parse_args()
    data, shards = synthetic(1077, 12, chans=1)
    cfg = load_config(None, ["distill.epochs=1000"])  # never finishes within the repeats
    print(f"student {cfg.student.arch} {cfg.student.model_kwargs}, batch {cfg.distill.batch_size}, "
          f"{len(data.train)} train samples; batched: {StudentPopulation(cfg, shards, [0, 1], data).batched}\n")
    print("| threads | actions | K | K lone epochs (ms) | population epoch (ms) | per student, lone (ms) "
          "| per student, population (ms) | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for mix in args.mixes.split(","):
            for k in (int(x) for x in args.ks.split(",")):
                lone_s, population_s = measure(cfg, shards, data, k, mix, args.repeats)
                print(f"| {threads} | {mix} | {k} | {1e3 * lone_s:.1f} | {1e3 * population_s:.1f} | "
                      f"{1e3 * lone_s / k:.2f} | {1e3 * population_s / k:.2f} | {lone_s / population_s:.2f}x |",
                      flush=True)
    print(f"\n(medians of {args.repeats} repeats after one warm-up; epoch = training + D_kl full pass + val)\n")
    print("| threads | K | forward + backward, K lone (ms) | vmapped stack (ms) | raw bmm (ms) | stack speed-up "
          "| raw bmm speed-up |")
    print("|---|---|---|---|---|---|---|")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for k in (int(x) for x in args.ks.split(",")):
            lone_s, batched_s, raw_s = ceiling(cfg, k, args.repeats)
            print(f"| {threads} | {k} | {1e3 * lone_s:.2f} | {1e3 * batched_s:.2f} | {1e3 * raw_s:.2f} | "
                  f"{lone_s / batched_s:.2f}x | {lone_s / raw_s:.2f}x |", flush=True)
    print("\n| threads | runs (controls x seeds) | one after another (s) | one population (s) | speed-up |")
    print("|---|---|---|---|---|")
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for seeds in (int(x) for x in args.grid_seeds.split(",")):
            n, lone_s, population_s = grid(cfg, shards, data, seeds, args.repeats)
            print(f"| {threads} | {n} | {lone_s:.2f} | {population_s:.2f} | {lone_s / population_s:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
