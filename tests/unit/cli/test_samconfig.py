"""`--config-env` reads samconfig.toml as `sam deploy --config-env` does: one environment, deploy over global, the
command line over both."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cd4ml.cli import _deployment
from cd4ml.samconfig import SamConfigError, parse_parameter_overrides, read_deploy_config, stage_parameters

ROOT = Path(__file__).resolve().parents[3]

SAMCONFIG = """
version = 0.1
[default.global.parameters]
stack_name = "from-default"
[default.deploy.parameters]
parameter_overrides = "Stage=default"

[dev.global.parameters]
stack_name = "global-name"
region = "eu-west-1"
[dev.deploy.parameters]
stack_name = "cd4ml-dev"
parameter_overrides = 'Stage=dev Quoted="a b" ParameterKey=Long,ParameterValue=x=y'

[listed.deploy.parameters]
parameter_overrides = ["Stage=listed", "Name=with space", "ParameterKey=K,ParameterValue=v"]
"""


def _config(tmp_path: Path, text: str = SAMCONFIG) -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_environment_s_deploy_table_wins_over_its_global_table(tmp_path: Path) -> None:
    config = read_deploy_config(_config(tmp_path), "dev")
    assert config.stack_name == "cd4ml-dev"
    assert config.region == "eu-west-1"  # only in global: still used
    assert config.parameter_overrides == {"Stage": "dev", "Quoted": "a b", "Long": "x=y"}


def test_another_environment_does_not_fall_back_to_default(tmp_path: Path) -> None:
    config = read_deploy_config(_config(tmp_path), "listed")
    assert config.stack_name is None and config.region is None
    assert config.parameter_overrides == {"Stage": "listed", "Name": "with space", "K": "v"}


def test_an_unknown_environment_is_an_error_naming_those_there_are(tmp_path: Path) -> None:
    with pytest.raises(SamConfigError, match=r"no environment 'stagin' \(it has: default, dev, listed\)"):
        read_deploy_config(_config(tmp_path), "stagin")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[dev\n", "cannot read it as TOML"),
        ('[dev.deploy.parameters]\nparameter_overrides = "Stage"', "expected Key=Value, got 'Stage'"),
        ('[dev.deploy.parameters]\nparameter_overrides = "Stage=\\"dev"', "No closing quotation"),
        ("[dev.deploy.parameters]\nparameter_overrides = 3", "must be a string or a list of strings"),
        ('[dev.deploy.parameters]\nstack_name = ""', "stack_name must be a non-empty string"),
    ],
)
def test_a_broken_samconfig_fails_with_the_reason(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SamConfigError, match=message):
        read_deploy_config(_config(tmp_path, text), "dev")


def test_without_a_samconfig_there_are_no_options(tmp_path: Path) -> None:
    config = read_deploy_config(tmp_path / "samconfig.toml", "dev")
    assert config.path is None and config.parameter_overrides == {}
    assert stage_parameters(tmp_path / "samconfig.toml", "dev") == {"Stage": "dev"}


def test_the_project_s_stages_have_their_own_stacks() -> None:
    names = {env: read_deploy_config(ROOT / "samconfig.toml", env).stack_name for env in ("dev", "staging", "prod")}
    assert names == {"dev": "cd4ml-dev", "staging": "cd4ml-staging", "prod": "cd4ml-prod"}
    assert parse_parameter_overrides("") == {}


def _args(template: Path, **given: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "template": str(template),
        "config_env": "dev",
        "config_file": None,
        "stack_name": None,
        "region": None,
        "parameter": [],
    }
    values.update(given)
    return argparse.Namespace(**values)


def test_local_up_deploys_the_dev_stack_of_the_project_by_default() -> None:
    deployment = _deployment(_args(ROOT / "template.yaml"))
    assert deployment.stack_name == "cd4ml-dev" and deployment.region == "us-east-1"
    assert deployment.parameters["Stage"] == "dev" and deployment.parameters["ModelApprovalStatus"] == "Approved"


def test_the_command_line_wins_over_samconfig(tmp_path: Path) -> None:
    _config(tmp_path)
    deployment = _deployment(
        _args(tmp_path / "template.yaml", parameter=["Stage=mine"], stack_name="own", region="us-west-2")
    )
    assert (deployment.stack_name, deployment.region) == ("own", "us-west-2")
    assert deployment.parameters == {"Stage": "mine", "Quoted": "a b", "Long": "x=y"}


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no such SAM configuration file"):
        _deployment(_args(ROOT / "template.yaml", config_file=str(tmp_path / "missing.toml")))
    with pytest.raises(SystemExit, match="no environment 'qa'"):
        _deployment(_args(ROOT / "template.yaml", config_env="qa"))


def test_a_template_without_samconfig_keeps_the_old_defaults(tmp_path: Path) -> None:
    deployment = _deployment(_args(tmp_path / "template.yaml"))
    assert (deployment.stack_name, deployment.region, deployment.parameters) == ("cd4ml", "us-east-1", {})
