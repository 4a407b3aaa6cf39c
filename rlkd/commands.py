"""The command registry: every `rlkd <command>` and every pipeline stage is one entry.

A command takes the resolved config and its output folder and returns the
metrics it measured; `execute` writes `config.yaml` and `metrics.json` beside
whatever the command wrote, so every folder says how it was made.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from rlkd.config import Config, config_to_dict, config_yaml
from rlkd.config.renames import translate_stored
from rlkd.distill.command import curriculum_overrides, run_distill
from rlkd.names import check_names
from rlkd.precompute.run import SHARDS_DIR, run_precompute
from rlkd.reports.apply import run_apply
from rlkd.reports.evaluate import run_evaluate
from rlkd.rl.ppo import train_ppo
from rlkd.teacher.stage import TEACHER_FILE, run_teacher
from rlkd.tune.pbt import SCHEDULE_FILE, run_pbt
from rlkd.tune.recipe import RECIPE_FILE, recipe_wiring, run_recipe
from rlkd.tune.run import run_tune
from rlkd.workdir import atomic_write_text, folder_lock, write_json


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[..., dict]  # run(cfg, out, **flags) -> metrics
    help: str
    # overrides that feed this command's outputs to the next pipeline stage
    wire: Callable[[Path], list[str]] = lambda out: []
    # files whose presence (with a matching config) means the command already ran
    outputs: tuple[str, ...] = ()
    # config sections the outputs depend on: a change elsewhere (e.g. ppo) does not redo this stage
    depends: tuple[str, ...] = ("data", "teacher", "student", "distill", "curriculum", "env", "reward", "ppo")
    # keys inside those sections the outputs do not depend on (what precompute alone reads from `teacher`)
    ignores: tuple[str, ...] = ()
    # boolean command-line flags (name -> help), passed to run as keyword arguments
    flags: tuple[tuple[str, str], ...] = ()
    # string options (name, help, to_overrides): shorthands for config keys, e.g. --mode kd
    options: tuple[tuple[str, str, Callable[[str], list[str]]], ...] = ()


# keys only `rlkd evaluate` reads: changing them must not redo the stages that chose things
EVALUATION_ONLY = ("env.eval_seeds", "seeds.evaluation", "seeds.confirmation", "seeds.evaluate_on",
                   "tune.tuned_baseline", "tune.baseline_budget", "tune.pbt.schedule", "ppo.checkpoints")
CHOOSING = ("data", "teacher", "student", "distill", "curriculum", "env", "tune", "seeds")
# the tune keys of the PPO search and of PBT: the recipe stage reads none of them
NOT_RECIPE = ("tune.num_samples", "tune.scheduler", "tune.metric", "tune.mode", "tune.param_space", "tune.stop",
              "tune.keep_checkpoints", "tune.grace_period", "tune.perturbation_interval", "tune.pbt.population",
              "tune.pbt.budget")
RL_STAGE = dict(depends=(*Command.depends, "seeds"), ignores=(*EVALUATION_ONLY, "ppo.checkpoint"))

COMMANDS: dict[str, Command] = {
    "teacher": Command(
        "teacher", run_teacher,
        "train (or evaluate) the teacher on train, select and calibrate on val, report val and test accuracy",
        wire=lambda out: [f"teacher.checkpoint={out / TEACHER_FILE}"],
        outputs=(TEACHER_FILE,),
        depends=("data", "teacher"),
        ignores=("teacher.additional", "teacher.logits_dtype", "teacher.topk", "teacher.embedding", "data.views",
                 "data.view_seed", "data.view_min_scale", "data.view_flip", "data.shards"),
    ),
    "precompute": Command(
        "precompute", run_precompute,
        "score every (sample, view) with the teacher(s) on Ray Data; write verified shards + manifest.json",
        wire=lambda out: [f"data.shards={out / SHARDS_DIR}"],
        outputs=(f"{SHARDS_DIR}/manifest.json",),
        depends=("data", "teacher"),
        flags=(("force", "recompute even when shards for the same inputs exist"),),
    ),
    "recipe": Command(
        "recipe", run_recipe,
        "choose the plain-KD recipe (distill.lr, temperature, alpha: tune.recipe.space) on val with Ray Tune + ASHA; "
        "writes recipe.json, whose overrides the pipeline hands to distill, train and evaluate",
        wire=recipe_wiring,
        outputs=(RECIPE_FILE,),
        depends=CHOOSING, ignores=(*EVALUATION_ONLY, *NOT_RECIPE),
    ),
    "distill": Command(
        "distill", run_distill,
        "one full distillation run with a fixed curriculum; per-epoch val/test accuracy and a learning curve",
        outputs=("learning_curve.png",),
        depends=("data", "teacher", "student", "distill", "curriculum"),
        options=(("mode", "labels | kd | dkd | multi_teacher (sets distill.mode)", lambda v: [f"distill.mode={v}"]),
                 ("curriculum", "NAME[:ARG], e.g. adaptive:0.3, pacing:root, random:0.7 (sets curriculum.*)",
                  curriculum_overrides)),
    ),
    "train": Command(
        "train", train_ppo,
        "learn a curriculum policy with RLlib PPO; checkpoints under OUT/checkpoints, OUT/checkpoint -> the last",
        wire=lambda out: [f"ppo.checkpoint={out / 'checkpoint'}"],
        outputs=("checkpoint",), **RL_STAGE,
        options=(("resume", "continue from this checkpoint, iteration count intact (sets ppo.resume)",
                  lambda v: [f"ppo.resume={v}"]),),
    ),
    "tune": Command(
        "tune", run_tune,
        "Ray Tune over PPO from the tune section (grid/choice/uniform/loguniform on any key; ASHA/PBT); "
        "exports the best checkpoint to OUT/checkpoint",
        wire=lambda out: [f"ppo.checkpoint={out / 'checkpoint'}"],
        outputs=("checkpoint",), **RL_STAGE,
        flags=(("resume", "restore the interrupted experiment in OUT (unfinished and errored trials resume)"),),
    ),
    "pbt": Command(
        "pbt", run_pbt,
        "baseline: Population Based Training of the curriculum (difficulty, fraction) over KD runs; "
        "writes the best member's schedule.json for `rlkd evaluate --pbt`",
        outputs=(SCHEDULE_FILE,),
        depends=CHOOSING, ignores=EVALUATION_ONLY,
    ),
    "apply": Command(
        "apply", run_apply,
        "one full run where a trained policy picks every epoch's action; trajectory + test accuracy",
        outputs=("trajectory.png",),
        options=(("checkpoint", "policy checkpoint from `rlkd train` (sets ppo.checkpoint)",
                  lambda v: [f"ppo.checkpoint={v}"]),),
    ),
    "evaluate": Command(
        "evaluate", run_evaluate,
        "the policy and every baseline on the same seeds; report.md with test accuracy and PNGs",
        outputs=("report.md",),
        depends=(*Command.depends, "tune", "seeds"),
        options=(("checkpoint", "policy checkpoint from `rlkd train` (sets ppo.checkpoint)",
                  lambda v: [f"ppo.checkpoint={v}"]),
                 ("checkpoints", "more PPO runs' checkpoints, comma-separated: each reported, all pooled (sets "
                  "ppo.checkpoints)", lambda v: [f"ppo.checkpoints={json.dumps([c for c in v.split(',') if c])}"]),
                 ("seeds", "number of seeds per method (sets env.eval_seeds)", lambda v: [f"env.eval_seeds={v}"]),
                 ("pbt", "a schedule.json from `rlkd pbt` to show beside the policy (sets tune.pbt.schedule)",
                  lambda v: [f"tune.pbt.schedule={v}"])),
    ),
}


def execute(command: Command, cfg: Config, out: Path, **flags) -> dict:
    """Run `command` into `out`, holding the folder's lock; metrics.json appears only once it has finished."""
    check_names(cfg)
    with folder_lock(out, f"rlkd {command.name}"):
        (out / "metrics.json").unlink(missing_ok=True)  # first: a kill below must not leave "done" + a new config
        atomic_write_text(out / "config.yaml", config_yaml(cfg))
        start = time.perf_counter()
        threads = torch.get_num_threads()
        try:
            metrics = command.run(cfg, out, **flags)
        finally:  # an env built in this process (RLlib's local runner) sets torch threads: keep it from leaking
            torch.set_num_threads(threads)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        write_json(out / "metrics.json", {"command": command.name, **metrics})
    return metrics


def _without(section: object, name: str, ignores: tuple[str, ...]) -> object:
    """A config section less the keys in `ignores` ("section.key" or "section.sub.key", at any depth)."""
    if not isinstance(section, dict):
        return section
    inner = tuple(rest for key in ignores for head, _, rest in [key.partition(".")] if head == name)
    return {k: _without(v, k, inner) for k, v in section.items() if k not in inner}


def already_done(command: Command, cfg: Config, out: Path) -> bool:
    """True when `out` holds finished outputs of this command made from the same config sections it reads."""
    import yaml

    try:
        saved = yaml.safe_load((out / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return False
    if isinstance(saved, dict):
        saved = translate_stored(saved, str(out / "config.yaml"))
    now = config_to_dict(cfg)
    ign = command.ignores
    same = isinstance(saved, dict) and all(_without(saved.get(k), k, ign) == _without(now[k], k, ign)
                                           for k in command.depends)
    return (out / "metrics.json").is_file() and same and all((out / f).exists() for f in command.outputs)
