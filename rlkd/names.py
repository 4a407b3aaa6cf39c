"""Names in a config that live in a registry, checked against it.

The config package parses and type-checks without importing the engine; the registries (samplers, losses,
optimizers, Tune schedulers, embedding projections, data sources) live beside the code they name. This
module sits above both: a stage's config is checked here when the stage loads it (the CLI, the pipeline and
`rlkd.stages.execute` call `check_names`), so a name is written once, in its registry. A data source also
checks the `data` keys it reads here, so a missing loader or folder fails before any work starts.
"""

from __future__ import annotations

from rlkd.config import Config
from rlkd.data import SOURCES
from rlkd.distill.losses import LOSSES
from rlkd.distill.optimizers import OPTIMIZERS
from rlkd.distill.samplers import SAMPLERS
from rlkd.errors import ConfigError
from rlkd.precompute.embeddings import PROJECTIONS
from rlkd.tune.schedulers import SCHEDULERS


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
    _check_name(cfg.distill.optimizer, OPTIMIZERS, "distill.optimizer", "an optimizer")
    _check_name(cfg.tune.scheduler, SCHEDULERS, "tune.scheduler", "a Tune scheduler")
    _check_name(cfg.teacher.embedding.projection, PROJECTIONS, "teacher.embedding.projection", "a projection")
    _check_name(cfg.data.source, SOURCES, "data.source", "a data source")
    SOURCES[cfg.data.source].check(cfg.data, "data")
    return cfg
