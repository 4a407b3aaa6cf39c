"""Keys that moved: one table, old dotted key -> new dotted key (CHANGELOG.md says when and why).

A file or `--set` a user writes must use the new key (an old one is an error that names it); a config stored
in an artefact made before the move (a checkpoint's policy.json, a stage's config.yaml) is translated, with one
warning, so old checkpoints and finished stages stay usable.
"""

from __future__ import annotations

import warnings
from typing import Optional

# rlkd 0.3: prefixed fields became sub-sections
RENAMES: dict[str, str] = {
    **{f"distill.dkd_{k}": f"distill.dkd.{k}" for k in ("alpha", "beta", "warmup", "ce_weight")},
    **{f"resources.precompute_{k}": f"resources.precompute.{k}"
       for k in ("actors", "batch_size", "gpus_per_actor", "cpus_per_actor", "rows_per_shard")},
    **{f"tune.recipe_{k}": f"tune.recipe.{k}"
       for k in ("space", "samples", "grace_period", "seeds", "finalists", "confirm_seeds", "confidence", "trials",
                 "replaced", "choice", "seconds")},
    "tune.recipe_epochs": "tune.recipe.epochs_trained",
    **{f"tune.pbt_{k}": f"tune.pbt.{k}" for k in ("population", "budget", "schedule")},
}


class RenamedKeyWarning(UserWarning):
    """A stored config used keys that have moved; it was translated."""


def renamed(key: str) -> Optional[str]:
    """The new key of an old dotted key, else None."""
    return RENAMES.get(key)


def renamed_message(key: str) -> str:
    return f"{key} was renamed to {RENAMES[key]} (CHANGELOG.md); write {RENAMES[key]} instead"


def _pop(data: dict, keys: list[str]):
    node = data
    for key in keys[:-1]:
        node = node.get(key)
        if not isinstance(node, dict):
            return False, None
    return (True, node.pop(keys[-1])) if keys[-1] in node else (False, None)


def translate_stored(data: dict, where: str) -> dict:
    """A stored config dict (in place) with every old key moved to its new place; one warning naming `where`
    and the keys moved when there were any."""
    moved = []
    for old, new in RENAMES.items():
        found, value = _pop(data, old.split("."))
        if not found:
            continue
        *parents, leaf = new.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
        moved.append(old)
    if moved:
        shown = ", ".join(moved[:3]) + (f" and {len(moved) - 3} more" if len(moved) > 3 else "")
        warnings.warn(f"{where}: made by an older rlkd; its config keys {shown} were translated to their new "
                      f"names (CHANGELOG.md)", RenamedKeyWarning, stacklevel=2)
    return data
