"""Decision Made events put on the default bus reach the decision log end to end on the local cloud: the rule's
Kinesis target puts each event on DecisionLogStream keyed by customer, the event-source mapping hands the batches to
RecordDecisionsFunction, and the Parquet rows under decisions/ read back equal to the orders; a poison event is
quarantined with its reason, and a batch delivered again lands on the same key."""

import base64
import copy
import io
import json
import time
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_shared.contract import ORDERS

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration
STACK = Path(__file__).parent / "stacks" / "decision_log" / "template.yaml"
SAMPLE = json.loads((Path(__file__).parents[2] / "events" / "eventbridge_decision_made.json").read_text())
RAW_FIELDS = [c.name for c in ORDERS.columns if c.role != "label"]


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud.deployed(STACK, {"Stage": "dev"}) as cloud:
        yield cloud


def detail(order_id: str, customer_id: str, amount: float) -> dict:
    made = copy.deepcopy(SAMPLE["detail"])
    made.update(order_id=order_id, customer_id=customer_id, inference_id=f"inf-{order_id}")
    made["order"].update(order_id=order_id, customer_id=customer_id, order_amount=amount)
    return made


def put(cloud: LocalCloud, details: list[dict], source: str = "cd4ml.decisions") -> None:
    entries = [
        {"Source": source, "DetailType": "Decision Made", "Detail": json.dumps(d), "EventBusName": "default"}
        for d in details
    ]
    answer = cloud.client("events").put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0, answer


def objects(cloud: LocalCloud, prefix: str, rows: int, timeout: float = 45.0) -> dict[str, bytes]:
    """The objects under a prefix once they hold `rows` rows (Parquet) or lines (JSONL) in all."""
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    deadline = time.monotonic() + timeout
    found: dict[str, bytes] = {}
    while time.monotonic() < deadline:
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        found = {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(keys)}
        counted = sum(
            pq.read_metadata(io.BytesIO(body)).num_rows if key.endswith(".parquet") else body.count(b"\n")
            for key, body in found.items()
        )
        if counted >= rows:
            return found
        time.sleep(0.3)
    raise AssertionError(f"fewer than {rows} rows under s3://{bucket}/{prefix} after {timeout} s: {list(found)}")


def test_decisions_put_on_the_bus_land_as_parquet_rows_equal_to_their_orders(cloud):
    details = [detail(f"o-log-{n}", f"c-log-{n % 3}", 10.0 + n) for n in range(6)]
    put(cloud, details)

    stored = objects(cloud, "decisions/", rows=len(details))
    cloud.wait_idle()

    table = pa.concat_tables(pq.read_table(io.BytesIO(body)) for body in stored.values())
    rows = {row["order_id"]: row for row in table.to_pylist()}
    assert set(rows) == {d["order_id"] for d in details}
    for sent in details:
        row = rows[sent["order_id"]]
        for name in RAW_FIELDS:
            expected = sent["order"][name]
            assert row[name] == (datetime.fromisoformat(expected) if name == "order_ts" else expected), name
        assert (row["inference_id"], row["decision"], row["score"]) == (
            sent["inference_id"],
            sent["decision"],
            sent["score"],
        )
    # the rule's partition key path: each customer's decisions keyed (and so ordered) by its id on the stream
    keys = {
        json.loads(record["Data"])["detail"]["order_id"]: record["PartitionKey"]
        for records in stream_records(cloud).values()
        for record in records
    }
    assert {keys[d["order_id"]] for d in details} == {"c-log-0", "c-log-1", "c-log-2"}
    assert all(keys[d["order_id"]] == d["customer_id"] for d in details)


def test_a_poison_decision_is_quarantined_with_its_reason_and_acknowledged(cloud):
    bad = detail("o-log-bad", "c-log-bad", 5.0)
    bad["order"]["num_items"] = "two"
    put(cloud, [bad])

    stored = objects(cloud, "quarantine/decisions/", rows=1)
    cloud.wait_idle()

    lines = [json.loads(line) for body in stored.values() for line in body.decode().splitlines()]
    (poison,) = [line for line in lines if line["partition_key"] == "c-log-bad"]
    assert poison["reason"] == "order.num_items.wrong_type" and poison["detail"] == '"two"'
    queue = cloud.physical_id("DecisionLogDeadLetterQueue")
    attributes = cloud.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_a_batch_delivered_again_is_written_to_the_same_key(cloud):
    """The stream's record read back and handed to the function twice more, as the mapping redelivers a batch after
    a failed write: every delivery writes the key the mapping's own delivery wrote, so nothing doubles."""
    put(cloud, [detail("o-log-twice", "c-log-twice", 42.0)])
    key = key_holding(cloud, "o-log-twice")
    cloud.wait_idle()
    before = objects(cloud, "decisions/", rows=1)
    stream = cloud.physical_id("DecisionLogStream")
    (shard, record) = next(
        (shard, record)
        for shard, records in stream_records(cloud).items()
        for record in records
        if json.loads(record["Data"])["detail"]["order_id"] == "o-log-twice"
    )
    event = {"Records": [kinesis_lambda_record(record, shard, stream)]}
    function = cloud.physical_id("RecordDecisionsFunction")

    answers = [
        json.loads(cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event))["Payload"].read())
        for _ in range(2)
    ]

    assert answers == [{"batchItemFailures": []}] * 2
    assert key.endswith(f"/{shard}-{record['SequenceNumber']}.parquet")
    after = objects(cloud, "decisions/", rows=1)
    assert sorted(after) == sorted(before)  # the same keys: the redeliveries overwrote the mapping's object
    assert pq.read_table(io.BytesIO(after[key])).column("order_id").to_pylist() == ["o-log-twice"]


def key_holding(cloud: LocalCloud, order_id: str, timeout: float = 45.0) -> str:
    """The decisions/ object that holds an order, once it appears."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for key, body in objects(cloud, "decisions/", rows=0).items():
            if order_id in pq.read_table(io.BytesIO(body)).column("order_id").to_pylist():
                return key
        time.sleep(0.3)
    raise AssertionError(f"no decisions/ object holds {order_id} after {timeout} s")


def stream_records(cloud: LocalCloud) -> dict[str, list[dict]]:
    """Every record on the decision log stream, by shard."""
    kinesis, stream = cloud.client("kinesis"), cloud.physical_id("DecisionLogStream")
    found = {}
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found[shard["ShardId"]] = kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    return found


def kinesis_lambda_record(record: dict, shard: str, stream: str) -> dict:
    """A GetRecords record as Lambda's Kinesis event carries it."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode(),
            "approximateArrivalTimestamp": record["ApproximateArrivalTimestamp"].timestamp(),
        },
        "eventSource": "aws:kinesis",
        "eventID": f"{shard}:{record['SequenceNumber']}",
        "eventName": "aws:kinesis:record",
        "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
    }
