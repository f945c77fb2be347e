"""Every line a function logs for a run carries the id a person follows (`cd4ml logs <id>`) as powertools'
`correlation_id`: the run id from the starter that names the run to the tasks and the job-completion callback, the
deployment's execution name, the monitoring window, the Kinesis batch; and a warm function's next invocation never
carries the previous one's id."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from cd4ml_shared.errors import InvalidPayload
from moto_world import create_stack_buckets, create_token_table, create_waiting_state_machine
from test_deploy_model_handler import ENDPOINT
from test_deploy_model_handler import ENVIRONMENT as DEPLOY_ENVIRONMENT
from test_start_pipeline_handler import ENVIRONMENT as STARTER_ENVIRONMENT
from test_start_pipeline_handler import STATE_MACHINE

from cd4ml.data import generate_orders, write_dataset

RUN_ID = "orders-2026-11-25-3cf9a8ac133a728a"
TRAINING_JOB = "cd4ml-3cf9a8ac133a728a-train-0"
TOKENS = "cd4ml-dev-TaskTokenTable"
RAW, ARTIFACTS = "cd4ml-dev-rawdatabucket-example", "cd4ml-dev-artifactsbucket-example"


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    """The structured lines the function printed (its EMF metric documents left out)."""
    lines = []
    for text in capsys.readouterr().out.splitlines():
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if isinstance(record, dict) and "level" in record:
            lines.append(record)
    return lines


def test_the_starter_s_run_started_line_carries_the_run_it_named(load_function, sample_event, context, capsys):
    create_waiting_state_machine(STATE_MACHINE, "cd4ml-dev-TrainingPipelineRole")
    app = load_function("start_pipeline", STARTER_ENVIRONMENT)
    run_id = sample_event("training_pipeline_input.json")["run_id"]

    app.handler(sample_event("s3_object_created.json"), context)

    [started] = [line for line in log_lines(capsys) if line["message"] == "run started"]
    assert started["correlation_id"] == run_id and started["run_id"] == run_id


def test_a_task_s_lines_carry_the_run_id_of_its_payload(load_function, sample_event, context, capsys, tmp_path):
    s3 = create_stack_buckets(RAW, ARTIFACTS)
    path = tmp_path / "orders.csv"
    write_dataset(generate_orders(300, seed=1, start=datetime.now(UTC) - timedelta(days=7), days=7), path)
    key = "datasets/orders/2026-11-25/orders.csv"
    put = s3.put_object(Bucket=RAW, Key=key, Body=path.read_bytes())
    run = sample_event("training_pipeline_input.json")
    run["dataset"].update(key=key, version_id=put["VersionId"], etag=put["ETag"].strip('"'))
    app = load_function("validate_dataset", {"ARTIFACTS_BUCKET": ARTIFACTS, "DATASET_MAX_AGE_DAYS": "30"})

    app.handler(run, context)

    lines = log_lines(capsys)
    assert lines and {line["correlation_id"] for line in lines} == {run["run_id"]}


def test_the_job_completion_callback_follows_the_run_whose_task_waits(
    aws, load_function, sample_event, context, capsys
):
    create_token_table(TOKENS)  # holding the Train task's token, as start_job stored it
    boto3.resource("dynamodb").Table(TOKENS).put_item(
        Item={"job_name": TRAINING_JOB, "token": "token-1", "run_id": RUN_ID, "kind": "training", "expires_at": 1}
    )
    job_completion = load_function("job_completion", {"TOKEN_TABLE": TOKENS})
    event = sample_event("sagemaker_training_job_completed.json")

    job_completion.handler(event, context)
    resumed = log_lines(capsys)
    job_completion.handler(event, context)  # the same event again: no task waits any more
    again = log_lines(capsys)

    assert [(line["message"], line["correlation_id"]) for line in resumed] == [("execution resumed", RUN_ID)]
    # warm, the second invocation starts from the event's own id, not from the previous run's
    assert [(line["message"], line["correlation_id"]) for line in again] == [
        ("no waiting task for this job", event["id"])
    ]


def test_a_kinesis_batch_is_followed_by_its_shard_and_first_sequence_number(
    aws, load_function, sample_event, context, capsys
):
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    app = load_function("record_feedback", {"ARTIFACTS_BUCKET": ARTIFACTS})
    event = sample_event("kinesis_ground_truth_batch.json")

    app.handler(event, context)

    lines = log_lines(capsys)
    assert lines and {line["correlation_id"] for line in lines} == {event["Records"][0]["eventID"]}
    assert event["Records"][0]["eventID"].startswith("shardId-000000000000:")


MONITORING = {
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "ENDPOINT_NAME": "cd4ml-dev-fraud",
    "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
    "MONITOR_START_OFFSET_S": "172800",
    "MONITOR_END_OFFSET_S": "86400",
}


def test_a_monitoring_run_is_followed_by_the_window_it_measures(aws, load_function, sample_event, context, capsys):
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    app = load_function("monitor_window", MONITORING)

    result = app.handler(sample_event("scheduled_event.json"), context)  # nothing serves: the window is skipped

    [skipped] = log_lines(capsys)
    assert skipped["message"] == "window not measured"
    assert skipped["correlation_id"] == result["window"] == "20261123T120000Z--20261124T120000Z"


def test_a_monitoring_run_that_failed_is_announced_under_its_execution_name(aws, load_function, context, capsys):
    app = load_function("announce_breach", MONITORING)  # no topic: the announcement is the log line
    name = "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    error = {"Error": "NoSuchKey", "Cause": "captures gone"}
    execution = f"arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-monitoring:{name}"

    app.handler({"failed": True, "error": error, "execution": execution}, context)
    app.handler({"failed": True, "error": error}, context)  # warm, and a payload that names no execution

    first, second = log_lines(capsys)
    assert (first["message"], first["correlation_id"]) == ("monitoring failed", name)
    assert second["message"] == "monitoring failed" and "correlation_id" not in second  # not the previous run's


def test_a_deployment_step_is_followed_by_the_execution_it_belongs_to(aws, load_function, context):
    create_token_table(DEPLOY_ENVIRONMENT["TOKEN_TABLE"])
    app = load_function("deploy_model", DEPLOY_ENVIRONMENT)
    package = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{ENDPOINT}/{{}}"
    deployment = {
        "model_package_arn": package.format(3),
        "version": 3,
        "endpoint_name": ENDPOINT,
        "model_name": f"{ENDPOINT}-v3",
        "config_name": f"{ENDPOINT}-v3",
        "started_at": 1795610000.0,
    }

    # a step the function refuses: what it did is not the point here, which deployment its lines name is
    with pytest.raises(InvalidPayload, match="unknown step"):
        app.handler({"step": "no-such-step", "deployment": deployment}, context)
    first = app.logger.get_correlation_id()
    with pytest.raises(InvalidPayload, match="unknown step"):
        app.handler({"step": "no-such-step", "deployment": {**deployment, "rollback_of": package.format(4)}}, context)

    assert (first, app.logger.get_correlation_id()) == ("deploy-v3", "rollback-v4")
