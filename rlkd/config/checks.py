"""Value checks shared by the sections: each error names the full key path and what is allowed."""

from __future__ import annotations

from typing import Any

from rlkd.errors import ConfigError


def check(ok: bool, path: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{path}: value {value!r} is not allowed; expected {allowed}")


def check_at_least(section: Any, path: str, minimum: float, *names: str) -> None:
    """Each named field of `section` must be >= `minimum` (counts, sizes, weights)."""
    for name in names:
        value = getattr(section, name)
        kind = "an integer" if isinstance(value, int) else "a float"
        check(value >= minimum, f"{path}.{name}", value, f"{kind} >= {minimum:g}")
