"""Each `env.tasks` entry's teacher and shards, made by the pipeline before PPO trains across the tasks.

A task is the user's config with the task's overrides (the data swapped, a label noise, a student, ...), so it
needs a teacher and shards of its own: the teacher and precompute stages run on each task's config into
`<workdir>/tasks/<name>/teacher` and `.../precompute`, each skipped when it is up to date (as the pipeline's
own stages are), and their outputs are wired into the task's overrides. A task whose stage would be made
from the same config as the pipeline's own stage or another task's (a budget or a student changes neither
teacher nor shards) uses that folder instead. A task whose overrides name its own `data.shards` is taken as
prepared.

The teachers to train run at once, one Ray task each (one CPU apiece, across the cluster's nodes, or the local
Ray's cores); the shards are then written one task after another, each already spread over the cluster by Ray
Data (a Ray Data job inside a Ray task would wait for the CPUs its siblings hold).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from rlkd.config import Config, task_config, with_overrides
from rlkd.config.overrides import set_keys
from rlkd.errors import RlkdError
from rlkd.stages.base import Stage, done_with, execute, stage_inputs

TASK_STAGES = ("teacher", "precompute")
PARALLEL_STAGES = ("teacher",)  # the stages whose runs go out as Ray tasks side by side
TASKS_DIR = "tasks"


def prepared(task_overrides: list[str]) -> bool:
    """The task names its own shards: nothing to make."""
    return any("data.shards" in set_keys(entry) for entry in task_overrides)


@dataclass
class Job:
    """One task's stage to run: the stage's config and the folder it goes to."""
    task: str
    cfg: Config
    out: Path


def stage_job(stage: Stage, cfg: Config, out: Path) -> dict:
    """One stage run in a Ray worker: when it ran, to say how many ran at once."""
    started = time.time()
    execute(stage, cfg, out)
    return {"started": started, "ended": time.time()}


def most_at_once(spans: list[dict]) -> int:
    """The largest number of runs whose [started, ended] overlap at one moment (at one moment, ends before starts)."""
    edges = sorted([(s["started"], 1) for s in spans] + [(s["ended"], -1) for s in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def run_jobs(stage: Stage, jobs: list[Job], cfg: Config, parallel: tuple[str, ...] = PARALLEL_STAGES) -> None:
    """Run the jobs: side by side as Ray tasks for a stage in `parallel`, else one after another here."""
    if stage.name not in parallel or len(jobs) < 2:
        for job in jobs:
            execute(stage, job.cfg, job.out)
        return
    import ray

    from rlkd.ray_runtime import start_ray

    start_ray(cfg)
    start = time.perf_counter()
    remote = ray.remote(stage_job).options(num_cpus=1)
    refs = {remote.remote(stage, job.cfg, job.out): job for job in jobs}
    spans, failed = [], []
    for ref, job in refs.items():
        try:
            spans.append(ray.get(ref))
        except ray.exceptions.RayTaskError as exc:
            failed.append((job, exc.cause if isinstance(exc.cause, RlkdError) else exc))
    if failed:
        job, exc = failed[0]
        raise RlkdError(f"[tasks/{job.task}/{stage.name}] failed ({len(failed)} of {len(jobs)} tasks' {stage.name}s "
                        f"failed; the others are kept): {exc}") from exc
    print(f"[tasks] {len(jobs)} {stage.name}s as Ray tasks, {most_at_once(spans)} at once at most, in "
          f"{time.perf_counter() - start:.1f} s")


def prepare_tasks(workdir: Path, cfg: Config, stages: dict[str, Stage], run: bool,
                  parallel: tuple[str, ...] = PARALLEL_STAGES) -> tuple[list[str], bool]:
    """(the override that sets env.tasks with each task's teacher and shards wired in, whether any stage ran).

    `cfg` is the user's config before the pipeline's wiring: a task's teacher is trained on the task's data,
    not read from the target's. With `run` false nothing runs (the wiring alone, for stages after PPO's).
    `parallel`: the stages whose runs go out side by side (benchmarks/task_prep_speed.py compares with none)."""
    if not cfg.env.tasks:
        return [], False
    tasks = [task for task in cfg.env.tasks if not prepared(task.overrides)]
    configs = {task.name: task_config(cfg, task) for task in tasks}
    extra: dict[str, list[str]] = {task.name: [] for task in tasks}
    remade: set[str] = set()  # tasks whose inputs are made again this call: their later stages are stale
    for name in TASK_STAGES:
        stage = stages[name]
        finished = [workdir / name]  # the pipeline's own, then each task's up-to-date folder
        planned: list[tuple[dict, Path]] = []  # (inputs, folder) of the runs this call makes
        jobs: list[Job] = []
        for task in tasks:
            out = workdir / TASKS_DIR / task.name / name
            stage_cfg = with_overrides(configs[task.name], extra[task.name])
            inputs = stage_inputs(stage, stage_cfg)
            same = next((folder for key, folder in planned if key == inputs), None)
            if same is None and task.name not in remade:
                same = next((folder for folder in finished if done_with(stage, inputs, folder)), None)
            if same is not None:
                out = same
                if any(folder == same for _, folder in planned):
                    remade.add(task.name)
                if run:
                    print(f"[tasks/{task.name}/{name}] the same as {out}")
            elif task.name not in remade and done_with(stage, inputs, out):
                finished.append(out)
                if run:
                    print(f"[tasks/{task.name}/{name}] up to date in {out}")
            else:
                planned.append((inputs, out))
                jobs.append(Job(task.name, stage_cfg, out))
                remade.add(task.name)
                if run:
                    print(f"[tasks/{task.name}/{name}] running into {out}")
            extra[task.name] += stage.wire(out)
        if run:
            run_jobs(stage, jobs, cfg, parallel)
    wired = [{"name": task.name, "overrides": [*task.overrides, *extra.get(task.name, [])], "weight": task.weight}
             for task in cfg.env.tasks]
    return [f"env.tasks={json.dumps(wired)}"], run and bool(remade)
