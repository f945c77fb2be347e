"""A CloudWatch alarm on the local cloud acts as on AWS: evaluated by itself on the metrics a function prints in
EMF, its change into ALARM notifies its SNS action with CloudWatch's message and puts a `CloudWatch Alarm State
Change` event on the default bus, and so does a person's set-alarm-state; an evaluation that changes nothing sends
nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud import LocalCloud
from cd4ml.localcloud.context import Settings

pytestmark = pytest.mark.integration

STACK = Path(__file__).parent / "stacks" / "lifetime" / "template.yaml"
ALARM = "checkout-declines-high"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud(settings=Settings(alarm_evaluation_interval_s=0.5)) as cloud:
        cloud.deploy(STACK)
        yield cloud


def queue_for(cloud: LocalCloud, name: str) -> tuple[str, str]:
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def received(cloud: LocalCloud, url: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    sqs, bodies = cloud.client("sqs"), []
    deadline = time.monotonic() + timeout
    while len(bodies) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.fixture(scope="module")
def listening(cloud: LocalCloud) -> dict[str, str]:
    """A topic the alarm notifies, with a queue subscribed; a rule sending the alarm's state changes to a queue."""
    sns, events = cloud.client("sns"), cloud.client("events")
    topic = sns.create_topic(Name="checkout-alerts")["TopicArn"]
    notified_url, notified_arn = queue_for(cloud, "checkout-alerts")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=notified_arn)
    changes_url, changes_arn = queue_for(cloud, "alarm-changes")
    pattern = {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}
    events.put_rule(Name="alarm-changes", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="alarm-changes", Targets=[{"Id": "queue", "Arn": changes_arn}])
    cloud.client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM,
        AlarmDescription="More than 2 declines in a minute.",
        Namespace="cd4ml-test",
        MetricName="Declines",
        Dimensions=[{"Name": "service", "Value": "checkout"}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=2,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    return {"topic": topic, "notified": notified_url, "changes": changes_url}


def test_an_alarm_on_a_function_s_metric_fires_by_itself_notifies_and_emits_its_change(cloud, listening) -> None:
    # the first evaluation finds no data: notBreaching, OK as created, nothing changes
    assert received(cloud, listening["changes"], 1, timeout=2.0) == []
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {"Namespace": "cd4ml-test", "Dimensions": [["service"]], "Metrics": [{"Name": "Declines"}]}
            ],
        },
        "service": "checkout",
        "Declines": 5,
    }
    cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("SpawnerFunction"), Payload=json.dumps({"emf": [document]}).encode()
    )

    [event] = received(cloud, listening["changes"], 1)
    assert (event["source"], event["detail-type"]) == ("aws.cloudwatch", "CloudWatch Alarm State Change")
    assert event["resources"] == [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"]
    detail = event["detail"]
    assert (detail["alarmName"], detail["previousState"]["value"], detail["state"]["value"]) == (ALARM, "OK", "ALARM")
    assert detail["state"]["reason"].startswith("Threshold Crossed")
    [metric] = detail["configuration"]["metrics"]
    assert metric["metricStat"]["metric"] == {
        "dimensions": {"service": "checkout"},
        "name": "Declines",
        "namespace": "cd4ml-test",
    }
    [note] = received(cloud, listening["notified"], 1)
    assert note["Subject"] == f'ALARM: "{ALARM}" in US East (N. Virginia)'
    message = json.loads(note["Message"])
    assert (message["NewStateValue"], message["OldStateValue"], message["AlarmName"]) == ("ALARM", "OK", ALARM)
    assert message["Trigger"]["Statistic"] == "SUM" and message["Trigger"]["Threshold"] == 2.0
    # later evaluations that find it still in ALARM change nothing, and send nothing
    time.sleep(1.5)
    assert received(cloud, listening["changes"], 1, timeout=1.0) == []


def test_a_person_s_set_alarm_state_is_a_change_and_the_next_evaluation_puts_it_back(cloud, listening) -> None:
    # as on AWS: set-alarm-state holds only until the alarm is evaluated again, on the same breaching datapoint
    cloud.client("cloudwatch").set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="reset by hand")
    events = received(cloud, listening["changes"], 2)
    assert [(e["detail"]["state"]["value"], e["detail"]["state"]["reason"][:14]) for e in events] == [
        ("OK", "reset by hand"),
        ("ALARM", "Threshold Cros"),
    ]
    [note] = received(cloud, listening["notified"], 1)  # no OKActions: only the return to ALARM notifies
    assert json.loads(note["Message"])["OldStateValue"] == "OK"
