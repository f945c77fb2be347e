"""MonitorWindowFunction and AnnounceBreachFunction on moto: a window whose report breached is announced once on each
channel (RetrainingRequested on the default bus, caught by an SQS-target rule as any consumer would, and the
notification topic, read through a subscribed queue); a healthy window sends nothing; the state machine's failure
path names the error to people; a stack with no endpoint yet skips its window without raising."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cd4ml_shared.monitoring import MonitoringInputError, breach_of
from cd4ml_shared.monitoring_join import Window
from moto_world import create_notification_topic

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
ENDPOINT = GROUP = "cd4ml-dev-fraud"
START_OFFSET, END_OFFSET = timedelta(days=2), timedelta(days=1)  # the template's defaults
EVALUATED_AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
WINDOW = Window.at(EVALUATED_AT, START_OFFSET, END_OFFSET)
PREFIX = f"monitoring/{ENDPOINT}/{WINDOW.name()}/"
REPORT_URI = f"s3://{ARTIFACTS}/{PREFIX}report.json"
HTML_URI = f"s3://{ARTIFACTS}/{PREFIX}report.html"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-monitoring:6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
Event = Callable[[str], dict[str, Any]]


def environment(topic_arn: str) -> dict[str, str]:
    """Both functions' variables in template.yaml (MonitoringSettings)."""
    return {
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "ENDPOINT_NAME": ENDPOINT,
        "MODEL_PACKAGE_GROUP": GROUP,
        "MONITOR_START_OFFSET_S": str(int(START_OFFSET.total_seconds())),
        "MONITOR_END_OFFSET_S": str(int(END_OFFSET.total_seconds())),
        "NOTIFICATION_TOPIC_ARN": topic_arn,
    }


@pytest.fixture
def world(aws: None) -> dict[str, Any]:
    """The artifacts bucket, the notification topic with a queue subscribed, and a rule on the default bus that
    sends monitoring's events to a queue of their own (where request_retraining's rule would take them)."""
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    notifications = create_notification_topic()
    sqs, events = boto3.client("sqs"), boto3.client("events")
    queue = sqs.create_queue(QueueName="retraining-requests")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="retraining-requested",
        EventPattern=json.dumps({"source": ["cd4ml.monitoring"], "detail-type": ["RetrainingRequested"]}),
    )
    events.put_targets(Rule="retraining-requested", Targets=[{"Id": "queue", "Arn": queue_arn}])
    return {**notifications, "requests": queue}


@pytest.fixture
def announce(world: dict[str, Any], load_function: Callable[..., ModuleType]) -> ModuleType:
    return load_function("announce_breach", environment(world["topic"]))


def received(queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


def report(*, drifted: bool, degraded: bool) -> dict[str, Any]:
    """A report.json as run_monitoring writes it (the parts announce_breach reads and around them), its breach
    decided by the monitor's own breach_of from planted quality and drift sections."""
    quality = {
        "judged": True,
        "degraded": ["pr_auc"] if degraded else [],
        "metrics": {
            "pr_auc": {
                "value": 0.19 if degraded else 0.36,
                "why": "pr_auc 0.19 [0.14, 0.24] is below the baseline 0.35 by more than the margin 0.05",
            }
        },
    }
    drift = {
        "features": [
            {"name": "order_amount", "drifted": drifted, "why": "psi 0.31 > 0.18 (calibrated on the reference)"},
            {"name": "num_items", "drifted": False, "why": ""},
        ]
    }
    breach = breach_of(quality, None, drift, WINDOW, None, 1)
    return {
        "report_version": 1,
        "endpoint": ENDPOINT,
        "model_package_group": GROUP,
        "model_version": 1,
        "model_package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/1",
        "evaluated_at": EVALUATED_AT.isoformat(),
        "window": {
            "name": WINDOW.name(),
            "start": WINDOW.start.isoformat(),
            "end": WINDOW.end.isoformat(),
            "start_offset_s": START_OFFSET.total_seconds(),
            "end_offset_s": END_OFFSET.total_seconds(),
        },
        "traffic": {"requests": 1200, "labelled": 310, "label_rate": 310 / 1200},
        "quality": quality,
        "estimate": None,
        "drift": drift,
        "breach": breach.to_dict(),
        "links": {"report_json": REPORT_URI, "report_html": HTML_URI},
    }


def put_report(document: dict[str, Any]) -> None:
    boto3.client("s3").put_object(Bucket=ARTIFACTS, Key=f"{PREFIX}report.json", Body=json.dumps(document).encode())


def test_a_breached_window_requests_a_retraining_once_and_notifies_once(
    announce: ModuleType, world: dict[str, Any], context: Any
) -> None:
    put_report(report(drifted=True, degraded=True))

    result = announce.handler({"report_uri": REPORT_URI, "report_html_uri": HTML_URI}, context)

    assert result == {"announced": True, "reason": "quality", "episode": WINDOW.name()}
    (event,) = received(world["requests"])
    assert (event["source"], event["detail-type"]) == ("cd4ml.monitoring", "RetrainingRequested")
    assert event["detail"] == {
        "reason": "quality",  # a quality drop comes before drift in the reason
        "model_package_group": GROUP,
        "episode": WINDOW.name(),
        "endpoint_name": ENDPOINT,
        "model_version": 1,
        "windows": [WINDOW.name()],
        "report_uri": REPORT_URI,
        "why": "quality pr_auc; drift order_amount",
    }
    (notification,) = received(world["queue"])
    assert notification["Subject"] == f"cd4ml monitoring: drift, quality on {ENDPOINT} v1"
    body = notification["Message"]
    assert f"window {WINDOW.name()}" in body and f"Report: {HTML_URI}" in body
    assert "- drift: psi 0.31 > 0.18 (calibrated on the reference)" in body
    assert "- quality: pr_auc 0.19 [0.14, 0.24] is below the baseline" in body


def test_the_retraining_requested_it_sends_is_what_request_retraining_takes(
    announce: ModuleType, world: dict[str, Any], context: Any
) -> None:
    """The detail as EventBridge delivers it reads as a request of the right reason, group and episode."""
    from cd4ml_shared.retraining import RetrainingRequest, request_of

    put_report(report(drifted=True, degraded=False))
    announce.handler({"report_uri": REPORT_URI, "report_html_uri": HTML_URI}, context)
    (event,) = received(world["requests"])

    request = request_of(event, group="unused", now=0.0)

    assert isinstance(request, RetrainingRequest)
    assert (request.reason, request.group, request.episode) == ("drift", GROUP, WINDOW.name())


def test_a_healthy_window_sends_nothing(announce: ModuleType, world: dict[str, Any], context: Any) -> None:
    put_report(report(drifted=False, degraded=False))

    result = announce.handler({"report_uri": REPORT_URI, "report_html_uri": HTML_URI}, context)

    assert result == {"announced": False, "why": "the window did not breach"}
    assert received(world["requests"]) == [] and received(world["queue"]) == []


def test_the_failure_path_tells_people_the_error(announce: ModuleType, world: dict[str, Any], context: Any) -> None:
    cause = {
        "errorMessage": "the evaluation time 'yesterday' is not an ISO 8601 time",
        "errorType": "MonitoringInputError",
        "requestId": "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
        "stackTrace": ['  File "/var/task/app.py", line 31, in handler\n'],
    }
    failed = {
        "failed": True,
        "execution": EXECUTION,
        "error": {"Error": "MonitoringInputError", "Cause": json.dumps(cause)},
    }

    result = announce.handler(failed, context)

    assert result == {"announced": True, "failed": True, "error": "MonitoringInputError"}
    (notification,) = received(world["queue"])
    assert notification["Subject"] == f"cd4ml monitoring failed on {ENDPOINT}: MonitoringInputError"
    assert f"The monitoring run {EXECUTION} could not measure its window." in notification["Message"]
    assert "is not an ISO 8601 time" in notification["Message"]
    assert received(world["requests"]) == []  # a failure asks for no retraining


def test_a_failure_without_an_error_object_is_still_announced(
    announce: ModuleType, world: dict[str, Any], context: Any
) -> None:
    result = announce.handler({"failed": True, "execution": EXECUTION, "error": "States.Timeout"}, context)

    assert result["error"] == "unknown"
    (notification,) = received(world["queue"])
    assert notification["Subject"].endswith(": unknown")


def test_a_refused_retraining_request_fails_the_task_before_anyone_is_told(
    announce: ModuleType, world: dict[str, Any], context: Any
) -> None:
    put_report(report(drifted=True, degraded=False))
    refused = {
        "FailedEntryCount": 1,
        "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "Internal failure"}],
    }

    with Stubber(announce.events) as stub:
        stub.add_response("put_events", refused)
        with pytest.raises(Exception) as raised:
            announce.handler({"report_uri": REPORT_URI, "report_html_uri": HTML_URI}, context)

    # the state machine retries RetrainingRequestNotSent; the notification waits for the request to be out
    assert type(raised.value).__name__ == "RetrainingRequestNotSent"
    assert "InternalFailure" in str(raised.value)
    assert received(world["queue"]) == []


def test_a_notification_sns_does_not_take_fails_as_notification_failed(
    announce: ModuleType, world: dict[str, Any], context: Any
) -> None:
    put_report(report(drifted=True, degraded=False))

    with Stubber(announce.sns) as stub:
        stub.add_client_error("publish", service_error_code="Throttled", http_status_code=400)
        with pytest.raises(Exception) as raised:
            announce.handler({"report_uri": REPORT_URI, "report_html_uri": HTML_URI}, context)

    assert type(raised.value).__name__ == "NotificationFailed"
    assert f"the breach of {WINDOW.name()} was not notified" in str(raised.value)
    assert len(received(world["requests"])) == 1  # the request went first: the retry sends it again, the guard drops it


def test_a_report_that_is_gone_cannot_be_announced(announce: ModuleType, world: dict[str, Any], context: Any) -> None:
    with pytest.raises(FileNotFoundError, match=f"the report {REPORT_URI} is gone"):
        announce.handler({"report_uri": REPORT_URI, "report_html_uri": HTML_URI}, context)


@pytest.fixture
def monitor(world: dict[str, Any], load_function: Callable[..., ModuleType]) -> ModuleType:
    return load_function("monitor_window", environment(world["topic"]))


def test_a_window_with_no_endpoint_yet_is_skipped_not_raised(
    monitor: ModuleType, sample_event: Event, context: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    scheduled = sample_event("scheduled_event.json")  # 2026-11-25T12:00:00Z

    result = monitor.handler(scheduled, context)

    assert result == {
        "status": "skipped",
        "why": f"endpoint {ENDPOINT} does not exist: nothing serves, nothing to monitor",
        "window": "20261123T120000Z--20261124T120000Z",  # the schedule's occurrence, minus the offsets
        "breach": {"any": False},
    }
    assert boto3.client("s3").list_objects_v2(Bucket=ARTIFACTS).get("KeyCount", 0) == 0  # no report, no history
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m.get("MonitoringSkipped") for m in metrics] == [[1.0]]


def test_an_on_demand_window_at_no_time_is_refused_by_name(monitor: ModuleType, context: Any) -> None:
    with pytest.raises(MonitoringInputError, match="the evaluation time 'yesterday' is not an ISO 8601 time"):
        monitor.handler({"at": "yesterday"}, context)
