"""Models and data loaders by import path: `teacher.arch` / `student.arch` = "package.module:factory",
`data.python.loader` = "package.module:function".

The factory is called as `factory(num_classes, in_chans, input_shape, **model_kwargs)` and returns an
`nn.Module` taking float inputs of `input_shape` ((C, H, W), (C, L) or (F,)) per sample. It has to exist in
every process Ray starts (precompute actors, env runners, Tune trials), not only in the driver: `runtime_modules`
names the user's modules that rlkd ships with Ray's runtime environment (`py_modules`) when it starts or joins Ray.
"""

from __future__ import annotations

import importlib
import os
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Optional

from torch import nn

from rlkd.errors import ConfigError

FIX = "put its folder on PYTHONPATH (or run from it) on the machine that starts rlkd"


def import_from_working_dir() -> None:
    """Import paths resolve from the folder rlkd is run from, as under `python -m`: the `rlkd` console script
    and scripts/launch.py would otherwise look only beside themselves and in site-packages."""
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def is_import_path(name: str) -> bool:
    return ":" in name


def load_callable(path: str, key: str) -> Callable:
    """The callable an import path names (a model factory, a data loader); a ConfigError naming `key` and the
    path when it is not there."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr or not all(part.isidentifier() for part in module_name.split(".") + attr.split(".")):
        raise ConfigError(f"{key}: {path!r} is not an import path; write package.module:function")
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{key}: cannot import {module_name!r} for {path!r} ({type(exc).__name__}: {exc}); "
                          f"{FIX}") from exc
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{key}: module {module_name!r} has no {attr!r} (from {path!r}); check the name after "
                              f"the colon")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{key}: {path!r} is a {type(target).__name__}, not a callable")
    return target


def imported_model(path: str, num_classes: int, in_chans: int, input_shape: tuple[int, ...], kwargs: dict,
                   key: str) -> nn.Module:
    """`factory(num_classes, in_chans, input_shape, **kwargs)`, checked: a failure names the factory."""
    factory = load_callable(path, f"{key}arch")
    try:
        model = factory(num_classes, in_chans, input_shape, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"{key}arch: {path}(num_classes={num_classes}, in_chans={in_chans}, "
                          f"input_shape={input_shape}, **{kwargs}) failed ({exc}); the factory must take "
                          f"(num_classes, in_chans, input_shape, **model_kwargs)") from exc
    except Exception as exc:
        raise ConfigError(f"{key}arch: {path} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{key}arch: {path} returned a {type(model).__name__}, not a torch nn.Module")
    return model


def runtime_modules(paths: Iterable[tuple[str, Optional[str]]]) -> list[ModuleType]:
    """The top-level modules of these (config key, value) import paths that are the user's own code (not
    installed into site-packages): what Ray must ship to its workers for the models and loaders to exist there."""
    installed = {Path(p).resolve() for p in (sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"])}
    found: dict[str, ModuleType] = {}
    for key, path in paths:
        if path is None or not is_import_path(path):
            continue
        load_callable(path, key)  # a missing module or function is its clear error here, before Ray starts
        top = path.partition(":")[0].split(".")[0]
        module = sys.modules[top]
        where = Path(getattr(module, "__file__", None) or next(iter(getattr(module, "__path__", [])), "")).resolve()
        if top != "rlkd" and not any(where.is_relative_to(root) for root in installed):
            found[top] = module
    return list(found.values())


def config_modules(cfg) -> list[ModuleType]:
    """`runtime_modules` of a config's teacher, student and data loader."""
    loader = cfg.data.python.loader if cfg.data.source == "python" else None
    return runtime_modules([("teacher.arch", cfg.teacher.arch), ("student.arch", cfg.student.arch),
                            ("data.python.loader", loader)])
