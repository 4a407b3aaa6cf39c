"""`families:` in a config file: the tasks of other task-family files (tune_configs/families/) as `env.tasks` of
this one, so one PPO run trains a policy across families whose data, teacher and student differ.

A family file is the config a user of that data would write, with its tasks. Listed under `families:`, each of its
tasks becomes a task of the listing config: the family's `data`, `teacher` and `student` keys that differ from the
listing config's, then the task's own overrides. Everything else (the recipe, the env, PPO, the seeds) is the
listing config's, for every task alike, so a family file that sets any of it differently is refused rather than
silently overruled: a left-out family is never given a recipe of its own.
"""

from __future__ import annotations

import json
from typing import Iterator

from rlkd.errors import ConfigError

FAMILY_SECTIONS = ("data", "teacher", "student")  # what a family may swap


def differences(a, b, path: str = "") -> Iterator[str]:
    """Dotted keys whose values differ between two resolved config mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a.keys() | b.keys():
            yield from differences(a.get(key), b.get(key), f"{path}.{key}" if path else key)
    elif a != b:
        yield path


def family_tasks(target: dict, family: dict, source: str) -> list[dict]:
    """`family`'s tasks as tasks of `target` (both resolved configs as mappings); `source` names the family file."""
    fixed = sorted(key for key in differences({k: v for k, v in target.items() if k not in FAMILY_SECTIONS},
                                              {k: v for k, v in family.items() if k not in FAMILY_SECTIONS})
                   if key != "env.tasks")
    if fixed:
        key, swappable = fixed[0], ", ".join(FAMILY_SECTIONS)
        raise ConfigError(f"families: {source} sets {key} differently from the config that lists it (and "
                          f"{len(fixed) - 1} more key(s)); a family's tasks may swap only {swappable}: "
                          f"give {key} the same value in both files")
    swap = [f"{section}.{key}={json.dumps(value)}" for section in FAMILY_SECTIONS
            for key, value in family[section].items() if value != target[section].get(key)]
    tasks = family["env"]["tasks"]
    if not tasks:
        raise ConfigError(f"families: {source} has no env.tasks; a family file lists its tasks there")
    return [{**task, "overrides": [*swap, *task["overrides"]]} for task in tasks]
