"""`--set a.b.c=value` overrides: parsed as YAML values, set into a raw config mapping, their keys checked."""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from rlkd.config.coerce import field_type, type_hints
from rlkd.config.root import Config
from rlkd.errors import ConfigError


def parse_override(item: str) -> tuple[list[str], Any]:
    if "=" not in item:
        raise ConfigError("expected key.path=value, e.g. distill.epochs=5")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"the value is not valid YAML ({exc})") from exc
    return key.strip().split("."), value


def apply_override(data: dict, item: str) -> None:
    """Set one `a.b.c=value` item into a raw config dict; the key path must exist in `Config`."""
    keys, value = parse_override(item)
    field_type(Config, keys)
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Set `a.b.c=value` items into a raw config dict; the key path must exist in `Config`."""
    for item in overrides:
        try:
            apply_override(data, item)
        except ConfigError as exc:
            raise ConfigError(f"--set {item!r}: {exc}") from None
    return data


def set_keys(item: str) -> list[str]:
    """The dotted keys an override sets: one that sets a section (`env={budget: 0.5}`) replaces it whole, so it
    sets every key inside it."""
    keys, _ = parse_override(item)

    def leaves(path: str, tp: Any) -> list[str]:
        if not dataclasses.is_dataclass(tp):
            return [path]
        hints = type_hints(tp)
        return [key for f in dataclasses.fields(tp) for key in leaves(f"{path}.{f.name}", hints[f.name])]

    return leaves(".".join(keys), field_type(Config, keys))
