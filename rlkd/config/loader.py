"""Reading, overriding and writing configs: YAML files, `--set` items, stored artefacts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import yaml

from rlkd.config.coerce import build
from rlkd.config.families import family_tasks
from rlkd.config.overrides import apply_overrides
from rlkd.config.paths import absolute_paths
from rlkd.config.proxy import check_proxy
from rlkd.config.renames import translate_stored
from rlkd.config.root import Config
from rlkd.errors import ConfigError
from rlkd.workdir import atomic_write_text

DEFAULT_CONFIG = "tune_configs/digits.yaml"


def config_from_dict(data: dict, stored: Optional[str] = None) -> Config:
    """A validated Config from a raw mapping. `stored` names the artefact a stored config came from (a
    checkpoint's policy.json, a stage's config.yaml): its old keys are translated (one warning) instead of refused."""
    if not isinstance(data, dict):
        raise ConfigError(f"the config must be a mapping of sections, got {type(data).__name__}")
    cfg = build(Config, translate_stored(data, stored) if stored else data)
    check_proxy(cfg)
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def with_overrides(cfg: Config, overrides: list[str]) -> Config:
    """A copy of `cfg` with `key.path=value` overrides applied and validated."""
    return config_from_dict(apply_overrides(config_to_dict(cfg), overrides)) if overrides else cfg


def _merged(base: dict, over: dict) -> dict:
    """`over` on top of `base`: mappings merge key by key, anything else (lists included) is replaced."""
    out = dict(base)
    for key, value in over.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """One experiment file; `extends: other.yaml` (relative to this file) reads that one first and merges this
    one over it, so a family of experiments states only what differs from the config it starts from."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass --config with a YAML file "
                          f"(shipped ones: tune_configs/*.yaml)")
    with open(path) as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    base = data.pop("extends", None)
    families = data.pop("families", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: extends: expected the path of another config file, got {base!r}")
        parent = (path.parent / base).resolve()
        if parent in seen or parent == path.resolve():
            raise ConfigError(f"{path}: extends: {base} leads back to itself")
        data = _merged(_read_yaml(parent, (*seen, path.resolve())), data)
    return data if families is None else _with_families(data, families, path, seen)


def _with_families(data: dict, families, path: Path, seen: tuple[Path, ...]) -> dict:
    """`data` with the tasks of each family file in `families` (relative to `path`) added to its env.tasks."""
    if not (isinstance(families, list) and all(isinstance(f, str) for f in families)):
        raise ConfigError(f"{path}: families: expected a list of task-family config files, got {families!r}")
    try:
        target = config_to_dict(config_from_dict(data))
        tasks = [*target["env"]["tasks"]]
        for name in families:
            file = (path.parent / name).resolve()
            if file in seen or file == path.resolve():
                raise ConfigError(f"families: {name} leads back to {path}")
            tasks += family_tasks(target, config_to_dict(config_from_dict(_read_yaml(file, (*seen, path.resolve())))),
                                  str(file))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return _merged(data, {"env": {"tasks": tasks}})


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Read a YAML experiment file (default: the embedded digits one), apply overrides, validate."""
    path = Path(path) if path is not None else default_config_path()
    data = apply_overrides(_read_yaml(path), overrides or [])
    try:
        return absolute_paths(config_from_dict(data))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_stored_config(path: str | Path) -> Config:
    """A config an rlkd stage or checkpoint wrote (config.yaml, rlkd_config.yaml), old keys translated."""
    path = Path(path)
    try:
        return absolute_paths(config_from_dict(_read_yaml(path), stored=str(path)))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def default_config_path() -> Path:
    """The shipped digits config, looked up from the working directory, then from the checkout."""
    for candidate in (Path.cwd() / DEFAULT_CONFIG, Path(__file__).resolve().parents[2] / DEFAULT_CONFIG):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"cannot find the default config {DEFAULT_CONFIG}; pass --config PATH")


def config_yaml(cfg: Config) -> str:
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def save_config(cfg: Config, path: str | Path) -> None:
    atomic_write_text(path, config_yaml(cfg))
