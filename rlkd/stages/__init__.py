"""The stages: one module per `rlkd <command>` (read the config, call the library, write the outputs), one
registry (`STAGES`), and the whole job as a chain of them, each into `<workdir>/<stage>/`.

The layers: stages on top; the library (data, models, teacher, precompute, distill, env, curriculum, rl, tune)
below, which imports neither `rlkd.stages` nor `rlkd.reports`; reports (plots, tables, TensorBoard, statistics)
as a leaf that only stages import.

Each stage's outputs reach the next through config overrides (for example
`teacher.checkpoint=<workdir>/teacher/teacher.safetensors`, or the KD recipe the
recipe stage chose on val), so a stage reads nothing it was not told about. A
stage whose folder already holds finished outputs made from the same config is
skipped: a re-run resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rlkd.config import load_config
from rlkd.errors import ConfigError
from rlkd.stages import apply, distill, evaluate, pbt, precompute, recipe, teacher, train, tune
from rlkd.stages.base import Stage, already_done, execute
from rlkd.stages.tasks import prepare_tasks

STAGES: dict[str, Stage] = {s.name: s for s in (m.STAGE for m in (teacher, precompute, recipe, distill, train,
                                                                   tune, pbt, apply, evaluate))}

PIPELINE: tuple[str, ...] = ("teacher", "precompute", "recipe", "distill", "train", "evaluate")
RL_STAGES = ("train", "tune")  # the policy comes from one PPO run, or from the best trial of a search


def stages(rl_stage: str = "train") -> list[str]:
    if rl_stage not in RL_STAGES:
        raise ConfigError(f"the policy stage must be one of {RL_STAGES}, got {rl_stage!r}")
    return [rl_stage if s == "train" else s for s in PIPELINE]


def select_stages(stage: str, rl_stage: str = "train") -> list[str]:
    """The stages `--stage` names ('all', one stage, or a comma-separated list), in pipeline order."""
    order = stages(rl_stage)
    if stage == "all":
        return order
    named = [name.strip() for name in stage.split(",")]
    unknown = [name for name in named if name not in order]
    if unknown or not named:
        raise ConfigError(f"--stage {stage!r}: expected 'all', or one or more (comma-separated) of {', '.join(order)}")
    return [name for name in order if name in named]


def run_pipeline(workdir: Path, config: Optional[str], overrides: list[str], stage: str = "all",
                 rl_stage: str = "train") -> dict[str, dict]:
    """Run the selected stages in order; returns each stage's metrics ({"skipped": True} where skipped)."""
    wanted = select_stages(stage, rl_stage)
    wiring: list[str] = []
    results: dict[str, dict] = {}
    upstream_ran = False  # a stage that ran makes every later stage stale
    for name in stages(rl_stage):
        command = STAGES[name]
        out = workdir / name
        if name == rl_stage:  # PPO's episodes run each env.tasks entry on its own teacher and shards
            task_wiring, tasks_ran = prepare_tasks(workdir, load_config(config, overrides), STAGES, name in wanted)
            wiring += task_wiring
            upstream_ran |= tasks_ran
        cfg = load_config(config, overrides + wiring)
        if name in wanted:
            if not upstream_ran and already_done(command, cfg, out):
                print(f"[{name}] up to date in {out} (delete the folder to redo it)")
                results[name] = {"skipped": True}
            else:
                print(f"[{name}] running into {out}")
                results[name] = execute(command, cfg, out)
                upstream_ran = True
        wiring += command.wire(out)
    return results
