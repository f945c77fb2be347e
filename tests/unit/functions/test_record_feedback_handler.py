"""RecordFeedbackFunction on moto: a Kinesis batch's good records become one Parquet object, its poison one quarantine
file with the reasons, and the batch is acknowledged; when S3 does not take a write, the batch is reported from its
first sequence number (so Kinesis delivers all of it again) and the redelivery overwrites rather than doubles."""

import io
import json

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=ARTIFACTS)
    return client


@pytest.fixture
def app(s3, load_function):
    return load_function("record_feedback", {"ARTIFACTS_BUCKET": ARTIFACTS})


@pytest.fixture
def event(sample_event) -> dict:
    return sample_event("kinesis_ground_truth_batch.json")


def stored(s3, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=prefix).get("Contents", [])]


def first_sequence_number(event: dict) -> str:
    return event["Records"][0]["kinesis"]["sequenceNumber"]


def test_good_records_are_one_parquet_object_and_poison_is_quarantined_with_reasons(app, s3, event, context, capsys):
    result = app.handler(event, context)

    assert result == {"batchItemFailures": []}
    (key,) = stored(s3, "ground-truth/")
    assert key == f"ground-truth/dt=2026-11-25/hour=12/shardId-000000000000-{first_sequence_number(event)}.parquet"
    table = pq.read_table(io.BytesIO(s3.get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()))
    # the same inference id twice (a chargeback, then a manual correction): both kept, for the join to resolve
    assert table.column("label").to_pylist() == [1, 0, 0]
    assert table.column("source").to_pylist() == ["chargeback", "review", "manual"]
    (quarantined,) = stored(s3, "quarantine/ground-truth/")
    lines = s3.get_object(Bucket=ARTIFACTS, Key=quarantined)["Body"].read().decode().splitlines()
    reasons = [json.loads(line)["reason"] for line in lines]
    assert reasons == ["data.not_json", "label.unknown_value", "source.missing", "label.wrong_type"]
    out = capsys.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    (metrics,) = emf
    counts = {name: value for name, value in metrics.items() if name.startswith("Feedback")}
    assert counts == {
        "FeedbackRecordsReceived": [7.0],
        "FeedbackRecordsWritten": [3.0],
        "FeedbackRecordsPoison": [4.0],
        "FeedbackPoison_data.not_json": [1.0],
        "FeedbackPoison_label.unknown_value": [1.0],
        "FeedbackPoison_label.wrong_type": [1.0],
        "FeedbackPoison_source.missing": [1.0],
    }


@pytest.mark.parametrize("failure", ["throttled", "unreachable"])
def test_a_write_s3_does_not_take_reports_the_batch_from_its_first_sequence_number(app, s3, event, context, failure):
    with Stubber(app.s3) as stub:
        if failure == "throttled":
            stub.add_client_error("put_object", service_error_code="SlowDown", http_status_code=503)
        else:
            app.s3.put_object = _unreachable  # a connection that never answers: botocore's own error
        result = app.handler(event, context)

    assert result == {"batchItemFailures": [{"itemIdentifier": first_sequence_number(event)}]}
    assert stored(s3, "ground-truth/") == [] and stored(s3, "quarantine/") == []


def _unreachable(**_: object) -> None:
    raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")


def test_a_batch_delivered_again_after_a_failed_quarantine_write_overwrites_its_objects(app, s3, event, context):
    # the good rows were written, the quarantine file was not: the whole batch comes back, under the same keys
    real_put = app.s3.put_object
    calls = []

    def put_failing_quarantine(**request):
        calls.append(request["Key"])
        if request["Key"].startswith("quarantine/") and len(calls) == 2:
            raise EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")
        return real_put(**request)

    app.s3.put_object = put_failing_quarantine
    first = app.handler(event, context)
    again = app.handler(event, context)

    assert first == {"batchItemFailures": [{"itemIdentifier": first_sequence_number(event)}]}
    assert again == {"batchItemFailures": []}
    assert len(stored(s3, "ground-truth/")) == 1 and len(stored(s3, "quarantine/ground-truth/")) == 1
    assert calls[0] == calls[2]  # the same Parquet key both times


def test_a_batch_of_poison_only_is_acknowledged_and_writes_no_empty_parquet(app, s3, event, context):
    event["Records"] = event["Records"][3:]

    assert app.handler(event, context) == {"batchItemFailures": []}
    assert stored(s3, "ground-truth/") == [] and len(stored(s3, "quarantine/ground-truth/")) == 1
