"""What `sam deploy --config-env <env>` reads from `samconfig.toml`, so the local stack is the stage's stack: the same
stack name, region and parameter overrides.

SAM's rules, as documented for its configuration file: the tables of one environment only (there is no fall-back to
`default` when another environment is named); for a command, `[<env>.<command>.parameters]` wins over
`[<env>.global.parameters]`; options given on the command line win over both. `parameter_overrides` is a string of
`Key=Value` pairs separated by spaces (values may be quoted, `ParameterKey=K,ParameterValue=V` is accepted too) or a
TOML list of such strings.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_FILE = "samconfig.toml"
_LONG_FORM = re.compile(r"^ParameterKey=(?P<key>[^,]+),ParameterValue=(?P<value>.*)$")


class SamConfigError(ValueError):
    """samconfig.toml cannot be read, or does not say what a command needs."""


@dataclass(frozen=True)
class DeployConfig:
    """The `deploy` options of one environment that the local cloud honours."""

    environment: str
    path: Path | None  # None: there was no samconfig.toml
    stack_name: str | None = None
    region: str | None = None
    parameter_overrides: dict[str, str] = field(default_factory=dict)


def parse_parameter_overrides(value: Any, *, where: str = "parameter_overrides") -> dict[str, str]:
    """`"Stage=dev Name=\\"a b\\""` or `["Stage=dev", "ParameterKey=Name,ParameterValue=a b"]` as a dict."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            items = shlex.split(value)
        except ValueError as error:
            raise SamConfigError(f"{where}: {error} in {value!r}") from None
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [token for item in value for token in _split_item(item, where)]
    else:
        raise SamConfigError(f"{where} must be a string or a list of strings, not {type(value).__name__}")
    overrides: dict[str, str] = {}
    for item in items:
        long_form = _LONG_FORM.match(item)
        if long_form:
            key, val = long_form["key"], long_form["value"]
        else:
            key, sep, val = item.partition("=")
            if not sep or not key:
                raise SamConfigError(f"{where}: expected Key=Value, got {item!r}")
        overrides[key] = val
    return overrides


def _split_item(item: str, where: str) -> list[str]:
    """A list item is one pair (`Name=a b` keeps its spaces) unless it holds several quoted ones."""
    if _LONG_FORM.match(item) or ('"' not in item and "'" not in item):
        return [item]
    try:
        return shlex.split(item)
    except ValueError as error:
        raise SamConfigError(f"{where}: {error} in {item!r}") from None


def read_deploy_config(path: Path, environment: str) -> DeployConfig:
    """The `deploy` options of `environment` in `path`. A missing file gives an empty config (as SAM, which then uses
    the command line only); a file that exists but lacks the environment is an error naming the ones it has."""
    if not path.is_file():
        return DeployConfig(environment=environment, path=None)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SamConfigError(f"{path}: cannot read it as TOML: {error}") from None
    tables = document.get(environment)
    if not isinstance(tables, dict):
        known = sorted(name for name, value in document.items() if isinstance(value, dict))
        raise SamConfigError(f"{path} has no environment {environment!r} (it has: {', '.join(known) or 'none'})")
    options: dict[str, Any] = {}
    for command in ("global", "deploy"):  # the command's own table wins over global
        section = tables.get(command, {}).get("parameters", {})
        if not isinstance(section, dict):
            raise SamConfigError(f"{path}: [{environment}.{command}.parameters] is not a table")
        options.update(section)
    where = f"{path} [{environment}] parameter_overrides"
    return DeployConfig(
        environment=environment,
        path=path,
        stack_name=_text(options.get("stack_name"), path, "stack_name"),
        region=_text(options.get("region"), path, "region"),
        parameter_overrides=parse_parameter_overrides(options.get("parameter_overrides"), where=where),
    )


def _text(value: Any, path: Path, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SamConfigError(f"{path}: {name} must be a non-empty string, not {value!r}")
    return value


def stage_parameters(samconfig: Path, stage: str = "dev") -> dict[str, str]:
    """The parameter overrides `sam deploy --config-env <stage>` would use (just `Stage` without a samconfig)."""
    config = read_deploy_config(samconfig, stage)
    return config.parameter_overrides if config.path is not None else {"Stage": stage}


def github_output(samconfig: Path, environment: str) -> str:
    """The deploy workflow's `stack=` and `overrides=` step outputs for `environment`: `sam deploy
    --parameter-overrides` on the command line replaces samconfig.toml's (SAM CLI gives the command line's value to
    the option and never merges them), so the workflow passes the stage's own parameters, all but ModelCodeVersion,
    with the commit's ModelCodeVersion. The values go through a shell array unquoted: whitespace or quotes in one is
    a SamConfigError, as is a missing stack_name."""
    config = read_deploy_config(samconfig, environment)
    pairs = [f"{k}={v}" for k, v in config.parameter_overrides.items() if k != "ModelCodeVersion"]
    unsafe = [p for p in pairs if any(c.isspace() or c in "\"'" for c in p)]
    if config.path is None or not config.stack_name:
        raise SamConfigError(f"{samconfig} [{environment}]: a deploy needs the environment's stack_name")
    if unsafe:
        raise SamConfigError(f"{samconfig} [{environment}]: values with whitespace or quotes: {' '.join(unsafe)}")
    return f"stack={config.stack_name}\noverrides={' '.join(pairs)}\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m cd4ml.samconfig <env>`: the deploy workflow's step outputs (`>> "$GITHUB_OUTPUT"`)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m cd4ml.samconfig", description=main.__doc__)
    parser.add_argument("environment", help="the samconfig.toml environment (staging, prod)")
    parser.add_argument("--config-file", default=DEFAULT_FILE, type=Path)
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(github_output(args.config_file, args.environment))
    except SamConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
