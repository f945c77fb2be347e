"""A Kinesis event-source mapping declared in the template: batches, partial failures, bisect, on-failure."""

import json
import time

import pytest


@pytest.fixture(scope="module")
def stream(core_cloud):
    return core_cloud.physical_id("FeedbackStream")


def _stored_ids(cloud):
    items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("EventsTable"))["Items"]
    return {item["pk"]["S"].split("#", 1)[1] for item in items if item["pk"]["S"].startswith("feedback#")}


def _put(cloud, stream, bodies):
    cloud.client("kinesis").put_records(
        StreamName=stream,
        Records=[{"Data": json.dumps(body).encode(), "PartitionKey": "p"} for body in bodies],
    )


def _failure_records(cloud, timeout=20.0):
    sqs = cloud.client("sqs")
    url = cloud.physical_id("StreamFailureQueue")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return [json.loads(m["Body"]) for m in messages]
    return []


def test_records_reach_the_function_and_bad_ones_go_to_the_on_failure_queue(core_cloud, stream):
    _put(core_cloud, stream, [{"id": "a1"}, {"id": "a2"}, {"id": "a3", "bad": True}, {"id": "a4"}])

    failures = _failure_records(core_cloud)
    core_cloud.wait_idle()

    assert {"a1", "a2", "a4"} <= _stored_ids(core_cloud)
    assert "a3" not in _stored_ids(core_cloud)
    assert len(failures) == 1
    info = failures[0]["KinesisBatchInfo"]
    assert failures[0]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["streamArn"] == core_cloud.attribute("FeedbackStream", "Arn")
    assert info["shardId"] == "shardId-000000000000"
    assert info["batchSize"] >= 1


def test_bisect_isolates_a_poison_record_and_delivers_the_rest(core_cloud, stream):
    bodies = [{"id": f"b{i}"} for i in range(8)]
    bodies[5] = {"id": "b5", "poison": True}
    _put(core_cloud, stream, bodies)

    failures = _failure_records(core_cloud)
    core_cloud.wait_idle()

    stored = _stored_ids(core_cloud)
    assert {f"b{i}" for i in range(8) if i != 5} <= stored
    assert "b5" not in stored
    assert [f["KinesisBatchInfo"]["batchSize"] for f in failures] == [1]  # bisected down to the poison record
