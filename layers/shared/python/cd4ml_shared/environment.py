"""Reading a Lambda's settings from its environment (once per cold start): the error that names a missing or
malformed variable, and the readers every settings class uses."""

from __future__ import annotations

import os
from collections.abc import Mapping


class SettingsError(ValueError):
    """A setting from the stack's environment is missing or malformed."""


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """The mapping to read: the one given (tests), else the process's environment."""
    return os.environ if environ is None else environ


def required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise SettingsError(f"environment variable {name} is not set")
    return value


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A "true"/"false" template parameter (any case); unset or empty means `default`."""
    raw = env.get(name)
    if raw in (None, ""):
        return default
    return str(raw).lower() == "true"


def whole_number(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    """A number of seconds; without a default the variable is required."""
    raw = env.get(name)
    if raw in (None, ""):
        if default is None:
            raise SettingsError(f"environment variable {name} is not set")
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number of seconds, got {raw!r}") from None
