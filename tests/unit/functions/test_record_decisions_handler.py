"""RecordDecisionsFunction on moto: a Kinesis batch of Decision Made events becomes one Parquet object of decisions
with their raw orders, its poison one quarantine file with the reasons, and the batch is acknowledged; when S3 does
not take a write, the batch is reported from its first sequence number and the redelivery overwrites its objects."""

import base64
import copy
import io
import json
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
DECISION = json.loads((Path(__file__).parents[3] / "events" / "eventbridge_decision_made.json").read_text())


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=ARTIFACTS)
    return client


@pytest.fixture
def app(s3, load_function):
    return load_function("record_decisions", {"ARTIFACTS_BUCKET": ARTIFACTS})


def kinesis_event(*bodies: object) -> dict:
    """AWS's Kinesis→Lambda event with one record per body (an EventBridge event, or bytes as they are)."""
    records = []
    for number, body in enumerate(bodies):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        sequence = f"49590338271490256608559692538361571095921575989136{number:06d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "c-0042",
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": 1796163301.0 + number / 1000,  # 2026-12-01T22:15:01Z
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/record-decisions",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/cd4ml-dev-DecisionLogStream",
            }
        )
    return {"Records": records}


def decision(order_id: str) -> dict:
    made = copy.deepcopy(DECISION)
    made["detail"]["order_id"] = made["detail"]["order"]["order_id"] = order_id
    return made


def stored(s3, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", [])]


@pytest.fixture
def event() -> dict:
    return kinesis_event(decision("o-1"), b"not json", decision("o-2"), {**DECISION, "detail-type": "Order Placed"})


def test_decisions_are_one_parquet_object_and_poison_is_quarantined_with_reasons(app, s3, event, context, capsys):
    result = app.handler(event, context)

    assert result == {"batchItemFailures": []}
    first = event["Records"][0]["kinesis"]["sequenceNumber"]
    (key,) = stored(s3, "decisions/")
    assert key == f"decisions/dt=2026-12-01/hour=22/shardId-000000000000-{first}.parquet"
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()))
    assert table.column("order_id").to_pylist() == ["o-1", "o-2"]
    assert table.column("order_amount").to_pylist() == [129.5, 129.5]
    (quarantined,) = stored(s3, "quarantine/decisions/")
    lines = s3.get_object(Bucket=ARTIFACTS, Key=quarantined)["Body"].read().decode().splitlines()
    assert [json.loads(line)["reason"] for line in lines] == ["data.not_json", "event.not_decision_made"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (metrics,) = emf
    counts = {name: value for name, value in metrics.items() if name.startswith("DecisionLog")}
    assert counts == {
        "DecisionLogRecordsReceived": [4.0],
        "DecisionLogRecordsWritten": [2.0],
        "DecisionLogRecordsPoison": [2.0],
        "DecisionLogPoison_data.not_json": [1.0],
        "DecisionLogPoison_event.not_decision_made": [1.0],
    }


def test_a_throttled_write_reports_the_batch_from_its_first_sequence_number(app, s3, event, context):
    with Stubber(app.s3) as stub:
        stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
        result = app.handler(event, context)

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["kinesis"]["sequenceNumber"]}]}
    assert stored(s3, "decisions/") == [] and stored(s3, "quarantine/") == []


def test_a_batch_delivered_again_after_a_failed_quarantine_write_overwrites_its_objects(app, s3, event, context):
    real_put = app.s3.put_object
    calls: list[str] = []

    def put_failing_quarantine(**request):
        calls.append(request["Key"])
        if request["Key"].startswith("quarantine/") and len(calls) == 2:
            raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")
        return real_put(**request)

    app.s3.put_object = put_failing_quarantine
    first = app.handler(event, context)
    again = app.handler(event, context)

    assert first["batchItemFailures"] and again == {"batchItemFailures": []}
    assert len(stored(s3, "decisions/")) == 1 and len(stored(s3, "quarantine/decisions/")) == 1
    assert calls[0] == calls[2]  # the same Parquet key both times
