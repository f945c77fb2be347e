"""A new user's first hour, with the real AWS CLI (v1, installed in its own virtual environment: its botocore pin is not
the project's) against `cd4ml local up --config-env dev`: the stack's outputs from CloudFormation, the model code
published, the 100,000-row dataset copied with `aws s3 cp` (a multipart upload), the run followed with the
`stepfunctions` and `sagemaker` commands, the function's logs read from CloudWatch Logs, the report downloaded.

AWS CLI v1 has no `aws logs tail` (a v2 command); `filter-log-events`, which `tail` is built on, is used instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from local_up import ROOT, Running, cli_env, dev_stack_served

pytestmark = pytest.mark.integration

AWS_CLI_VERSION = "1.46.2"
TOOLS = ROOT / ".cd4ml" / "tools" / f"awscli-{AWS_CLI_VERSION}"  # .cd4ml/ is ignored by git
READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 600.0


@pytest.fixture(scope="module")
def aws_cli() -> Path:
    """The AWS CLI v1 in a virtual environment of its own, installed from PyPI on first use (uv: about a second)."""
    aws = TOOLS / "bin" / "aws"
    if not aws.exists():
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "--quiet", "--python", sys.executable, str(TOOLS)], check=True)
        subprocess.run(
            [
                str(uv),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(TOOLS / "bin" / "python"),
                f"awscli=={AWS_CLI_VERSION}",
            ],
            check=True,
        )
    version = subprocess.run([str(aws), "--version"], capture_output=True, text=True, check=True)
    assert f"aws-cli/{AWS_CLI_VERSION}" in version.stdout + version.stderr
    return aws


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, int]]:
    with dev_stack_served(tmp_path_factory.mktemp("story") / "work", READY_TIMEOUT_S) as served:
        yield served


def cd4ml(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cd4ml.cli", *args],
        cwd=ROOT,
        env={**cli_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"cd4ml {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
    return result


class Aws:
    """`aws ...` as a user types it, with the variables `cd4ml local up` tells them to export."""

    def __init__(self, executable: Path, port: int, cwd: Path) -> None:
        self.executable = executable
        self.cwd = cwd
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def text(self, *args: str) -> str:
        result = subprocess.run(
            [str(self.executable), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, f"aws {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.text(*args, "--output", "json"))


def test_a_new_user_s_first_run_through_the_aws_cli(
    aws_cli: Path, local_up: tuple[Running, int], tmp_path: Path
) -> None:
    running, port = local_up
    aws = Aws(aws_cli, port, tmp_path)

    # The dev stack has the dev name (samconfig.toml); its outputs answer as after `sam deploy`.
    stack = aws.json("cloudformation", "describe-stacks", "--stack-name", "cd4ml-dev")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["Stage"] == "dev" and parameters["ModelApprovalStatus"] == "Approved"
    raw, artifacts = outputs["RawDataBucketName"], outputs["ArtifactsBucketName"]
    validate = aws.json(
        "cloudformation", "describe-stack-resource", "--stack-name", "cd4ml-dev",
        "--logical-resource-id", "ValidateDatasetFunction",
    )["StackResourceDetail"]["PhysicalResourceId"]  # fmt: skip

    # The model code the jobs run, published as the README says.
    endpoint = aws.env["AWS_ENDPOINT_URL"]
    cd4ml("model", "publish", "--bucket", artifacts, "--version", "dev", "--endpoint-url", endpoint, env=aws.env)

    # The README's dataset at the demo's size: over 8 MiB, so `aws s3 cp` uploads it in parts.
    today = datetime.now(UTC).date()
    orders = tmp_path / "orders.csv"
    start = (today - timedelta(days=28)).isoformat()
    cd4ml("data", "generate", "--rows", "100000", "--seed", "7", "--days", "28", "--start", start, "--out", str(orders))
    assert orders.stat().st_size > 8 * 1024 * 1024
    key = f"datasets/orders/{today.isoformat()}/orders.csv"
    aws.text("s3", "cp", str(orders), f"s3://{raw}/{key}")
    head = aws.json("s3api", "head-object", "--bucket", raw, "--key", key)
    parts = -(-orders.stat().st_size // (8 * 1024 * 1024))  # the CLI's 8 MiB parts: a multipart object, as on AWS
    assert head["ETag"].strip('"').endswith(f"-{parts}")

    # The run it started, followed with the stepfunctions and sagemaker commands.
    machine = outputs["TrainingPipelineArn"]
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        executions = aws.json("stepfunctions", "list-executions", "--state-machine-arn", machine)["executions"]
        if executions and executions[0]["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, f"no finished run after {RUN_TIMEOUT_S:.0f}s:\n{running.output}"
        time.sleep(2)
    (execution,) = executions
    described = aws.json("stepfunctions", "describe-execution", "--execution-arn", execution["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    history = aws.json("stepfunctions", "get-execution-history", "--execution-arn", execution["executionArn"])
    entered = [e["stateEnteredEventDetails"]["name"] for e in history["events"] if "stateEnteredEventDetails" in e]
    assert entered[:2] == ["ValidateData", "DataAccepted"] and "Register" in entered
    jobs = aws.json("sagemaker", "list-training-jobs")["TrainingJobSummaries"]
    assert [j["TrainingJobStatus"] for j in jobs] == ["Completed"]
    job = aws.json("sagemaker", "describe-training-job", "--training-job-name", jobs[0]["TrainingJobName"])
    assert job["ModelArtifacts"]["S3ModelArtifacts"].startswith(f"s3://{artifacts}/")
    packages = aws.json(
        "sagemaker", "list-model-packages", "--model-package-group-name", outputs["ModelPackageGroupName"]
    )
    assert [p["ModelApprovalStatus"] for p in packages["ModelPackageSummaryList"]] == ["Approved"]

    # The run's notification, printed by `local up` as an e-mail subscriber would read it.
    running.wait_for_line(rf"^\[notification\] \S+: cd4ml .*: {re.escape(execution['name'])}$", 30)

    # The validation's log lines where a user looks for them.
    events = aws.json(
        "logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{validate}", "--filter-pattern", "REPORT"
    )["events"]
    assert events and all(e["message"].startswith("REPORT RequestId:") for e in events)
    logged = aws.json("logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{validate}")["events"]
    assert any("dataset validated" in e["message"] for e in logged)

    # The report, downloaded; and the dataset read back in parts, byte for byte.
    outcome_key = f"runs/{execution['name']}/outcome.json"  # a run is named after its execution
    aws.text("s3", "cp", f"s3://{artifacts}/{outcome_key}", str(tmp_path / "outcome.json"))
    outcome = json.loads((tmp_path / "outcome.json").read_text())
    assert outcome["status"] == "succeeded"
    report_key = outcome["report_uri"].removeprefix(f"s3://{artifacts}/")
    aws.text("s3", "cp", f"s3://{artifacts}/{report_key}", str(tmp_path / "report.html"))
    assert (tmp_path / "report.html").read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    aws.text("s3", "cp", f"s3://{raw}/{key}", str(tmp_path / "copy.csv"))
    assert (tmp_path / "copy.csv").read_bytes() == orders.read_bytes()
