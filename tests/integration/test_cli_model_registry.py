"""A person reviewing models on a staging-like stack: `cd4ml model list | approve | reject` in subprocesses against a
running `cd4ml local up` of the project template (registration left for a person), and the model package events the
approval emits as `local up` prints them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cd4ml_shared.registry import Lineage, model_package_request
from local_up import ROOT, Running, cli_env, client, free_port, start_local_up

pytestmark = pytest.mark.integration

READY_TIMEOUT_S = 120.0
STACK = "cd4ml-dev"  # samconfig.toml's dev stack: what the commands find without --stack-name
GROUP = f"{STACK}-fraud"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
APPROVALS = "model-approvals"  # a reviewer's own rule on approvals, so the test sees the event's content


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, int]]:
    port = free_port()
    work_dir = tmp_path_factory.mktemp("registry") / "work"
    running = start_local_up(
        "--config-env",
        "dev",
        "-p",
        "ModelApprovalStatus=PendingManualApproval",
        "--port",
        str(port),
        "--work-dir",
        work_dir,
    )
    try:
        running.wait_for_line(r"^Local cloud ready on ", READY_TIMEOUT_S)
        yield running, port
    finally:
        running.stop(60)


def cd4ml(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`cd4ml ARGS... --endpoint-url` as a user runs it with the credentials `local up` prints."""
    env = {**cli_env(), "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run(
        [sys.executable, "-m", "cd4ml.cli", *args, "--endpoint-url", f"http://127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def register(sagemaker: Any, run_id: str, pr_auc: float) -> str:
    """A version as `register_model` registers it in staging."""
    lineage = Lineage(
        run_id=run_id,
        execution_arn=f"arn:aws:states:us-east-1:123456789012:execution:pipeline:{run_id}",
        dataset_uri="s3://raw/datasets/orders/2026-12-01/orders.csv",
        dataset_version="v1",
        dataset_sha256="ab" * 32,
        dataset_rows=1000,
        code_version="dev",
        code_sha256="cd" * 32,
        training_job_arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{run_id}",
        hyperparameters={"max_depth": "6"},
        quality_report_uri=f"s3://artifacts/runs/{run_id}/quality.json",
        evaluation_uri=f"s3://artifacts/runs/{run_id}/evaluation.json",
    )
    request = model_package_request(
        group_name=GROUP,
        run_id=run_id,
        image=IMAGE,
        model_data_url=f"s3://artifacts/runs/{run_id}/model.tar.gz",
        sourcedir_uri="s3://artifacts/code/dev/sourcedir.tar.gz",
        evaluation_uri=lineage.evaluation_uri,
        quality_report_uri=lineage.quality_report_uri,
        approval="PendingManualApproval",
        lineage=lineage,
        metrics={"pr_auc": pr_auc, "auc": 0.93, "f1": 0.61},
    )
    arn: str = sagemaker.create_model_package(**request)["ModelPackageArn"]
    return arn


def test_a_reviewer_lists_approves_and_rejects_versions(local_up: tuple[Running, int], tmp_path: Path) -> None:
    running, port = local_up
    sagemaker, sqs, events = client("sagemaker", port), client("sqs", port), client("events", port)
    queue_url = sqs.create_queue(QueueName=APPROVALS)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved", "Rejected"]},
    }
    events.put_rule(Name=APPROVALS, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=APPROVALS, Targets=[{"Id": "queue", "Arn": queue_arn}])
    first = register(sagemaker, "orders-2026-12-01-aaaa", 0.7101)
    register(sagemaker, "orders-2026-12-02-bbbb", 0.7402)

    listed = cd4ml(port, "model", "list")
    assert listed.returncode == 0, listed.stderr
    table = listed.stdout.splitlines()
    assert table[0] == f"Model package group {GROUP}: 2 version(s)"
    assert table[1].split() == ["VERSION", "STATUS", "CREATED", "PR_AUC", "AUC", "F1", "RUN", "IN", "SERVICE"]
    assert table[2].split()[:2] == ["2", "PendingManualApproval"]
    assert table[2].split()[3:7] == ["0.7402", "0.9300", "0.6100", "orders-2026-12-02-bbbb"]
    assert table[3].split()[:2] == ["1", "PendingManualApproval"]

    approved = cd4ml(port, "model", "approve", "1", "--reason", "shadow traffic clean for a week")
    assert approved.returncode == 0, approved.stderr
    assert f"{GROUP} v1: PendingManualApproval -> Approved" in approved.stdout
    running.wait_for_line(
        rf"^\[events\] aws\.sagemaker / SageMaker Model Package State Change -> {APPROVALS} -> .*: delivered", 30
    )
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert (detail["ModelPackageVersion"], detail["ModelApprovalStatus"]) == (1, "Approved")
    assert detail["ApprovalDescription"].endswith(": shadow traffic clean for a week")
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    again = cd4ml(port, "model", "approve", first)
    assert again.returncode == 0, again.stderr
    assert "already Approved: nothing changed" in again.stdout

    refused = cd4ml(port, "model", "reject", "2")
    assert refused.returncode == 2 and "a rejection needs --reason" in refused.stderr
    unknown = cd4ml(port, "model", "approve", "9")
    assert unknown.returncode == 2 and f"{GROUP} has no version 9" in unknown.stderr

    rejected = cd4ml(port, "model", "reject", "2", "--reason", "recall drops on new merchants")
    assert rejected.returncode == 0, rejected.stderr
    listed = json.loads(cd4ml(port, "model", "list", "--json").stdout)
    assert [(v["version"], v["status"]) for v in listed["versions"]] == [(2, "Rejected"), (1, "Approved")]
    assert listed["versions"][0]["approval_description"].startswith("Rejected by arn:aws:")
    [message] = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=5)["Messages"]
    detail = json.loads(message["Body"])["detail"]
    assert (detail["ModelPackageVersion"], detail["ModelApprovalStatus"]) == (2, "Rejected")
