"""RecordOutcomeFunction: every path of a run ends with its outcome.json, its HTML report and one notification; a
failed run first stops the jobs it left running."""

import json

import boto3
import pytest
from botocore.stub import Stubber

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:orders-run"


@pytest.fixture
def world(aws):
    """The artifacts bucket and the notification topic, with an SQS queue subscribed to read what it sends."""
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="cd4ml-dev-NotificationTopic")["TopicArn"]
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return {"topic": topic, "queue": queue}


@pytest.fixture
def app(world, load_function):
    return load_function("record_outcome", {"NOTIFICATION_TOPIC_ARN": world["topic"]})


@pytest.fixture
def state(sample_event):
    """The execution's state as the quarantine path leaves it: the run's input and the validation result."""
    run = sample_event("training_pipeline_input.json")
    validation = {"passed": False, "reason": "rows.duplicate_key", "summary": "12 duplicate order_id", "sha256": "s"}
    return {**run, "validation": {**validation, "rows": 2000, "report_uri": "s3://raw/orders.quality.json"}}


def notifications(world) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def outcome_of(run_id: str) -> dict:
    body = boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=f"runs/{run_id}/outcome.json")["Body"].read()
    return json.loads(body)


def test_a_quarantined_run_leaves_its_record_report_and_notification(app, world, state, context):
    event = {"status": "quarantined", "state": state, "execution_arn": EXECUTION, "started_at": "2026-11-25T12:00Z"}

    result = app.handler(event, context)

    prefix = f"s3://{ARTIFACTS}/runs/{state['run_id']}"
    assert result == {
        "status": "quarantined",
        "report_uri": f"{prefix}/report.html",
        "outcome_uri": f"{prefix}/outcome.json",
    }
    outcome = outcome_of(state["run_id"])
    assert outcome["reasons"] == ["rows.duplicate_key: 12 duplicate order_id"]
    assert outcome["execution_arn"] == EXECUTION and outcome["quality_report_uri"] == "s3://raw/orders.quality.json"
    report = boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=f"runs/{state['run_id']}/report.html")
    assert report["ContentType"] == "text/html; charset=utf-8" and state["run_id"] in report["Body"].read().decode()
    (message,) = notifications(world)
    assert message["Subject"] == f"cd4ml dataset quarantined: {state['run_id']}"
    assert message["MessageAttributes"]["status"]["Value"] == "quarantined"
    assert json.loads(message["Message"])["status"] == "quarantined"


def test_a_failed_run_stops_the_jobs_it_left_running_and_records_the_error(app, world, state, context):
    prefix = state["job_prefix"]
    jobs = Stubber(app.sagemaker)
    training = {"TrainingJobName": f"{prefix}-train-0", "TrainingJobStatus": "InProgress"}
    summary = {**training, "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{prefix}-train-0"}
    jobs.add_response("list_training_jobs", {"TrainingJobSummaries": [{**summary, "CreationTime": 0}]})
    jobs.add_response("stop_training_job", {}, {"TrainingJobName": f"{prefix}-train-0"})
    jobs.add_response("list_processing_jobs", {"ProcessingJobSummaries": []})
    jobs.activate()
    error = {"Error": "States.Timeout", "Cause": "the Train task timed out"}
    event = {"status": "failed", "state": {**state, "error": error}, "execution_arn": EXECUTION, "started_at": ""}

    result = app.handler(event, context)

    assert result["status"] == "failed"
    jobs.assert_no_pending_responses()
    outcome = outcome_of(state["run_id"])
    assert outcome["stopped_jobs"] == [f"{prefix}-train-0"]
    assert outcome["reasons"] == ["States.Timeout: the Train task timed out"]
    (message,) = notifications(world)
    assert message["Subject"] == f"cd4ml run failed: {state['run_id']}"
