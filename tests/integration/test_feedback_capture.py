"""Ground-truth labels put on the stack's GroundTruthStream with boto3 reach RecordFeedbackFunction through the
template's event-source mapping (the local cloud's Kinesis poller): the good ones land as one Parquet object per batch
under ground-truth/, in stream order and with their duplicates, the poison is quarantined with the reason per record,
and nothing is left for the mapping to retry or send to the dead-letter queue."""

import io
import json
import time

import pyarrow.parquet as pq
import pytest

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration
LABEL = {"inference_id": "3f0c6a52-8f1e-4d57-9a7e-0b1c2d3e4f50", "labeled_at": "2026-11-25T11:58:02Z"}


@pytest.fixture(scope="module")
def cloud(root):
    with LocalCloud.deployed(root / "template.yaml", {"Stage": "dev"}) as cloud:
        yield cloud


def objects(cloud, prefix: str, timeout: float = 30.0) -> list[bytes]:
    """The objects under a prefix once any has appeared (the mapping's batching window is 5 s)."""
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
        if keys:
            return [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(keys)]
        time.sleep(0.2)
    raise AssertionError(f"nothing under s3://{bucket}/{prefix} after {timeout} s")


def test_labels_on_the_stream_become_parquet_and_poison_is_quarantined_with_reasons(cloud):
    bodies = [
        {**LABEL, "label": 1, "source": "chargeback"},
        {**LABEL, "inference_id": "9b2d7e14-5a6c-4f3b-8e21-7c9d0a1b2c3d", "label": 0, "source": "review"},
        b"label=1",  # not JSON
        {**LABEL, "label": 0, "source": "manual", "labeled_at": "2026-11-25T11:59:55Z"},  # a correction: kept too
        {**LABEL, "label": 7, "source": "review"},
        {**LABEL, "label": 1, "source": "psychic"},
    ]
    records = [
        {"Data": body if isinstance(body, bytes) else json.dumps(body).encode(), "PartitionKey": LABEL["inference_id"]}
        for body in bodies
    ]
    put = cloud.client("kinesis").put_records(StreamName=cloud.physical_id("GroundTruthStream"), Records=records)
    assert put["FailedRecordCount"] == 0
    sequence = [record["SequenceNumber"] for record in put["Records"]]

    (parquet,) = objects(cloud, "ground-truth/")
    (quarantine,) = objects(cloud, "quarantine/ground-truth/")
    cloud.wait_idle()

    rows = pq.read_table(io.BytesIO(parquet)).to_pylist()
    assert [(row["label"], row["source"]) for row in rows] == [(1, "chargeback"), (0, "review"), (0, "manual")]
    assert [row["sequence_number"] for row in rows] == [sequence[0], sequence[1], sequence[3]]
    assert {row["shard_id"] for row in rows} == {"shardId-000000000000"}
    poison = [json.loads(line) for line in quarantine.decode().splitlines()]
    assert [(p["sequence_number"], p["reason"]) for p in poison] == [
        (sequence[2], "data.not_json"),
        (sequence[4], "label.unknown_value"),
        (sequence[5], "source.unknown"),
    ]
    # acknowledged: nothing retried to exhaustion, nothing on the mapping's on-failure queue
    queue = cloud.physical_id("FeedbackDeadLetterQueue")
    attributes = cloud.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
