"""What a stage is and how one runs: `Stage` (one `rlkd <command>`, and a pipeline step), `execute` and
`already_done`.

A stage takes the resolved config and its output folder and returns the metrics it measured; `execute` writes
`config.yaml` and `metrics.json` beside whatever the stage wrote, so every folder says how it was made.
"""

from __future__ import annotations

import copy
import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import yaml

from rlkd.config import PATH_KEYS, Config, config_from_dict, config_to_dict, config_yaml
from rlkd.errors import ConfigError
from rlkd.names import check_names
from rlkd.workdir import atomic_write_text, folder_lock, write_json


@dataclass(frozen=True)
class Stage:
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
                   "tune.tuned_baseline", "tune.baseline_budget", "tune.pbt.schedule", "ppo.checkpoints",
                   "ppo.pretrained")
CHOOSING = ("data", "teacher", "student", "distill", "curriculum", "env", "tune", "seeds")
# the tune keys of the PPO search and of PBT: the recipe stage reads none of them
NOT_RECIPE = ("tune.num_samples", "tune.scheduler", "tune.metric", "tune.mode", "tune.param_space", "tune.stop",
              "tune.keep_checkpoints", "tune.grace_period", "tune.perturbation_interval", "tune.pbt.population",
              "tune.pbt.budget")
# the tasks PPO's episodes are drawn from: only the policy stages (and what follows them) read them
RL_ONLY = ("env.tasks",)
# keys that change only what the console shows: no stage's outputs depend on them
CONSOLE_ONLY = ("tune.status_tables",)
RL_STAGE = dict(depends=(*Stage.depends, "seeds"), ignores=(*EVALUATION_ONLY, "ppo.checkpoint"))



def execute(stage: Stage, cfg: Config, out: Path, **flags) -> dict:
    """Run `stage` into `out`, holding the folder's lock; metrics.json appears only once it has finished."""
    check_names(cfg)
    with folder_lock(out, f"rlkd {stage.name}"):
        (out / "metrics.json").unlink(missing_ok=True)  # first: a kill below must not leave "done" + a new config
        atomic_write_text(out / "config.yaml", config_yaml(cfg))
        start = time.perf_counter()
        threads = torch.get_num_threads()
        try:
            metrics = stage.run(cfg, out, **flags)
        finally:  # an env built in this process (RLlib's local runner) sets torch threads: keep it from leaking
            torch.set_num_threads(threads)
        metrics["seconds"] = round(time.perf_counter() - start, 3)
        write_json(out / "metrics.json", {"command": stage.name, **metrics})
    return metrics


def _without(section: object, name: str, ignores: tuple[str, ...]) -> object:
    """A config section less the keys in `ignores` ("section.key" or "section.sub.key", at any depth)."""
    if not isinstance(section, dict):
        return section
    inner = tuple(rest for key in ignores for head, _, rest in [key.partition(".")] if head == name)
    return {k: _without(v, k, inner) for k, v in section.items() if k not in inner}


def real_paths(config: dict) -> dict:
    """`config` (a config as a dict) with every local path key resolved through symlinks: a stage whose inputs were
    named through a linked folder (benchmarks/zero_shot.py links a prepared workdir's stages into its own) read the
    same files as one that names them directly, and is up to date for both."""
    def real(value):
        return value if not isinstance(value, str) or "://" in value else os.path.realpath(value)

    out = copy.deepcopy(config)
    for key in (*PATH_KEYS, "teacher.additional", "ppo.checkpoints"):
        *parents, name = key.split(".")
        node = out
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict) and name in node:
            value = node[name]
            node[name] = [real(v) for v in value] if isinstance(value, list) else real(value)
    return out


def _inputs(stage: Stage, config: dict) -> dict:
    """The config sections (as a dict with real paths) that `stage`'s outputs are made from."""
    ign = stage.ignores + CONSOLE_ONLY
    return {k: _without(config[k], k, ign) for k in stage.depends}


def stage_inputs(stage: Stage, cfg: Config) -> dict:
    """What `stage` would read of `cfg`: two configs with equal inputs make the same outputs."""
    return _inputs(stage, real_paths(config_to_dict(cfg)))


@functools.lru_cache(maxsize=1024)
def _stored_config(path: str, inode: int, mtime_ns: int, size: int) -> Optional[dict]:
    """A stage folder's config.yaml as this rlkd reads it (old keys translated, keys added since at their defaults,
    paths real), or None where it is unreadable. Read once per version of the file: a pipeline with many tasks asks
    of every finished folder whether another task's stage would be the same."""
    try:
        saved = yaml.safe_load(Path(path).read_text())
        return real_paths(config_to_dict(config_from_dict(saved, stored=path)))
    except (OSError, yaml.YAMLError, ConfigError, TypeError):
        return None


def already_done(stage: Stage, cfg: Config, out: Path) -> bool:
    """True when `out` holds finished outputs of this stage made from the same config sections it reads."""
    return done_with(stage, stage_inputs(stage, cfg), out)


def done_with(stage: Stage, inputs: dict, out: Path) -> bool:
    """`already_done` for inputs already read from a config (`stage_inputs`): one config checked against many
    folders reads it once."""
    path = out / "config.yaml"
    try:
        stat = path.stat()
    except OSError:
        return False
    saved = _stored_config(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
    return (saved is not None and _inputs(stage, saved) == inputs
            and (out / "metrics.json").is_file() and all((out / f).exists() for f in stage.outputs))
