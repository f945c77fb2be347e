"""The smoke test CI runs after `sam deploy`, run the same way against `cd4ml local up --config-env dev` of the project
template: `cd4ml smoke` in a subprocess with the credentials `local up` prints. Read-only (production's form) writes
nothing and needs no model unless told to; the full form publishes nothing itself (CI publishes first), uploads a
generated dataset, follows its run to a registered model or a gated-out challenger and asks for one decision; a
stack without an output the checks need fails naming it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from local_up import ROOT, Running, cli_env, client, dev_stack_served, free_port, start_local_up

from cd4ml.smoke import REQUIRED_OUTPUTS

pytestmark = pytest.mark.integration

READY_TIMEOUT_S = 120.0
STACK = "cd4ml-dev"  # samconfig.toml's dev stack, which the command finds by --config-env dev (its default)
ENDPOINT = f"{STACK}-fraud"
DEPLOYED_TIMEOUT_S = 180.0  # the registered model's deployment on the local cloud (seconds, the first time)
SEED = 11  # the smoke dataset's seed in the full run: its model passes the dev gate


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, int]]:
    with dev_stack_served(tmp_path_factory.mktemp("smoke") / "work", READY_TIMEOUT_S) as served:
        yield served


def cd4ml(port: int, *args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`cd4ml ARGS... --endpoint-url <the local cloud>` as CI runs it, with the credentials `local up` prints."""
    env = {**cli_env(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run(
        [sys.executable, "-m", "cd4ml.cli", *map(str, args), "--endpoint-url", f"http://127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def outputs(port: int, stack: str = STACK) -> dict[str, str]:
    described = client("cloudformation", port).describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}


def every_object(port: int) -> set[tuple[str, str, str, str]]:
    """(bucket, key, version id, ETag) of every object version and delete marker in every bucket."""
    s3 = client("s3", port)
    found: set[tuple[str, str, str, str]] = set()
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                found.add((bucket, version["Key"], str(version.get("VersionId")), version["ETag"]))
            for marker in page.get("DeleteMarkers", []):
                found.add((bucket, marker["Key"], str(marker.get("VersionId")), "delete-marker"))
    return found


def lines_of(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """The check lines by check name: `PASS  stack   0.1s  ...` -> {"stack": "PASS ..."}."""
    checks = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition("  ")
        if status in ("PASS", "FAIL", "SKIP"):
            name = rest.split("  ")[0].strip()
            checks[name] = line
    return checks


def test_read_only_on_a_stack_with_no_model_writes_nothing_and_fails_only_when_a_decision_is_required(
    local_up: tuple[Running, int], tmp_path: Path
) -> None:
    _, port = local_up
    before = every_object(port)

    optional = cd4ml(port, "smoke", "--read-only", "--json", tmp_path / "smoke.json")
    required = cd4ml(port, "smoke", "--read-only", "--require-decision")

    assert optional.returncode == 0, optional.stdout + optional.stderr
    checks = lines_of(optional)
    assert list(checks) == ["stack", "decision"]  # no code, no run: nothing written
    assert checks["stack"].startswith("PASS") and f"stack {STACK} CREATE_COMPLETE" in checks["stack"]
    assert (
        checks["decision"].startswith("PASS")
        and "no model in service (the endpoint does not exist)" in (checks["decision"])
    )
    summary = json.loads((tmp_path / "smoke.json").read_text())
    assert summary["passed"] and summary["mode"] == "read-only"
    assert summary["checks"][1]["facts"]["http_status"] == 503

    assert required.returncode == 1, required.stdout + required.stderr
    assert lines_of(required)["decision"].startswith("FAIL")
    assert "a decision is required (--require-decision)" in required.stdout
    assert "Traceback" not in optional.stderr + required.stderr

    assert every_object(port) == before  # not one object put, overwritten or deleted in any bucket


def test_the_full_smoke_test_trains_on_a_generated_dataset_and_asks_for_a_decision(
    local_up: tuple[Running, int], tmp_path: Path
) -> None:
    running, port = local_up
    stack = outputs(port)
    not_yet = cd4ml(port, "smoke", "--code-version", "dev")  # before CI's publish step: refused, nothing uploaded
    assert not_yet.returncode == 1
    assert lines_of(not_yet)["code"].startswith("FAIL") and "cd4ml model publish --bucket" in not_yet.stdout
    assert lines_of(not_yet)["training run"].startswith("SKIP")
    published = cd4ml(port, "model", "publish", "--bucket", stack["ArtifactsBucketName"], "--version", "dev")
    assert published.returncode == 0, published.stderr

    # a fixed seed: the run registers a model (a clock-seeded dataset may be gated out, and the next test needs the
    # model this run deploys)
    result = cd4ml(
        port,
        "smoke",
        "--code-version",
        "dev",
        "--seed",
        str(SEED),
        "--timeout",
        "240",
        "--json",
        tmp_path / "smoke.json",
    )

    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{running.output[-3000:]}"
    checks = lines_of(result)
    assert list(checks) == ["stack", "code", "training run", "decision"]
    assert all(line.startswith("PASS") for line in checks.values()), result.stdout
    assert "code version dev published" in checks["code"]
    assert "ValidateData: validating the dataset against its contract" in result.stdout  # the states, as they come
    summary = json.loads((tmp_path / "smoke.json").read_text())
    run = next(c for c in summary["checks"] if c["name"] == "training run")["facts"]
    assert run["run_status"] == "succeeded", run
    assert run["states"][0] == "ValidateData" and run["states"][-1] == "ModelRegistered"
    today = datetime.now(UTC).date().isoformat()
    assert run["dataset_uri"].startswith(f"s3://{stack['RawDataBucketName']}/datasets/orders/{today}/smoke/")
    execution = client("stepfunctions", port).describe_execution(executionArn=run["execution_arn"])
    assert execution["status"] == "SUCCEEDED" and execution["name"] == run["run_id"]
    decision = next(c for c in summary["checks"] if c["name"] == "decision")["facts"]
    assert decision["http_status"] == 200 or decision["no_model_in_service"]


def test_read_only_decides_once_the_registered_model_serves(local_up: tuple[Running, int]) -> None:
    _, port = local_up
    sagemaker = client("sagemaker", port)
    deadline = time.monotonic() + DEPLOYED_TIMEOUT_S
    while True:  # dev approves what passes the gate: the previous test's model is being deployed
        endpoints = {e["EndpointName"]: e["EndpointStatus"] for e in sagemaker.list_endpoints()["Endpoints"]}
        if endpoints.get(ENDPOINT) == "InService":
            break
        assert time.monotonic() < deadline, f"{ENDPOINT} not InService after {DEPLOYED_TIMEOUT_S:.0f}s: {endpoints}"
        time.sleep(1)

    result = cd4ml(port, "smoke", "--read-only", "--require-decision")

    assert result.returncode == 0, result.stdout + result.stderr
    decision = lines_of(result)["decision"]
    assert decision.startswith("PASS") and " by model version " in decision
    assert any(word in decision for word in ("approve", "review", "decline"))


INCOMPLETE_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Topic:
    Type: AWS::SNS::Topic
Outputs:
{outputs}
"""


@pytest.fixture
def incomplete_stack(tmp_path: Path) -> Iterator[int]:
    """A stack with every output the smoke test reads but DecisionApiUrl, on a local cloud of its own."""
    listed = "\n".join(f"  {name}:\n    Value: !Ref Topic" for name in REQUIRED_OUTPUTS if name != "DecisionApiUrl")
    template = tmp_path / "template.yaml"
    template.write_text(INCOMPLETE_TEMPLATE.format(outputs=listed), encoding="utf-8")
    port = free_port()
    running = start_local_up("--template", template, "--stack-name", "cd4ml-incomplete", "--port", port)
    try:
        running.wait_for_line(r"^Local cloud ready on ", READY_TIMEOUT_S)
        yield port
    finally:
        running.stop(60)


def test_a_stack_missing_an_output_or_missing_altogether_fails_naming_it(incomplete_stack: int) -> None:
    port = incomplete_stack

    missing_output = cd4ml(port, "smoke", "--stack-name", "cd4ml-incomplete", "--code-version", "dev")
    missing_stack = cd4ml(port, "smoke", "--read-only")  # samconfig's dev stack is not on this cloud

    assert missing_output.returncode == 1
    stack_line = lines_of(missing_output)["stack"]
    assert stack_line.startswith("FAIL") and "stack cd4ml-incomplete has no output DecisionApiUrl (it has: " in (
        stack_line
    )
    assert [line[:4] for line in lines_of(missing_output).values()] == ["FAIL", "SKIP", "SKIP", "SKIP"]
    assert missing_stack.returncode == 1
    assert f"stack {STACK} does not exist here" in lines_of(missing_stack)["stack"]
    for result in (missing_output, missing_stack):
        assert "Traceback" not in result.stdout + result.stderr
        assert result.stdout.splitlines()[-1].startswith("smoke test FAILED: stack")
