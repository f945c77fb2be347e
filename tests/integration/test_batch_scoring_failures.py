"""Batch scoring's failure paths on the local cloud (template.yaml): a scoring run that fails or times out after its
batch transform started stops that transform (a task that gives up does not stop its job: a transform left running
costs instances for nothing), and ends with its own error.

No model is trained: each version is registered straight into the stack's group, Approved, with serving code that
fails or hangs (its model is never read), an evaluation for its operating point, and the deployment workflow's
trigger disabled, so the scoring run finds the version in the registry as it does before any deployment."""

from __future__ import annotations

import io
import json
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.run_input import DatasetRef, RunInput, Timeouts
from cd4ml_shared.scoring import scoring_run_id, transform_job_name

from cd4ml.data import generate_orders
from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
SCORING_START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=2)
PARAMETERS = {"Stage": "dev", "DecisionReviewBelow": "0.5", "DecisionDeclineAbove": "0"}
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"  # the default image in us-east-1

FAILING = b"""
def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    raise RuntimeError("this version cannot score")
"""
# scores nothing and never answers: the transform runs until it is stopped
HANGING = b"""
import time


def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    time.sleep(3600)
"""


@pytest.fixture(scope="module")
def cloud(root: Path):
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS) as cloud:
        PipelineDriver(cloud).publish_code("dev")  # the feature job's code
        events = cloud.client("events")
        events.disable_rule(Name=cloud.physical_id("StartDeploymentFunctionModelPackageApproved"))
        yield cloud


def archive(files: dict[str, bytes]) -> bytes:
    sink = io.BytesIO()
    with tarfile.open(fileobj=sink, mode="w:gz") as tar:
        for name, body in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return sink.getvalue()


def register(cloud: LocalCloud, name: str, script: bytes) -> str:
    """An Approved version of the stack's group that serves with `script`; its ARN."""
    bucket, s3 = cloud.physical_id("ArtifactsBucket"), cloud.client("s3")
    s3.put_object(Bucket=bucket, Key=f"versions/{name}/model.tar.gz", Body=archive({"unused.txt": b""}))
    s3.put_object(Bucket=bucket, Key=f"versions/{name}/sourcedir.tar.gz", Body=archive({"inference.py": script}))
    evaluation = {"binary_classification_metrics": {"threshold": {"value": 0.5}}}
    s3.put_object(Bucket=bucket, Key=f"versions/{name}/evaluation.json", Body=json.dumps(evaluation).encode())
    container = {
        "Image": IMAGE,
        "ModelDataUrl": f"s3://{bucket}/versions/{name}/model.tar.gz",
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/versions/{name}/sourcedir.tar.gz",
        },
    }
    answer = cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=cloud.stack.outputs["ModelPackageGroupName"],
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{bucket}/versions/{name}/evaluation.json",
                }
            }
        },
        ModelApprovalStatus="Approved",
    )
    return str(answer["ModelPackageArn"])


def execution_arn(cloud: LocalCloud, name: str) -> str:
    return cloud.execution_arn("BatchInferenceStateMachine", name)


def ended(cloud: LocalCloud, arn: str, timeout: float = 240.0) -> dict[str, Any]:
    return cloud.wait_for_execution(arn, timeout, started_by_event=True)


def transform_status(cloud: LocalCloud, name: str, wanted: str, timeout: float = 60.0) -> str:
    """The transform job's status once it is `wanted` (or whatever it is when `timeout` runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        status = str(cloud.client("sagemaker").describe_transform_job(TransformJobName=name)["TransformJobStatus"])
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def outcome(cloud: LocalCloud, run_id: str) -> dict[str, Any]:
    body = cloud.client("s3").get_object(
        Bucket=cloud.physical_id("ArtifactsBucket"), Key=f"runs/{run_id}/scoring/outcome.json"
    )["Body"]
    document: dict[str, Any] = json.loads(body.read())
    return document


@pytest.fixture(scope="module")
def dataset(cloud: LocalCloud) -> DatasetRef:
    """A file of orders to score, uploaded under scoring/ while the failing version is the newest approved one: its
    own run fails in the transform (test_a_transform_that_fails_...)."""
    register(cloud, "failing", FAILING)
    orders = generate_orders(300, seed=11, start=SCORING_START, days=2).drop_columns([ORDERS.label.name])
    return PipelineDriver(cloud).upload(orders, f"scoring/orders/{NOW:%Y-%m-%d}/fails.csv")


def test_a_transform_that_fails_ends_the_run_with_the_transforms_own_error(
    cloud: LocalCloud, dataset: DatasetRef
) -> None:
    run_id = scoring_run_id(dataset)

    execution = ended(cloud, execution_arn(cloud, run_id))

    # the failure path's stop finds the job already ended: the run keeps the transform's error, nothing else
    assert execution["status"] == "FAILED" and execution["error"] == "SageMaker.TransformJobFailed", execution
    assert "this version cannot score" in execution["cause"]
    record = outcome(cloud, run_id)
    assert record["status"] == "failed" and record["error"] == "SageMaker.TransformJobFailed"
    assert record["stopped_jobs"] == [] and "stop_error" not in record


def test_a_run_that_times_out_while_its_transform_runs_stops_the_transform(
    cloud: LocalCloud, dataset: DatasetRef
) -> None:
    ended(cloud, execution_arn(cloud, scoring_run_id(dataset)))  # the upload's own run is over
    register(cloud, "hanging", HANGING)  # the newest approved version now
    stack_prefix = cloud.client("lambda").get_function_configuration(
        FunctionName=cloud.physical_id("StartScoringFunction")
    )["Environment"]["Variables"]["JOB_NAME_PREFIX"]
    # the same file scored again by a run of its own, whose tasks give up after 40 s rather than after the job's
    # limit plus a margin (an hour and more): the starter's input with shorter timeouts
    run = RunInput(
        run_id="score-hangs-" + scoring_run_id(dataset)[-16:],
        job_prefix=f"{stack_prefix}-hangs{scoring_run_id(dataset)[-8:]}",
        dataset=dataset,
        artifacts_bucket=cloud.physical_id("ArtifactsBucket"),
        timeouts=Timeouts(processing=40, training=40),
        purpose="scoring",
    )
    cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.physical_id("BatchInferenceStateMachine"), name=run.run_id, input=run.model_dump_json()
    )
    job = transform_job_name(run.job_prefix, 0)

    execution = ended(cloud, execution_arn(cloud, run.run_id), timeout=300)

    # Step Functions will not end a run on a States.* name: Scoring.Failed, with the timeout in the cause
    assert execution["status"] == "FAILED" and execution["error"] == "Scoring.Failed", execution
    assert execution["cause"].startswith("States.Timeout"), execution["cause"]
    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])
    timed_out = [e for e in history["events"] if e["type"] == "TaskTimedOut"]
    assert timed_out, "the Transform task should have timed out"
    assert transform_status(cloud, job, "Stopped") == "Stopped"
    record = outcome(cloud, run.run_id)
    assert record["stopped_jobs"] == [job] and record["error"] == "States.Timeout"
