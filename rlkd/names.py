"""Names in a config that live in a registry (samplers, losses), checked against it.

The config package parses and type-checks without importing the engine; the registries live beside the code
they name. This module sits above both: a stage's config is checked here when the stage loads it (the CLI,
the pipeline and `rlkd.stages.execute` call `check_names`), so a name is written once, in its registry.
"""

from __future__ import annotations

from rlkd.config import Config
from rlkd.distill.losses import LOSSES
from rlkd.distill.samplers import SAMPLERS
from rlkd.errors import ConfigError


def _check_name(name: str, registry: dict, path: str, what: str) -> None:
    if name not in registry:
        raise ConfigError(f"{path}: value {name!r} is not allowed; expected {what}: one of "
                          + ", ".join(repr(key) for key in registry))


def check_names(cfg: Config) -> Config:
    """`cfg`, once every registry name in it is known (ConfigError, exit 2, naming the key otherwise)."""
    _check_name(cfg.curriculum.sampler, SAMPLERS, "curriculum.sampler", "a sampler")
    _check_name(cfg.env.sampler, SAMPLERS, "env.sampler", "a sampler")
    for i, name in enumerate(cfg.env.sampler_choices):
        _check_name(name, SAMPLERS, f"env.sampler_choices[{i}]", "a sampler")
    _check_name(cfg.distill.mode, LOSSES, "distill.mode", "a loss")
    return cfg
