"""Where a Tune experiment lives, and whether a re-run restores it, starts it afresh, or must leave it alone.

Names are unique per output folder (two runs sharing `tune.storage_path` never
collide), storage URIs stay URIs, and an experiment is deleted only when its
owner marker says this output folder made it. A re-run of the same config
restores the interrupted experiment, which is what `launch.py` relies on after a kill.
"""

from __future__ import annotations

from pathlib import Path

from rlkd.config import Config, config_yaml
from rlkd.errors import RlkdError
from rlkd.workdir import digest, exists, read_owner, remove_owned, write_owner


def experiment_location(cfg: Config, out: Path, prefix: str) -> tuple[str, str]:
    """(storage, name): `tune.storage_path` (a local path or a URI) or OUT/ray_results, and a per-folder name."""
    storage = cfg.tune.storage_path
    if storage is None or "://" not in storage:
        storage = str(Path(storage or out / "ray_results").resolve())
    here = out.resolve()
    return storage, f"{prefix}-{here.name}-{digest(str(here), 8)}"


def owner_of_run(cfg: Config, out: Path) -> dict:
    return {"out": str(out.resolve()), "config": digest(config_yaml(cfg), 16)}


def should_restore(path: str, cfg: Config, out: Path, resume: bool) -> bool:
    """True: restore the experiment at `path`. False: it was cleared (if rlkd's own) and marked for a new run."""
    from ray import tune

    owner = owner_of_run(cfg, out)
    if tune.Tuner.can_restore(path):
        if resume or read_owner(path) == owner:
            return True
        remove_owned(path, out)  # this folder's experiment of another config; anybody else's is an error
        print(f"tune: {path} held an experiment of another config from this folder; starting afresh")
    elif resume:
        raise RlkdError(f"--resume: no interrupted experiment at {path}; run the same command without --resume")
    elif exists(path):
        remove_owned(path, out)
    write_owner(path, owner)
    return False
