"""Each `env.tasks` entry's teacher and shards, made by the pipeline before PPO trains across the tasks.

A task is the user's config with the task's overrides (the data swapped, a label noise, a student, ...), so it
needs a teacher and shards of its own: the teacher and precompute stages run on each task's config into
`<workdir>/tasks/<name>/teacher` and `.../precompute`, each skipped when it is up to date (as the pipeline's
own stages are), and their outputs are wired into the task's overrides. A task whose stage would be made
from the same config as the pipeline's own stage or an earlier task's (a budget or a student changes neither
teacher nor shards) uses that finished folder instead. A task whose overrides name its own `data.shards` is
taken as prepared. Tasks are prepared one after the other.
"""

from __future__ import annotations

import json
from pathlib import Path

from rlkd.config import Config, task_config, with_overrides
from rlkd.config.overrides import set_keys
from rlkd.stages.base import Stage, already_done, execute

TASK_STAGES = ("teacher", "precompute")
TASKS_DIR = "tasks"


def prepared(task_overrides: list[str]) -> bool:
    """The task names its own shards: nothing to make."""
    return any("data.shards" in set_keys(entry) for entry in task_overrides)


def prepare_tasks(workdir: Path, cfg: Config, stages: dict[str, Stage], run: bool) -> tuple[list[str], bool]:
    """(the override that sets env.tasks with each task's teacher and shards wired in, whether any stage ran).

    `cfg` is the user's config before the pipeline's wiring: a task's teacher is trained on the task's data,
    not read from the target's. With `run` false nothing runs (the wiring alone, for stages after PPO's)."""
    if not cfg.env.tasks:
        return [], False
    wired, ran = [], False
    made: dict[str, list[Path]] = {name: [workdir / name] for name in TASK_STAGES}  # the pipeline's, then tasks'
    for task in cfg.env.tasks:
        extra: list[str] = []
        task_ran = False  # its teacher made again: its shards are stale, whatever their folder says
        if not prepared(task.overrides):
            task_cfg = task_config(cfg, task)
            for name in TASK_STAGES:
                stage, out = stages[name], workdir / TASKS_DIR / task.name / name
                stage_cfg = with_overrides(task_cfg, extra)
                same = None if task_ran else next((f for f in made[name] if already_done(stage, stage_cfg, f)), None)
                if same is not None:
                    out = same
                    if run:
                        print(f"[tasks/{task.name}/{name}] the same as {out}")
                elif run:
                    if not task_ran and already_done(stage, stage_cfg, out):
                        print(f"[tasks/{task.name}/{name}] up to date in {out}")
                    else:
                        print(f"[tasks/{task.name}/{name}] running into {out}")
                        execute(stage, stage_cfg, out)
                        ran = task_ran = True
                made[name].append(out)
                extra += stage.wire(out)
        wired.append({"name": task.name, "overrides": [*task.overrides, *extra], "weight": task.weight})
    return [f"env.tasks={json.dumps(wired)}"], ran
