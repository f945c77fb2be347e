"""Step Functions on the local cloud, driven through boto3 as a user would: real handlers, real ASL, real events.

The stack (stacks/states) holds small functions (arithmetic, a task-token store and a flaky one counting its
attempts in DynamoDB), one state machine per behaviour, and a rule sending one state machine's execution status
changes to an SQS queue. It is deployed once for the module; every test starts its own uniquely named executions.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud import LocalCloud
from cd4ml.localcloud.errors import WaitTimeoutError

pytestmark = pytest.mark.integration

STACK = Path(__file__).parent / "stacks" / "states" / "template.yaml"
FLAKY_MAX_ATTEMPTS = 3  # the Retrying machine's first try plus its Retry's MaxAttempts (2)


# ---- fixtures and helpers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud.deployed(STACK) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def sfn(cloud: LocalCloud) -> Any:
    return cloud.client("stepfunctions")


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def start(cloud: LocalCloud, machine: str, payload: dict[str, Any]) -> str:
    """Start an execution of a state machine (by logical id) with a unique name; return its ARN."""
    arn: str = cloud.client("stepfunctions").start_execution(
        stateMachineArn=cloud.physical_id(machine), name=_unique(machine.lower()), input=json.dumps(payload)
    )["executionArn"]
    return arn


def run(cloud: LocalCloud, machine: str, payload: dict[str, Any], timeout: float = 20.0) -> dict[str, Any]:
    """Start an execution and wait for it to end; return describe_execution's answer."""
    return cloud.wait_for_execution(start(cloud, machine, payload), timeout)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return events


def event_types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def in_order(types: list[str], expected: list[str]) -> bool:
    """Whether `expected` occurs in `types` as a subsequence (in order, other events allowed in between)."""
    remaining = iter(types)
    return all(any(t == wanted for t in remaining) for wanted in expected)


def table_item(cloud: LocalCloud, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        cloud.client("dynamodb")
        .get_item(TableName=cloud.physical_id("StateTable"), Key={"pk": {"S": key}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def stored_token(cloud: LocalCloud, key: str, timeout: float = 15.0) -> str:
    """The task token the TokenStore handler wrote for `key` (it runs when the waiting task starts)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = table_item(cloud, f"token#{key}")
        if item:
            return str(item["token"]["S"])
        time.sleep(0.05)
    raise AssertionError(f"no task token stored for {key} within {timeout}s")


def attempts(cloud: LocalCloud, key: str) -> int:
    item = table_item(cloud, f"attempts#{key}")
    return int(item["attempts"]["N"]) if item else 0


def status_events(cloud: LocalCloud, execution_arn: str) -> list[dict[str, Any]]:
    """Every status-change event the StatusQueue got for one execution, once delivery has settled."""
    sqs = cloud.client("sqs")
    url = cloud.physical_id("StatusQueue")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not found and time.monotonic() < deadline:  # the event travels asynchronously: long-poll for it
        found += _drain(sqs, url, execution_arn, wait_s=2)
    cloud.wait_idle(10)  # then nothing else is on its way: anything more is already in the queue
    found += _drain(sqs, url, execution_arn, wait_s=0)
    return found


def _drain(sqs: Any, url: str, execution_arn: str, wait_s: int) -> list[dict[str, Any]]:
    mine = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s).get("Messages", [])
        if not messages:
            return mine
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            event = json.loads(message["Body"])
            if event["detail"]["executionArn"] == execution_arn:
                mine.append(event)
        wait_s = 0


# ---- 1. Lambda tasks ----------------------------------------------------------------------------------------
def test_lambda_invoke_and_plain_arn_tasks_output_what_the_handler_computed(cloud: LocalCloud) -> None:
    described = run(cloud, "LambdaTasks", {"numbers": [2, 3, 4]})

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    function_name = cloud.physical_id("CalcFunction")
    # lambda:invoke wraps the handler's answer in {StatusCode, Payload...}; the ResultSelector picked from it
    assert output["invoked"] == {"sum": 9, "product": 24, "function": function_name, "statusCode": 200}
    # a plain function ARN resource returns the handler's answer itself; its input came from States.Array
    assert output["plain"] == {"sum": 33, "product": 216, "count": 2, "function": function_name}
    assert output["numbers"] == [2, 3, 4]


def test_task_whose_handler_raises_without_catch_fails_the_execution_with_the_exception_class(
    cloud: LocalCloud,
) -> None:
    described = run(cloud, "LambdaTasks", {"numbers": [1], "explode": "now"})

    assert described["status"] == "FAILED"
    assert described["error"] == "BadInputError"
    cause = json.loads(described["cause"])
    assert cause["errorType"] == "BadInputError"
    assert cause["errorMessage"] == "cannot compute now"
    assert "output" not in described


# ---- 2. callbacks with task tokens ----------------------------------------------------------------------------
def test_wait_for_task_token_resumes_with_the_output_given_to_send_task_success(cloud: LocalCloud, sfn: Any) -> None:
    key = _unique("job")
    arn = start(cloud, "Callback", {"key": key, "job": "train", "timeout": 30})
    token = stored_token(cloud, key)

    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"  # waits for the token, not the handler
    sfn.send_task_success(taskToken=token, output=json.dumps({"model": "m-1", "auc": 0.91}))
    described = cloud.wait_for_execution(arn, 10)

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {
        "key": key,
        "job": "train",
        "timeout": 30,
        "result": {"model": "m-1", "auc": 0.91},
    }
    item = table_item(cloud, f"token#{key}")
    assert item is not None and item["job"]["S"] == "train"  # the handler really ran with the Payload template
    with pytest.raises(sfn.exceptions.ClientError):  # an answered token cannot be answered again
        sfn.send_task_success(taskToken=token, output="{}")


def test_send_task_failure_takes_the_catch_path(cloud: LocalCloud, sfn: Any) -> None:
    key = _unique("job")
    arn = start(cloud, "Callback", {"key": key, "job": "train", "timeout": 30})
    sfn.send_task_failure(taskToken=stored_token(cloud, key), error="Job.Failed", cause="the job broke")
    described = cloud.wait_for_execution(arn, 10)

    assert described["status"] == "SUCCEEDED"  # caught, so the execution itself succeeds
    output = json.loads(described["output"])
    assert output["recovered"] is True
    assert output["key"] == key
    assert output["error"] == "Job.Failed"
    failed = [e for e in history(sfn, arn) if e["type"] == "TaskFailed"]
    assert len(failed) == 1 and failed[0]["taskFailedEventDetails"]["error"] == "Job.Failed"


def test_send_task_failure_cause_reaches_the_catch(cloud: LocalCloud, sfn: Any) -> None:
    key = _unique("job")
    arn = start(cloud, "Callback", {"key": key, "job": "train", "timeout": 30})
    sfn.send_task_failure(taskToken=stored_token(cloud, key), error="Job.Failed", cause="the job broke")
    described = cloud.wait_for_execution(arn, 10)

    assert json.loads(described["output"])["cause"] == "the job broke"


def test_wait_for_task_token_without_callback_times_out(cloud: LocalCloud) -> None:
    key = _unique("job")
    began = time.monotonic()
    described = run(cloud, "Callback", {"key": key, "job": "train", "timeout": 2})

    assert described["status"] == "FAILED"
    assert described["error"] == "States.Timeout"
    assert time.monotonic() - began >= 2
    assert table_item(cloud, f"token#{key}") is not None  # the task did start: it was the wait that timed out


def test_heartbeats_keep_a_waiting_task_alive_past_heartbeat_seconds(cloud: LocalCloud, sfn: Any) -> None:
    key = _unique("job")
    arn = start(cloud, "Callback", {"key": key, "job": "train", "heartbeat": True})  # HeartbeatSeconds: 1
    token = stored_token(cloud, key)
    began = time.monotonic()
    while time.monotonic() - began < 2.2:  # more than twice HeartbeatSeconds
        sfn.send_task_heartbeat(taskToken=token)
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        time.sleep(0.25)
    sfn.send_task_success(taskToken=token, output=json.dumps({"done": True}))
    described = cloud.wait_for_execution(arn, 10)

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["result"] == {"done": True}


def test_missed_heartbeat_fails_with_states_heartbeat_timeout(cloud: LocalCloud) -> None:
    described = run(cloud, "Callback", {"key": _unique("job"), "job": "train", "heartbeat": True})

    assert described["status"] == "FAILED"
    assert described["error"] == "States.HeartbeatTimeout"


# ---- 3. flow states -----------------------------------------------------------------------------------------
def test_pass_intrinsic_functions_parallel_in_branch_order_and_map_with_item_selector(
    cloud: LocalCloud, sfn: Any
) -> None:
    payload = {
        "name": "Ada",
        "config": '{"threshold": 0.5, "tags": ["a"]}',
        "defaults": {"x": 1, "y": {"z": 1}},
        "overrides": {"y": {"w": 2}},
        "items": [1, 2, 3, 4],
        "factor": 10,
        "sleep": 0.3,
    }
    arn = start(cloud, "Shapes", payload)
    described = cloud.wait_for_execution(arn, 30)

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    intrinsics = output["intrinsics"]
    assert intrinsics["greeting"] == "Hello, Ada!"
    assert intrinsics["config"] == {"threshold": 0.5, "tags": ["a"]}
    assert intrinsics["merged"] == {"x": 1, "y": {"w": 2}}  # shallow merge: the override replaces y
    assert intrinsics["itemCount"] == 4
    assert uuid.UUID(intrinsics["id"]).version == 4
    assert intrinsics["digest"] == hashlib.sha256(b"Ada").hexdigest()

    # branch 1 calls a Lambda (slow), branch 2 is a Pass (fast): results still come in branch order
    assert output["parallel"] == [{"branch": "total", "sum": 10}, {"branch": "label", "name": "Ada"}]

    mapped = output["mapped"]
    assert [(m["index"], m["scaled"]) for m in mapped] == [(0, 10), (1, 20), (2, 30), (3, 40)]
    intervals = [m["ran"] for m in mapped]
    overlapping = max(sum(1 for s, e in intervals if s <= at < e) for at, _ in intervals)
    assert overlapping <= 2  # MaxConcurrency: 2
    assert len([e for e in history(sfn, arn) if e["type"] == "MapIterationSucceeded"]) == 4


def test_choice_is_present_guard_routes_without_the_field(cloud: LocalCloud) -> None:
    without = run(cloud, "Flow", {})
    false = run(cloud, "Flow", {"pause": False})

    assert without["status"] == "SUCCEEDED" and json.loads(without["output"]) == {"route": "direct"}
    assert false["status"] == "SUCCEEDED" and json.loads(false["output"]) == {"pause": False, "route": "direct"}


def test_wait_state_waits_its_seconds(cloud: LocalCloud, sfn: Any) -> None:
    began = time.monotonic()
    arn = start(cloud, "Flow", {"pause": True})
    described = cloud.wait_for_execution(arn, 10)
    elapsed = time.monotonic() - began

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"pause": True, "route": "waited"}
    events = {e["type"]: e["timestamp"] for e in history(sfn, arn)}
    assert (events["WaitStateExited"] - events["WaitStateEntered"]).total_seconds() >= 0.99  # ms timestamps
    assert elapsed >= 1.0


def test_fail_state_error_and_cause_reach_describe_execution(cloud: LocalCloud, sfn: Any) -> None:
    arn = start(cloud, "Flow", {"reject": "yes"})
    described = cloud.wait_for_execution(arn, 10)

    assert described["status"] == "FAILED"
    assert (described["error"], described["cause"]) == ("Flow.Rejected", "rejected on request")
    last = history(sfn, arn)[-1]
    assert last["type"] == "ExecutionFailed"
    assert last["executionFailedEventDetails"] == {"error": "Flow.Rejected", "cause": "rejected on request"}


# ---- 4. retries ---------------------------------------------------------------------------------------------
def test_retry_succeeds_after_the_handler_failed_twice(cloud: LocalCloud, sfn: Any) -> None:
    key = _unique("flaky")
    arn = start(cloud, "Retrying", {"key": key, "fail_times": 2})
    described = cloud.wait_for_execution(arn, 20)

    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"])["result"] == {"attempt": 3}
    assert attempts(cloud, key) == 3
    events = history(sfn, arn)
    assert event_types(events).count("TaskFailed") == 2
    assert event_types(events).count("TaskSucceeded") == 1
    scheduled = [e["timestamp"] for e in events if e["type"] == "TaskScheduled"]
    failed = [e["timestamp"] for e in events if e["type"] == "TaskFailed"]
    assert len(scheduled) == 3
    # IntervalSeconds: 1 between a failure and the next attempt
    assert all((scheduled[i + 1] - failed[i]).total_seconds() >= 0.99 for i in range(2))


def test_retries_exhausted_are_caught_with_the_lambda_error_in_result_path(cloud: LocalCloud) -> None:
    key = _unique("flaky")
    described = run(cloud, "Retrying", {"key": key, "fail_times": 99})

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert "result" not in output
    assert output["key"] == key  # ResultPath: $.error keeps the input around the error
    error = output["error"]
    assert error["Error"] == "TransientError"
    cause = json.loads(error["Cause"])
    assert cause["errorType"] == "TransientError"
    assert cause["errorMessage"] == f"attempt {FLAKY_MAX_ATTEMPTS} of {key} failed"
    assert isinstance(cause["stackTrace"], list) and any("app.py" in line for line in cause["stackTrace"])
    assert attempts(cloud, key) == FLAKY_MAX_ATTEMPTS


# ---- 5. history ---------------------------------------------------------------------------------------------
def test_execution_history_records_lambda_task_events_in_order(cloud: LocalCloud, sfn: Any) -> None:
    arn = start(cloud, "LambdaTasks", {"numbers": [5, 6]})
    assert cloud.wait_for_execution(arn, 20)["status"] == "SUCCEEDED"
    events = history(sfn, arn)
    types = event_types(events)

    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert in_order(
        types,
        [
            "ExecutionStarted",
            "TaskStateEntered",
            "TaskScheduled",  # arn:aws:states:::lambda:invoke is a service integration...
            "TaskStarted",
            "TaskSucceeded",
            "TaskStateExited",
            "TaskStateEntered",
            "LambdaFunctionScheduled",  # ...a plain function ARN is a Lambda task
            "LambdaFunctionStarted",
            "LambdaFunctionSucceeded",
            "TaskStateExited",
            "ExecutionSucceeded",
        ],
    )
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    by_type = {e["type"]: e for e in events}
    scheduled = by_type["TaskScheduled"]["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"]) == ("lambda", "invoke")
    assert json.loads(scheduled["parameters"])["Payload"] == {"numbers": [5, 6]}
    succeeded = json.loads(by_type["TaskSucceeded"]["taskSucceededEventDetails"]["output"])
    assert succeeded["Payload"]["sum"] == 11
    lambda_output = json.loads(by_type["LambdaFunctionSucceeded"]["lambdaFunctionSucceededEventDetails"]["output"])
    assert lambda_output["sum"] == 11 + 30
    assert json.loads(by_type["ExecutionSucceeded"]["executionSucceededEventDetails"]["output"])["plain"] == (
        lambda_output
    )


# ---- 6. status-change events ------------------------------------------------------------------------------
# Notified starts with a 1 s Wait, so these tests see RUNNING before the end whichever thread is faster.
def test_succeeded_execution_sends_one_status_event_to_the_queue(cloud: LocalCloud) -> None:
    arn = start(cloud, "Notified", {"who": "ops"})
    described = cloud.wait_for_execution(arn, 10)
    events = status_events(cloud, arn)

    assert described["status"] == "SUCCEEDED"
    assert len(events) == 1  # the RUNNING event is filtered out by the rule's status list
    event = events[0]
    assert event["source"] == "aws.states"
    assert event["detail-type"] == "Step Functions Execution Status Change"
    assert event["resources"] == [arn]
    detail = event["detail"]
    assert detail["executionArn"] == arn
    assert detail["stateMachineArn"] == cloud.physical_id("Notified")
    assert detail["status"] == "SUCCEEDED"
    assert json.loads(detail["output"]) == {"done": True, "who": "ops"}
    assert json.loads(detail["output"]) == json.loads(described["output"])
    assert json.loads(detail["input"]) == {"who": "ops"}
    assert detail["stopDate"] - detail["startDate"] >= 1000  # epoch milliseconds, around the 1 s Wait
    queue_arn = cloud.attribute("StatusQueue", "Arn")
    delivered = [d for d in cloud.router.deliveries if d.event_id == event["id"] and d.target_arn == queue_arn]
    assert [d.outcome for d in delivered] == ["delivered"]


def test_failed_execution_sends_a_failed_status_event_with_error_and_cause(cloud: LocalCloud) -> None:
    arn = start(cloud, "Notified", {"who": "ops", "fail": True})
    assert cloud.wait_for_execution(arn, 10)["status"] == "FAILED"
    events = status_events(cloud, arn)

    assert [e["detail"]["status"] for e in events] == ["FAILED"]
    detail = events[0]["detail"]
    assert (detail["error"], detail["cause"]) == ("Notified.Failed", "asked to fail")
    assert detail["output"] is None


def test_execution_past_its_timeout_seconds_sends_a_timed_out_status_event(cloud: LocalCloud) -> None:
    arn = start(cloud, "Expiring", {})  # TimeoutSeconds: 1 around a 30 s Wait
    described = cloud.wait_for_execution(arn, 10)
    events = status_events(cloud, arn)

    assert described["status"] == "TIMED_OUT"
    assert [e["detail"]["status"] for e in events] == ["TIMED_OUT"]
    assert events[0]["detail"]["stateMachineArn"] == cloud.physical_id("Expiring")


def test_stop_execution_aborts_and_sends_an_aborted_status_event(cloud: LocalCloud, sfn: Any) -> None:
    arn = start(cloud, "Notified", {"who": "ops", "hold": 30})  # then a 30 s Wait state
    wait_until_in_hold(sfn, arn)
    began = time.monotonic()
    sfn.stop_execution(executionArn=arn, error="Ops.Stopped", cause="no longer needed")
    described = cloud.wait_for_execution(arn, 10)
    events = status_events(cloud, arn)

    assert described["status"] == "ABORTED"
    assert time.monotonic() - began < 5  # stopped, not waited out
    assert history(sfn, arn)[-1]["type"] == "ExecutionAborted"
    assert [e["detail"]["status"] for e in events] == ["ABORTED"]
    assert events[0]["detail"]["executionArn"] == arn
    assert events[0]["detail"]["output"] is None
    assert events[0]["detail"]["stopDate"] is not None


def test_stop_execution_error_and_cause_reach_the_history(cloud: LocalCloud, sfn: Any) -> None:
    arn = start(cloud, "Notified", {"who": "ops", "hold": 30})
    wait_until_in_hold(sfn, arn)
    sfn.stop_execution(executionArn=arn, error="Ops.Stopped", cause="no longer needed")
    cloud.wait_for_execution(arn, 10)
    status_events(cloud, arn)  # leave the queue empty for the next test

    aborted = history(sfn, arn)[-1]
    assert aborted["executionAbortedEventDetails"] == {"error": "Ops.Stopped", "cause": "no longer needed"}


def test_an_execution_that_ends_before_start_returns_still_sends_one_terminal_event(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    # Run the ASL program inside start(), as a fast execution's worker thread sometimes does (2 of 60 in a loop)
    monkeypatch.setattr(ExecutionWorker, "start", lambda worker: worker._execution_logic())
    arn = start(cloud, "Notified", {"who": "ops"})
    monkeypatch.undo()
    assert cloud.wait_for_execution(arn, 10)["status"] == "SUCCEEDED"

    assert [e["detail"]["status"] for e in status_events(cloud, arn)] == ["SUCCEEDED"]


def wait_until_in_hold(sfn: Any, execution_arn: str) -> None:
    deadline = time.monotonic() + 10
    while not any(
        e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == "Hold"
        for e in history(sfn, execution_arn)
    ):
        assert time.monotonic() < deadline, "the execution never reached its Hold state"
        time.sleep(0.05)


def test_an_execution_started_by_an_event_is_waited_for_before_it_exists(cloud: LocalCloud, sfn: Any) -> None:
    name = _unique("late")
    arn = cloud.execution_arn("Flow", name)
    with pytest.raises(sfn.exceptions.ExecutionDoesNotExist):
        cloud.wait_for_execution(arn, 1)  # without the flag, a name nobody started is an error at once
    with pytest.raises(WaitTimeoutError, match="not started after"):
        cloud.wait_for_execution(arn, 0.2, started_by_event=True)
    starter = threading.Timer(
        0.3, lambda: sfn.start_execution(stateMachineArn=cloud.physical_id("Flow"), name=name, input="{}")
    )
    starter.start()

    described = cloud.wait_for_execution(arn, 10, started_by_event=True)

    starter.join()
    assert described["status"] == "SUCCEEDED" and described["executionArn"] == arn
