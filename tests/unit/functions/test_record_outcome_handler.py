"""RecordOutcomeFunction: every path of a run ends with its outcome.json, its HTML report and one notification; a
failed run first stops the jobs it left running."""

import json
import os
from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber
from cd4ml_shared.aws.reference import write_candidate
from cd4ml_shared.drift import Profile
from cd4ml_shared.stage_durations import stage_spans
from moto_world import create_notification_topic

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:orders-run"


@pytest.fixture
def world(aws):
    """The artifacts bucket and the notification topic, with an SQS queue subscribed to read what it sends."""
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    return create_notification_topic()


@pytest.fixture
def app(world, load_function):
    # the sample execution input (events/training_pipeline_input.json) names its jobs as a stack prefixed `cd4ml`
    environment = {
        "NOTIFICATION_TOPIC_ARN": world["topic"],
        "STATE_MACHINE_ARN": STATE_MACHINE,
        "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
    }
    return load_function("record_outcome", environment)


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


def running_execution(run_input: dict) -> str:
    """The run's execution, running on this stack's state machine (moto's plain backend leaves it RUNNING)."""
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
    role = "arn:aws:iam::123456789012:role/cd4ml-dev-TrainingPipelineRole"
    sfn.create_state_machine(name=STATE_MACHINE.rsplit(":", 1)[1], definition=json.dumps(definition), roleArn=role)
    return sfn.start_execution(stateMachineArn=STATE_MACHINE, name=run_input["run_id"], input=json.dumps(run_input))[
        "executionArn"
    ]


def failed(state: dict, execution_arn: str) -> dict:
    error = {"Error": "States.Timeout", "Cause": "the Train task timed out"}
    return {"status": "failed", "state": {**state, "error": error}, "execution_arn": execution_arn, "started_at": ""}


def test_a_failed_run_stops_only_its_own_jobs_and_records_the_error(app, world, state, context, sample_event):
    execution = running_execution(sample_event("training_pipeline_input.json"))
    prefix = state["job_prefix"]
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/"
    listed = [
        {"TrainingJobName": name, "TrainingJobArn": arn + name, "TrainingJobStatus": "InProgress", "CreationTime": 0}
        # NameContains also finds another run's job whose prefix merely contains this one's
        for name in (f"{prefix}-train-0", f"{prefix}0-train-0", f"x-{prefix}-train-1")
    ]
    jobs = Stubber(app.sagemaker)
    jobs.add_response("list_training_jobs", {"TrainingJobSummaries": listed, "NextToken": "page-2"})
    jobs.add_response("stop_training_job", {}, {"TrainingJobName": f"{prefix}-train-0"})
    jobs.add_response(
        "list_training_jobs",
        {"TrainingJobSummaries": [{**listed[0], "TrainingJobName": f"{prefix}-train-1"}]},
        {"NameContains": prefix, "StatusEquals": "InProgress", "MaxResults": 100, "NextToken": "page-2"},
    )
    jobs.add_response("stop_training_job", {}, {"TrainingJobName": f"{prefix}-train-1"})
    jobs.add_response("list_processing_jobs", {"ProcessingJobSummaries": []})
    jobs.activate()

    result = app.handler(failed(state, execution), context)

    assert result["status"] == "failed"
    jobs.assert_no_pending_responses()
    outcome = outcome_of(state["run_id"])
    assert outcome["stopped_jobs"] == [f"{prefix}-train-0", f"{prefix}-train-1"]
    assert outcome["reasons"] == ["States.Timeout: the Train task timed out"]
    (message,) = notifications(world)
    assert message["Subject"] == f"cd4ml run failed: {state['run_id']}"


@pytest.mark.parametrize(
    "forgery",
    [
        "a made-up run id",
        "another stack's execution",
        "another run's execution",
        "a finished execution",
        "another prefix than the run's",
    ],
)
def test_a_failed_run_payload_that_is_not_a_running_execution_stops_nothing(
    app, world, state, context, sample_event, forgery
):
    run_input = sample_event("training_pipeline_input.json")
    execution = running_execution(run_input)
    if forgery == "a made-up run id":
        state, execution = {**state, "run_id": "made-up"}, EXECUTION.replace("orders-run", "made-up")
    elif forgery == "another stack's execution":
        execution = execution.replace("cd4ml-dev-training-pipeline", "cd4ml-staging-training-pipeline")
    elif forgery == "another run's execution":
        state = {**state, "run_id": "orders-2026-11-26-0000000000000000"}
    elif forgery == "a finished execution":
        boto3.client("stepfunctions").stop_execution(executionArn=execution)
    else:
        state = {**state, "job_prefix": "cd4ml"}  # would match every job of the stack
    jobs = Stubber(app.sagemaker)
    jobs.activate()  # no listing, no stop: any SageMaker call fails the test

    result = app.handler(failed(state, execution), context)

    assert result["status"] == "failed"
    jobs.assert_no_pending_responses()
    assert outcome_of(state["run_id"])["stopped_jobs"] == []


def test_a_run_of_content_trained_before_is_recorded_as_a_duplicate_of_it(app, world, state, context):
    earlier = {"run_id": "orders-2026-11-24-0000", "model_package_arn": "arn:aws:sagemaker:us-east-1:1:pkg/g/1"}
    passed = {**state["validation"], "passed": True, "reason": "", "summary": "2000 rows passed orders checks"}
    duplicate = {**state, "validation": passed, "content": {"digest": "d" * 64, "earlier": earlier}}
    event = {"status": "duplicate", "state": duplicate, "execution_arn": EXECUTION, "started_at": ""}

    result = app.handler(event, context)

    assert result["status"] == "duplicate"
    outcome = outcome_of(state["run_id"])
    assert outcome["earlier_run"] == earlier and outcome["model_package_arn"] == earlier["model_package_arn"]
    assert outcome["reference"] == {"result": "not_promoting", "uri": None}
    (message,) = notifications(world)
    assert message["Subject"] == f"cd4ml same as an earlier run: {state['run_id']}"
    assert message["MessageAttributes"]["status"]["Value"] == "duplicate"


def test_a_registered_run_is_indexed_by_its_content_and_promotes_its_profile(app, world, state, context):
    s3 = boto3.client("s3")
    candidate = Profile(
        dataset="orders", rows=2000, time_min="2026-11-11T00:00Z", time_max="2026-11-25T00:00Z", label_rate=0.02
    )
    write_candidate(s3, ARTIFACTS, state["run_id"], candidate)
    registration = {"model_package_arn": "arn:aws:sagemaker:us-east-1:1:pkg/g/2", "version": 2}
    registered = {**state, "content": {"digest": "e" * 64, "earlier": None}, "registration": registration}
    event = {"status": "succeeded", "state": registered, "execution_arn": EXECUTION, "started_at": ""}

    app.handler(event, context)

    outcome = outcome_of(state["run_id"])
    assert outcome["reference"] == {"result": "first", "uri": f"s3://{ARTIFACTS}/reference/orders/profile.json"}
    index = json.loads(s3.get_object(Bucket=ARTIFACTS, Key=f"index/content/{'e' * 64}.json")["Body"].read())
    assert index["run_id"] == state["run_id"] and index["model_package_arn"] == registration["model_package_arn"]
    assert outcome["content_index_uri"] == f"s3://{ARTIFACTS}/index/content/{'e' * 64}.json"


def emf_documents(stdout: str) -> list[dict]:
    """The EMF documents among the function's stdout lines (its JSON log lines are the others)."""
    documents = []
    for line in stdout.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            documents.append(document)
    return documents


def registered_run(state: dict) -> dict:
    s3 = boto3.client("s3")
    candidate = Profile(
        dataset="orders", rows=2000, time_min="2026-11-11T00:00Z", time_max="2026-11-25T00:00Z", label_rate=0.02
    )
    write_candidate(s3, ARTIFACTS, state["run_id"], candidate)
    registration = {"model_package_arn": "arn:aws:sagemaker:us-east-1:1:pkg/g/2", "version": 2}
    registered = {**state, "content": {"digest": "e" * 64, "earlier": None}, "registration": registration}
    return {"status": "succeeded", "state": registered, "execution_arn": EXECUTION, "started_at": ""}


def test_a_run_publishes_how_long_each_of_its_states_took(app, world, state, context, sample_event, capsys):
    # the history as GetExecutionHistory answers it from inside RecordSuccess: entered, not exited
    events = sample_event("sfn_execution_history_train_succeeded.json")["events"]
    recording = next(e["id"] for e in events if e.get("stateEnteredEventDetails", {}).get("name") == "RecordSuccess")
    answered = [{**e, "timestamp": datetime.fromisoformat(e["timestamp"])} for e in events if e["id"] <= recording]
    history = Stubber(app.sfn)
    history.add_response(
        "get_execution_history",
        {"events": answered},
        {"executionArn": EXECUTION, "maxResults": 1000, "includeExecutionData": False},
    )
    history.activate()

    app.handler(registered_run(state), context)

    history.assert_no_pending_responses()
    published = [d for d in emf_documents(capsys.readouterr().out) if "StageSeconds" in d]
    expected = [(s.stage, [s.seconds]) for s in stage_spans(answered)]
    assert [(d["Stage"], d["StageSeconds"]) for d in published] == expected
    assert [stage for stage, _ in expected] == [
        "ValidateData",
        "FindEarlierRun",
        "BuildFeatures",
        "Train",
        "FindChampion",
        "Evaluate",
        "Gate",
        "Register",
    ]
    for document in published:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        # the stack's service (the template's POWERTOOLS_SERVICE_NAME) beside the stage, as the dashboard reads it
        assert directive["Namespace"] == "cd4ml" and directive["Dimensions"] == [["Stage", "service"]]
        assert document["service"] == os.environ["POWERTOOLS_SERVICE_NAME"]
        assert directive["Metrics"] == [{"Name": "StageSeconds", "Unit": "Seconds"}]


def test_a_history_that_cannot_be_read_still_leaves_the_run_recorded(app, world, state, context, capsys, caplog):
    # EXECUTION does not exist: GetExecutionHistory answers ExecutionDoesNotExist
    event = {"status": "quarantined", "state": state, "execution_arn": EXECUTION, "started_at": ""}

    assert app.handler(event, context)["status"] == "quarantined"

    (document,) = emf_documents(capsys.readouterr().out)
    assert document["StageDurationsUnread"] == [1.0] and document["Runs_quarantined"] == [1.0]
    assert "StageSeconds" not in document
    (warning,) = [r for r in caplog.records if r.getMessage().startswith("stage durations not published")]
    assert warning.levelname == "WARNING" and "ExecutionDoesNotExist" in warning.__dict__["why"]
    assert outcome_of(state["run_id"])["status"] == "quarantined"
