"""A timed-out task ends with a bare `States.Timeout` and no cause; the run's record explains it from the execution
history: the state, the SageMaker job it waited for (the attempt that was running) and the limit in seconds."""

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from cd4ml_shared.aws.history import timeout_events
from cd4ml_shared.outcome import needs_timeout_cause, run_record, timeout_cause

EVENTS = Path(__file__).resolve().parents[3] / "events"
EXECUTION = (
    "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:orders-2026-11-25-f3dbe6d10cbde9ca"
)


@pytest.fixture
def history() -> dict:
    """GetExecutionHistory with reverseOrder, newest first (the run timed out in Train's second attempt)."""
    return json.loads((EVENTS / "sfn_execution_history_train_timed_out.json").read_text())


def test_a_timed_out_waiting_task_names_its_state_job_and_limit(history):
    cause = timeout_cause(history["events"], EXECUTION)

    assert cause.startswith("Train timed out after 7800 s (timeouts.training")
    assert "SageMaker training job cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-train-1 to end" in cause  # the attempt that ran


def test_the_order_of_the_events_does_not_matter(history):
    """AWS pages newest first; the local engine answers oldest first whatever reverseOrder says."""
    assert timeout_cause(list(reversed(history["events"])), EXECUTION) == timeout_cause(history["events"], EXECUTION)


def test_a_plain_lambda_task_that_timed_out_names_its_state_and_limit():
    events = [
        {"id": 40, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "Register", "input": "{}"}},
        {
            "id": 41,
            "type": "LambdaFunctionScheduled",
            "lambdaFunctionScheduledEventDetails": {"resource": "arn:aws:lambda:...", "timeoutInSeconds": 900},
        },
        {"id": 42, "type": "LambdaFunctionStarted"},
        {"id": 43, "type": "LambdaFunctionTimedOut", "lambdaFunctionTimedOutEventDetails": {"error": "States.Timeout"}},
    ]
    assert timeout_cause(events, EXECUTION) == (
        "Register timed out after 900 s: the function ran past the task's TimeoutSeconds; see its CloudWatch logs"
    )


def test_without_history_the_cause_points_at_the_execution():
    assert timeout_cause([], EXECUTION) == (
        f"a task timed out; the execution history does not say which (see {EXECUTION})"
    )


def test_only_a_bare_timeout_needs_a_cause():
    assert needs_timeout_cause({"Error": "States.Timeout"})
    assert needs_timeout_cause({"Error": "States.Timeout", "Cause": ""})
    assert not needs_timeout_cause({"Error": "States.Timeout", "Cause": "Train timed out after 3 s"})
    assert not needs_timeout_cause({"Error": "SageMaker.TrainingJobFailed", "Cause": ""})
    assert not needs_timeout_cause(None)


def test_the_explained_timeout_is_the_run_records_reason(history):
    state = {
        "run_id": "orders-2026-11-25-f3dbe6d10cbde9ca",
        "artifacts_bucket": "cd4ml-dev-artifactsbucket-example",
        "error": {"Error": "States.Timeout", "Cause": timeout_cause(history["events"], EXECUTION)},
    }
    record = run_record("failed", state, execution_arn=EXECUTION, started_at="", now=datetime(2026, 11, 25, tzinfo=UTC))
    assert record["reasons"][0].startswith("States.Timeout: Train timed out after 7800 s")


def test_the_history_is_read_newest_first_and_only_as_far_back_as_needed(history):
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    stub = Stubber(sfn)
    stub.add_response(
        "get_execution_history",
        history,
        {"executionArn": EXECUTION, "reverseOrder": True, "maxResults": 100},
    )
    with stub:  # one page holds the timed-out task and its state's entry: no second page is asked for
        events = timeout_events(sfn, EXECUTION)
    stub.assert_no_pending_responses()
    assert [e["id"] for e in events] == [e["id"] for e in history["events"]]


def test_an_unreadable_history_leaves_the_cause_to_the_fallback():
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    stub = Stubber(sfn)
    stub.add_client_error("get_execution_history", "AccessDeniedException", "not authorized", 400)
    with stub:
        assert timeout_events(sfn, EXECUTION) == []
    stub.assert_no_pending_responses()
