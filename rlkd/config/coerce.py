"""Walk a raw YAML mapping against the dataclass type hints: an unknown key, a wrong type or a non-finite number is
an error naming its full key path and what is allowed (with a "did you mean" or the key's new name)."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import types
import typing
from typing import Any, Literal

from rlkd.config.renames import renamed, renamed_message
from rlkd.errors import ConfigError


@functools.cache
def type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's resolved field types, once per class: resolving them is most of what building a config costs,
    and a config with many tasks is built once per task entry."""
    return typing.get_type_hints(cls)


def type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else type_name(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is list:
        return f"a list ({type_name(typing.get_args(tp)[0])} each)"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false",
            list: "a list", dict: "a mapping"}.get(tp, str(tp))


def coerce(value: Any, tp: Any, path: str) -> Any:
    """Check `value` against type hint `tp`; return it (ints widened to float where a float is due)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value in typing.get_args(tp) and type(value) in {type(a) for a in typing.get_args(tp)}:
            return value
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return coerce(value, arg, path)
            except ConfigError:
                pass
    elif dataclasses.is_dataclass(tp):
        if isinstance(value, dict):
            return build(tp, value, path)
    elif origin is list:
        if isinstance(value, list):
            return [coerce(item, typing.get_args(tp)[0], f"{path}[{i}]") for i, item in enumerate(value)]
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{path}: value {value!r} has the wrong type; expected {type_name(tp)}")


def unknown_key(cls: type, key: str, path: str) -> ConfigError:
    where = f"{path}.{key}" if path else key
    if renamed(where):
        return ConfigError(f"{where}: {renamed_message(where)}")
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    return ConfigError(f"{where}: unknown key.{hint} Allowed keys here: {', '.join(names)}")


def check_finite(value: Any, path: str) -> None:
    """NaN and inf (YAML .nan / .inf) slip past range checks such as `lr > 0` or poison a run later: refuse
    them in every float of the config, inside lists and mappings (model_kwargs, param_space) too."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path}: value {value!r} is not allowed; expected a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            check_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_finite(item, f"{path}[{i}]")


def build(cls: type, data: dict, path: str = "") -> Any:
    """A dataclass from a raw mapping, every field coerced and every section's `validate(path)` run."""
    hints = type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise unknown_key(cls, str(key), path)
        where = f"{path}.{key}" if path else key
        kwargs[key] = coerce(value, hints[key], where)
        check_finite(kwargs[key], where)
    obj = cls(**kwargs)
    if hasattr(obj, "validate"):
        obj.validate(path)
    return obj


def field_type(root: type, keys: list[str]) -> Any:
    """The type hint of the field at a key path under `root`; ConfigError (with a suggestion) if there is none."""
    tp: Any = root
    for depth, key in enumerate(keys):
        if not dataclasses.is_dataclass(tp):
            raise ConfigError(f"{'.'.join(keys[:depth])} is not a config section")
        if key not in {f.name for f in dataclasses.fields(tp)}:
            raise unknown_key(tp, key, ".".join(keys[:depth]))
        tp = type_hints(tp)[key]
    return tp
