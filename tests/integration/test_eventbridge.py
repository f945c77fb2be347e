"""EventBridge on the local cloud: S3 notifications and PutEvents reach Step Functions, Lambda, SQS and SNS."""

import json
import re
import time

import pytest


def _wait_for_item(cloud, predicate, timeout=20.0):
    table = cloud.client("dynamodb")
    name = cloud.physical_id("EventsTable")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cloud.wait_idle()
        for item in table.scan(TableName=name)["Items"]:
            event = json.loads(item["event"]["S"])
            if predicate(item["pk"]["S"], event):
                return item["pk"]["S"], event
        time.sleep(0.1)
    raise AssertionError("no matching item was recorded")


def _messages(cloud, queue_logical_id, expected, timeout=15.0):
    sqs = cloud.client("sqs")
    url = cloud.physical_id(queue_logical_id)
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < expected and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            out.append(json.loads(message["Body"]))
    return out


@pytest.fixture(scope="module")
def bucket(core_cloud):
    return core_cloud.physical_id("DataBucket")


def test_dataset_upload_starts_the_state_machine_with_the_s3_event_detail(core_cloud, bucket, sample_event):
    put = core_cloud.client("s3").put_object(Bucket=bucket, Key="datasets/orders/2026-11-25/a.csv", Body=b"a,b\n1,2\n")

    [execution] = core_cloud.wait_for_executions("Pipeline", count=1, timeout=60)

    assert execution["status"] == "SUCCEEDED"
    detail = json.loads(execution["input"])  # the rule's target has InputPath: $.detail
    assert detail["bucket"] == {"name": bucket}
    assert detail["object"]["key"] == "datasets/orders/2026-11-25/a.csv"
    assert detail["object"]["size"] == 8
    assert detail["object"]["etag"] == put["ETag"].strip('"')
    assert detail["reason"] == "PutObject"
    documented = sample_event("s3_object_created.json")["detail"]
    assert set(detail) == set(documented)
    assert set(detail["object"]) == set(documented["object"]) - {"version-id"}  # the bucket is not versioned
    output = json.loads(execution["output"])
    assert output["echo"]["stage"] == "dev"
    assert [item["value"] for item in output["fanout"][1]] == [2, 4, 6]


def test_lambda_target_receives_the_whole_event_in_the_documented_shape(core_cloud, bucket, sample_event):
    core_cloud.client("s3").put_object(Bucket=bucket, Key="records/one.json", Body=b"{}")

    _, event = _wait_for_item(
        core_cloud, lambda pk, e: e.get("detail", {}).get("object", {}).get("key") == "records/one.json"
    )

    documented = sample_event("s3_object_created.json")
    assert set(event) == set(documented)
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["resources"] == [f"arn:aws:s3:::{bucket}"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["account"] == core_cloud.account_id and event["region"] == core_cloud.region


def test_upload_that_no_rule_matches_is_reported_and_starts_nothing(core_cloud, bucket):
    before = len(core_cloud.executions("Pipeline"))
    core_cloud.client("s3").put_object(Bucket=bucket, Key="elsewhere/ignored.csv", Body=b"x")
    core_cloud.wait_idle()

    assert len(core_cloud.executions("Pipeline")) == before
    unmatched = [e for e in core_cloud.router.unmatched if e["source"] == "aws.s3"]
    assert any(json.loads(e["detail"])["object"]["key"] == "elsewhere/ignored.csv" for e in unmatched)


def test_input_transformer_shapes_what_the_function_receives(core_cloud):
    result = core_cloud.client("events").put_events(
        Entries=[
            {"Source": "cd4ml.tests", "DetailType": "Transformed", "Detail": json.dumps({"who": "Ada", "count": 3})}
        ]
    )
    event_id = result["Entries"][0]["EventId"]
    assert result["FailedEntryCount"] == 0

    _, received = _wait_for_item(core_cloud, lambda pk, e: pk == event_id)
    rule = core_cloud.client("events").describe_rule(Name=received["rule"])
    assert received == {"greeting": "hi Ada", "count": 3, "id": event_id, "rule": rule["Name"]}
    assert "RecorderFunctionCustom" in rule["Name"]


def test_pattern_with_numeric_matching_routes_only_matching_events_to_sqs(core_cloud):
    events = core_cloud.client("events")
    for level in (1, 5):
        events.put_events(
            Entries=[{"Source": "cd4ml.tests", "DetailType": "Audited", "Detail": json.dumps({"level": level})}]
        )
    core_cloud.wait_idle()
    received = _messages(core_cloud, "AuditQueue", expected=2, timeout=3)
    assert received == [{"level": 5}]  # InputPath: $.detail, and level 1 does not match [">=", 3]


def test_execution_status_changes_are_published_as_events(core_cloud, bucket):
    sfn = core_cloud.client("stepfunctions")
    name = "status-events"
    arn = sfn.start_execution(stateMachineArn=core_cloud.physical_id("Pipeline"), name=name, input="{}")["executionArn"]
    core_cloud.wait_for_execution(arn)
    core_cloud.wait_idle()

    # PipelineStatusRule -> SNS topic -> SQS subscription with raw delivery
    notifications = [m for m in _messages(core_cloud, "NotificationQueue", expected=2) if m["detail"]["name"] == name]
    statuses = [m["detail"]["status"] for m in notifications]
    assert statuses == ["RUNNING", "SUCCEEDED"]
    final = notifications[-1]
    assert final["source"] == "aws.states"
    assert final["detail-type"] == "Step Functions Execution Status Change"
    assert final["resources"] == [arn]
    assert final["detail"]["executionArn"] == arn
    assert final["detail"]["stateMachineArn"] == core_cloud.physical_id("Pipeline")
    assert json.loads(final["detail"]["output"])["echo"]["echoed"] == {}
    assert final["detail"]["stopDate"] >= final["detail"]["startDate"]


def test_failed_execution_carries_error_and_cause_in_its_status_event(core_cloud):
    sfn = core_cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=core_cloud.physical_id("Pipeline"), name="failing-run", input=json.dumps({"failLater": True})
    )["executionArn"]
    description = core_cloud.wait_for_execution(arn, timeout=60)
    core_cloud.wait_idle()

    assert description["status"] == "FAILED"
    assert description["error"] == "Pipeline.Failed"
    events = [m for m in _messages(core_cloud, "NotificationQueue", expected=2) if m["detail"]["name"] == "failing-run"]
    assert events[-1]["detail"]["status"] == "FAILED"
    assert events[-1]["detail"]["error"] == "Pipeline.Failed"
    assert events[-1]["detail"]["cause"] == "the failer failed"


def test_undeliverable_event_goes_to_the_targets_dead_letter_queue(core_cloud):
    result = core_cloud.client("events").put_events(
        Entries=[{"Source": "cd4ml.tests", "DetailType": "Broken", "Detail": json.dumps({"n": 1})}]
    )
    event_id = result["Entries"][0]["EventId"]
    core_cloud.wait_idle()

    sqs = core_cloud.client("sqs")
    [message] = sqs.receive_message(
        QueueUrl=core_cloud.physical_id("TargetDeadLetterQueue"), WaitTimeSeconds=2, MessageAttributeNames=["All"]
    )["Messages"]
    assert json.loads(message["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == core_cloud.attribute("BrokenTargetRule", "Arn")
    assert attributes["TARGET_ARN"].endswith(":stateMachine:does-not-exist")
    assert attributes["ERROR_CODE"] == "StateMachineDoesNotExist"
    [delivery] = [d for d in core_cloud.router.deliveries if d.event_id == event_id]
    assert delivery.outcome.startswith("dead-lettered: StateMachineDoesNotExist")


def test_lambda_subscribed_to_a_topic_receives_the_sns_event(core_cloud):
    topic = core_cloud.physical_id("AlertsTopic")
    message_id = core_cloud.client("sns").publish(
        TopicArn=topic,
        Message="drift detected",
        Subject="monitoring",
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "high"}},
    )["MessageId"]

    _, event = _wait_for_item(
        core_cloud, lambda pk, e: e.get("Records", [{}])[0].get("Sns", {}).get("MessageId") == message_id
    )
    [record] = event["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    assert record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["Message"] == "drift detected" and record["Sns"]["Subject"] == "monitoring"
    assert record["Sns"]["MessageAttributes"] == {"severity": {"Type": "String", "Value": "high"}}
