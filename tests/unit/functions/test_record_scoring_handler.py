"""RecordScoringFunction: a failed batch-scoring run stops the feature job and batch transform it left running (only
its own, once its execution is confirmed running), and a stop that cannot be made never changes how the run ends:
the outcome and the notification are still written, and the state machine's failure path keeps the run's error."""

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto_world import create_notification_topic

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-batch-inference"
DEFINITION = Path(__file__).resolve().parents[3] / "statemachines" / "batch_inference.asl.json"
TIMEOUT = {"Error": "States.Timeout", "Cause": ""}
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:"


@pytest.fixture
def world(aws):
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    return create_notification_topic()


@pytest.fixture
def app(world, load_function):
    environment = {
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "ENDPOINT_NAME": "cd4ml-dev-fraud",
        "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
        "NOTIFICATION_TOPIC_ARN": world["topic"],
        "STATE_MACHINE_ARN": STATE_MACHINE,
        "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
    }
    return load_function("record_scoring", environment)


@pytest.fixture
def run(sample_event) -> dict:
    """A scoring run's input (as start_scoring makes it), started on this stack's scoring state machine: moto's
    plain backend leaves the execution RUNNING, as it is while RecordFailure runs."""
    run = sample_event("training_pipeline_input.json")
    run = {**run, "run_id": "score-" + run["run_id"], "purpose": "scoring"}
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}
    role = "arn:aws:iam::123456789012:role/cd4ml-dev-BatchInferenceRole"
    sfn.create_state_machine(name=STATE_MACHINE.rsplit(":", 1)[1], definition=json.dumps(definition), roleArn=role)
    run["execution_arn"] = sfn.start_execution(
        stateMachineArn=STATE_MACHINE, name=run["run_id"], input=json.dumps(run)
    )["executionArn"]
    return run


def failed(run: dict, error: dict = TIMEOUT) -> dict:
    state = {key: value for key, value in run.items() if key != "execution_arn"}
    return {"status": "failed", "state": {**state, "error": error}, "execution_arn": run["execution_arn"]}


def outcome_of(run_id: str) -> dict:
    body = boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=f"runs/{run_id}/scoring/outcome.json")["Body"].read()
    return json.loads(body)


def notifications(world) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=world["queue"], MaxNumberOfMessages=10)
    return [json.loads(json.loads(m["Body"])["Message"]) for m in messages.get("Messages", [])]


def summaries(kind: str, *names: str) -> dict:
    key = kind.capitalize()
    listed = [
        {f"{key}JobName": name, f"{key}JobArn": f"{JOB_ARN}{kind}-job/{name}", f"{key}JobStatus": "InProgress"}
        for name in names
    ]
    for summary in listed:
        summary["CreationTime"] = 0
    return {f"{key}JobSummaries": listed}


def test_a_failed_run_stops_its_own_transform_and_feature_job_and_skips_one_that_already_ended(
    app, world, run, context
):
    prefix = run["job_prefix"]
    listing = {"NameContains": prefix, "StatusEquals": "InProgress", "MaxResults": 100}
    jobs = Stubber(app.sagemaker)
    # NameContains also finds another run's jobs whose prefix merely contains this one's
    jobs.add_response("list_processing_jobs", summaries("processing", f"{prefix}-scoring-0", f"{prefix}0-scoring-0"))
    jobs.add_response("stop_processing_job", {}, {"ProcessingJobName": f"{prefix}-scoring-0"})
    jobs.add_response(
        "list_transform_jobs",
        summaries("transform", f"{prefix}-batch-0", f"{prefix}-batch-1", f"x-{prefix}-batch-0"),
        listing,
    )
    # batch-0 ended between the listing and its stop: SageMaker refuses, and nothing is left to do
    jobs.add_client_error(
        "stop_transform_job",
        "ValidationException",
        "The request was rejected because the transform job is in status Completed.",
        expected_params={"TransformJobName": f"{prefix}-batch-0"},
    )
    jobs.add_response("stop_transform_job", {}, {"TransformJobName": f"{prefix}-batch-1"})
    jobs.activate()

    result = app.handler(failed(run), context)

    jobs.assert_no_pending_responses()
    assert result["status"] == "failed"
    outcome = outcome_of(run["run_id"])
    assert outcome["stopped_jobs"] == [f"{prefix}-scoring-0", f"{prefix}-batch-1"]
    assert outcome["error"] == "States.Timeout" and "stop_error" not in outcome
    (message,) = notifications(world)
    assert message["status"] == "failed" and message["stopped_jobs"] == outcome["stopped_jobs"]


def test_a_stop_that_sagemaker_refuses_is_recorded_and_the_run_keeps_its_own_error(app, world, run, context):
    prefix = run["job_prefix"]
    jobs = Stubber(app.sagemaker)
    jobs.add_response("list_processing_jobs", summaries("processing"))
    jobs.add_response("list_transform_jobs", summaries("transform", f"{prefix}-batch-0"))
    jobs.add_client_error("stop_transform_job", "AccessDeniedException", "not authorized to StopTransformJob")
    jobs.activate()
    error = {"Error": "TransformJobFailed", "Cause": "ClientError: request 3 failed"}

    result = app.handler(failed(run, error), context)  # returns: RecordFailure goes on to the run's own Fail

    jobs.assert_no_pending_responses()
    assert result["status"] == "failed"
    outcome = outcome_of(run["run_id"])
    assert outcome["stopped_jobs"] == [] and "AccessDeniedException" in outcome["stop_error"]
    assert outcome["error"] == "TransformJobFailed" and outcome["cause"] == error["Cause"]
    assert [m["status"] for m in notifications(world)] == ["failed"]


@pytest.mark.parametrize("forgery", ["another run's execution", "a finished execution", "the stack's whole prefix"])
def test_a_failed_run_payload_that_is_not_a_running_execution_stops_nothing(app, world, run, context, forgery):
    event = failed(run)
    if forgery == "another run's execution":
        event["state"]["run_id"] = "score-orders-2026-11-26-0000000000000000"
    elif forgery == "a finished execution":
        boto3.client("stepfunctions").stop_execution(executionArn=run["execution_arn"])
    else:
        event["state"]["job_prefix"] = "cd4ml-1a2b3c4d"  # would match every job of the stack
    jobs = Stubber(app.sagemaker)
    jobs.activate()  # no listing, no stop: any SageMaker call fails the test

    assert app.handler(event, context)["status"] == "failed"

    jobs.assert_no_pending_responses()
    assert outcome_of(event["state"]["run_id"])["stopped_jobs"] == []


def test_a_scored_run_stops_nothing(app, world, run, context):
    jobs = Stubber(app.sagemaker)
    jobs.activate()
    state = {key: value for key, value in run.items() if key != "execution_arn"}
    event = {"status": "succeeded", "state": {**state, "scores": {"rows": 3}}, "execution_arn": run["execution_arn"]}

    assert app.handler(event, context)["status"] == "succeeded"

    assert "stopped_jobs" not in outcome_of(run["run_id"])


def test_every_failure_after_a_job_can_start_reaches_record_failure_and_ends_with_the_runs_own_error():
    """The state machine's side: a job can be running from BuildFeatures on; every such task (and every other)
    catches States.ALL into RecordFailure with the error in $.error, RecordFailure hands its function the state and the
    execution (what the stop is confirmed against), and whatever RecordFailure does, the run ends on $.error."""
    states = json.loads(DEFINITION.read_text())["States"]
    for name in ("ValidateData", "FindModel", "BuildFeatures", "Transform", "WriteScores"):
        (catch,) = states[name]["Catch"]
        assert catch == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}, name
    record = states["RecordFailure"]
    assert record["Parameters"] == {"status": "failed", "state.$": "$", "execution_arn.$": "$$.Execution.Id"}
    assert record["ResultPath"] == "$.outcome" and record["Next"] == "FailureKind"
    assert [c["Next"] for c in record["Catch"]] == ["FailureKind"] and record["Catch"][0]["ResultPath"] != "$.error"
    kind = states["FailureKind"]
    assert kind["Default"] == "ScoringFailed" and states["ScoringFailed"]["ErrorPath"] == "$.error.Error"
    (states_error,) = kind["Choices"]
    described = states[states_error["Next"]]
    assert states[described["Next"]]["Error"] == "Scoring.Failed"
    assert "$.error.Error" in described["Parameters"]["cause.$"]
