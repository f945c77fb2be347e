"""RequestRetrainingFunction on moto: a RetrainingRequested starts a run by writing its dataset (the champion's
accepted rows and production's labelled orders of the lookback) under datasets/ with its lineage, and records the
request; the same event delivered again resumes without a second object version; a storm of other requests is
dropped with why (in flight, cooldown) and recorded; the run's end releases the lock and a request after the cooldown
starts again; without an approved version nothing is written and the lock goes back; a malformed request is answered
invalid. The world is made of the real writers' objects: the decision log and the ground truth as their stream
functions store them (decide_batch over real-shaped Kinesis records)."""

from __future__ import annotations

import base64
import copy
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_shared.aws import decision_log as decision_log_store
from cd4ml_shared.aws import feedback as ground_truth_store
from cd4ml_shared.decision_log import decide_batch as decide_decisions
from cd4ml_shared.feedback import decide_batch as decide_labels
from cd4ml_shared.retraining_data import contract_schema
from moto_world import create_stack_buckets

from cd4ml.data import generate_orders, write_dataset

RAW = "cd4ml-dev-rawdatabucket-example"
ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
GROUP = "cd4ml-dev-fraud"
TABLE = "cd4ml-dev-RetrainingGuardTable-EXAMPLE"
ENVIRONMENT = {
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "RAW_DATA_BUCKET": RAW,
    "MODEL_PACKAGE_GROUP": GROUP,
    "GUARD_TABLE": TABLE,
    "RETRAINING_COOLDOWN_S": "86400",  # the template's defaults
    "RETRAINING_STALE_AFTER_S": "21600",
    "RETRAINING_LOOKBACK_S": "604800",
}
REQUEST_ID = "20261202T100005Z-7bf73129"  # of events/eventbridge_retraining_requested.json (time and id)
DATASET_KEY = f"datasets/orders/2026-12-02/retrain-{REQUEST_ID}.parquet"
CHAMPION_KEY = "datasets/orders/2026-11-21/orders.csv"
Event = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Champion:
    uri: str
    version_id: str
    order_ids: frozenset[str]


@dataclass(frozen=True)
class Production:
    labels: dict[str, int]  # order id -> its (latest) label, for the labelled orders of the lookback
    unlabelled: frozenset[str]  # logged in the lookback, no label yet
    too_old: frozenset[str]  # logged (and labelled) before the lookback


@pytest.fixture
def s3(aws: None) -> Any:
    client = create_stack_buckets(RAW, ARTIFACTS)
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "group", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "group", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    return client


@pytest.fixture
def app(s3: Any, load_function: Callable[..., ModuleType]) -> ModuleType:
    return load_function("request_retraining", ENVIRONMENT)


def register(metadata: dict[str, str], status: str = "Approved") -> str:
    arn: str = boto3.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties=metadata,
    )["ModelPackageArn"]
    return arn


def accept_champion(s3: Any, folder: Path) -> Champion:
    """The approved version's accepted dataset: 600 orders as the generator writes a CSV, pinned to its version; a
    later upload of the same key (another version) must not be what a retraining extends."""
    accepted = generate_orders(600, seed=3, start=datetime(2026, 11, 1, tzinfo=UTC), days=20, fraud_rate=0.05)
    write_dataset(accepted, folder / "orders.csv")
    version = s3.put_object(Bucket=RAW, Key=CHAMPION_KEY, Body=(folder / "orders.csv").read_bytes())["VersionId"]
    later = generate_orders(25, seed=4, start=datetime(2026, 11, 21, tzinfo=UTC), days=1, fraud_rate=0.05)
    write_dataset(later, folder / "later.csv")
    s3.put_object(Bucket=RAW, Key=CHAMPION_KEY, Body=(folder / "later.csv").read_bytes())
    uri = f"s3://{RAW}/{CHAMPION_KEY}"
    register({"cd4ml:dataset_uri": uri, "cd4ml:dataset_version": version, "cd4ml:run_id": "orders-2026-11-21-1"})
    return Champion(uri, version, frozenset(accepted.column("order_id").to_pylist()))


@pytest.fixture
def champion(s3: Any, tmp_path: Path) -> Champion:
    return accept_champion(s3, tmp_path)


def kinesis_records(payloads: list[dict[str, Any]], arrivals: list[float], stream: str) -> list[dict[str, Any]]:
    """AWS's Kinesis→Lambda records (events/kinesis_ground_truth.json's shape), one per payload."""
    records = []
    for number, (payload, arrival) in enumerate(zip(payloads, arrivals, strict=True)):
        sequence = f"49590338271490256608559692538361571095921575989136{number:06d}"
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": str(payload.get("detail", payload).get("customer_id", "c-0")),
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(json.dumps(payload).encode()).decode(),
                    "approximateArrivalTimestamp": arrival,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "awsRegion": "us-east-1",
                "eventSourceARN": f"arn:aws:kinesis:us-east-1:123456789012:stream/{stream}",
            }
        )
    return records


def log_decisions(s3: Any, orders: pa.Table) -> None:
    """The orders decided (a Decision Made event each, two seconds after the order) and stored as
    record_decisions stores a batch: under decisions/ in the hour of the batch's first arrival."""
    events, arrivals = [], []
    for order in orders.to_pylist():
        decided = order["order_ts"] + timedelta(seconds=2)
        order["order_ts"] = order["order_ts"].strftime("%Y-%m-%dT%H:%M:%SZ")
        order.pop("is_fraud")
        detail = {
            "inference_id": f"inf-{order['order_id']}",
            "order_id": order["order_id"],
            "decision": "approve",
            "score": 0.12,
            "model_version": 1,
            "thresholds": {"operating_point": 0.4, "review": 0.2, "decline": 0.7},
            "customer_id": order["customer_id"],
            "endpoint_name": GROUP,
            "order": order,
        }
        events.append(
            {
                "version": "0",
                "id": f"ev-{order['order_id']}",
                "detail-type": "Decision Made",
                "source": "cd4ml.decisions",
                "account": "123456789012",
                "time": decided.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "us-east-1",
                "resources": [],
                "detail": detail,
            }
        )
        arrivals.append(decided.timestamp() + 1)
    batch = decide_decisions(kinesis_records(events, arrivals, "cd4ml-dev-DecisionLogStream"))
    assert not batch.poison, batch.reasons
    decision_log_store.store_batch(s3, ARTIFACTS, batch)


def send_labels(s3: Any, labels: dict[str, int], labeled_at: datetime) -> None:
    """Ground truth for these orders' inference ids, stored as record_feedback stores a batch."""
    stamp = labeled_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    payloads = [
        {"inference_id": f"inf-{order_id}", "label": label, "labeled_at": stamp, "source": "chargeback"}
        for order_id, label in labels.items()
    ]
    arrival = labeled_at.timestamp() + 5
    batch = decide_labels(kinesis_records(payloads, [arrival] * len(payloads), "cd4ml-dev-GroundTruthStream"))
    assert not batch.poison, batch.reasons
    ground_truth_store.store_batch(s3, ARTIFACTS, batch)


@pytest.fixture
def production(s3: Any) -> Production:
    """300 orders decided in the week before the request (two batches: two hourly partitions), 240 of them
    labelled; 20 decided (and labelled) a fortnight earlier, outside the lookback."""
    rng = np.random.default_rng(29)
    recent = generate_orders(300, seed=8, start=datetime(2026, 11, 28, tzinfo=UTC), days=4, fraud_rate=0.1)
    old = generate_orders(20, seed=9, start=datetime(2026, 11, 14, tzinfo=UTC), days=1, fraud_rate=0.1)
    for part in (recent.slice(0, 150), recent.slice(150), old):
        log_decisions(s3, part)
    truth = dict(zip(recent.column("order_id").to_pylist(), recent.column("is_fraud").to_pylist(), strict=True))
    labelled = sorted(rng.choice(sorted(truth), size=240, replace=False).tolist())
    labels = {order_id: truth[order_id] for order_id in labelled}
    old_ids = old.column("order_id").to_pylist()
    send_labels(s3, {**labels, **dict.fromkeys(old_ids, 0)}, datetime(2026, 12, 1, 20, tzinfo=UTC))
    return Production(labels, frozenset(truth) - frozenset(labels), frozenset(old_ids))


def requested(sample_event: Event, event_id: str, time: str, episode: str | None) -> dict[str, Any]:
    """Another RetrainingRequested of monitoring's shape: another event (id, time) and episode."""
    event = sample_event("eventbridge_retraining_requested.json")
    event["id"], event["time"] = event_id, time
    event["detail"]["episode"] = episode
    return event


def read_json(s3: Any, bucket: str, key: str) -> Any:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def request_record(s3: Any, day: str, request_id: str) -> dict[str, Any]:
    record: dict[str, Any] = read_json(s3, ARTIFACTS, f"retraining/{GROUP}/requests/{day}/{request_id}.json")
    return record


def guard_item() -> dict[str, Any]:
    """The group's guard item ({} when no request ever took it)."""
    got = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"group": {"S": GROUP}}, ConsistentRead=True)
    item: dict[str, Any] = got.get("Item", {})
    return item


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def test_a_retraining_requested_writes_the_champions_rows_and_the_labelled_production_orders(
    app: ModuleType,
    s3: Any,
    champion: Champion,
    production: Production,
    sample_event: Event,
    context: Any,
) -> None:
    event = sample_event("eventbridge_retraining_requested.json")

    result = app.handler(event, context)

    assert result == {
        "started": True,
        "request_id": REQUEST_ID,
        "why": "retraining for drift",
        "dataset_uri": f"s3://{RAW}/{DATASET_KEY}",
    }
    dataset = pq.read_table(io.BytesIO(s3.get_object(Bucket=RAW, Key=DATASET_KEY)["Body"].read()))
    assert dataset.schema.remove_metadata() == contract_schema()  # the ORDERS contract, as validation reads it
    order_ids = dataset.column("order_id").to_pylist()
    assert len(order_ids) == len(set(order_ids)) == 600 + 240
    # the champion's pinned version (not the later upload of its key), and the labelled orders only
    assert set(order_ids) == champion.order_ids | set(production.labels)
    assert not set(order_ids) & (production.unlabelled | production.too_old)
    labels = dict(zip(order_ids, dataset.column("is_fraud").to_pylist(), strict=True))
    assert {order_id: labels[order_id] for order_id in production.labels} == production.labels
    times = dataset.column("order_ts").to_pylist()
    assert times == sorted(times)  # in time order, as any dataset the pipeline takes

    span = "2026-11-25T10:00:05+00:00/2026-12-02T10:00:05+00:00"  # the lookback, up to the request
    windows = ["20261130T100000Z--20261201T100000Z", span]
    metadata = s3.head_object(Bucket=RAW, Key=DATASET_KEY)["Metadata"]
    assert metadata == {
        "retraining-request-id": REQUEST_ID,
        "retraining-reason": "drift",
        "retraining-episode": "20261130T100000Z--20261201T100000Z",
        "retraining-windows": json.dumps(windows, separators=(",", ":")),
        "source-dataset": f"{champion.uri}?versionId={champion.version_id}",
        "production-rows": "240",
        "unlabelled-dropped": "60",
        "labelled-share": "0.800000",
    }
    lineage = read_json(s3, ARTIFACTS, f"retraining/{GROUP}/runs/{REQUEST_ID}.json")
    assert (lineage["rows"], lineage["accepted_rows"], lineage["production_rows"]) == (840, 600, 240)
    assert lineage["windows"] == windows and lineage["dataset_uri"] == f"s3://{RAW}/{DATASET_KEY}"
    record = request_record(s3, "2026-12-02", REQUEST_ID)
    assert (record["started"], record["dropped"], record["reason"]) == (True, None, "drift")
    assert record["dataset"]["uri"] == f"s3://{RAW}/{DATASET_KEY}" and record["dataset"]["written"] is True
    assert record["dataset"]["rows"] == 840
    assert guard_item()["in_flight"] == {"S": REQUEST_ID}


def test_the_version_trained_on_a_retraining_dataset_says_why_in_its_registry_metadata(
    app: ModuleType,
    s3: Any,
    champion: Champion,
    production: Production,
    sample_event: Event,
    context: Any,
    load_function: Callable[..., ModuleType],
) -> None:
    app.handler(sample_event("eventbridge_retraining_requested.json"), context)
    version = s3.head_object(Bucket=RAW, Key=DATASET_KEY)["VersionId"]
    register_model = load_function(
        "register_model",
        {
            "MODEL_PACKAGE_GROUP": GROUP,
            "MODEL_APPROVAL_STATUS": "PendingManualApproval",
            "ARTIFACTS_BUCKET": ARTIFACTS,
            "CODE_VERSION": "dev",
            "INFERENCE_IMAGE": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
        },
    )

    lineage = register_model.retraining_of({"bucket": RAW, "key": DATASET_KEY, "version_id": version})

    assert lineage == {
        "cd4ml:retraining": "true",
        "cd4ml:retraining_request_id": REQUEST_ID,
        "cd4ml:retraining_reason": "drift",
        "cd4ml:retraining_episode": "20261130T100000Z--20261201T100000Z",
        "cd4ml:retraining_windows": (
            '["20261130T100000Z--20261201T100000Z","2026-11-25T10:00:05+00:00/2026-12-02T10:00:05+00:00"]'
        ),
        "cd4ml:retraining_source_dataset": f"{champion.uri}?versionId={champion.version_id}",
        "cd4ml:retraining_production_rows": "240",
    }
    assert register_model.retraining_of({"bucket": RAW, "key": CHAMPION_KEY}) == {}  # an upload: no read at all


def test_the_same_event_delivered_again_resumes_its_run_without_a_second_dataset_version(
    app: ModuleType,
    s3: Any,
    champion: Champion,
    production: Production,
    sample_event: Event,
    context: Any,
) -> None:
    event = sample_event("eventbridge_retraining_requested.json")
    first = app.handler(event, context)

    again = app.handler(copy.deepcopy(event), context)

    assert again == {**first, "why": f"run {REQUEST_ID} resumed (its request was delivered again)"}
    versions = s3.list_object_versions(Bucket=RAW, Prefix=DATASET_KEY).get("Versions", [])
    assert len(versions) == 1  # a second version would be a second upload event, so a second training run
    record = request_record(s3, "2026-12-02", REQUEST_ID)
    assert record["started"] is True and "resumed" in record["why"]
    assert record["dataset"]["written"] is False and record["dataset"]["rows"] == 840


def test_a_storm_starts_one_run_and_after_its_end_and_the_cooldown_another(
    app: ModuleType,
    s3: Any,
    champion: Champion,
    production: Production,
    sample_event: Event,
    context: Any,
) -> None:
    assert app.handler(sample_event("eventbridge_retraining_requested.json"), context)["started"] is True

    # another window of the drift, ten minutes on, while the run trains: dropped, in flight
    second = requested(sample_event, "0d2f4a61-77c3-4b0e-9e1a-3c5d6f7a8b90", "2026-12-02T10:10:05Z", "ep-2")
    in_flight = app.handler(second, context)

    assert in_flight == {
        "started": False,
        "request_id": "20261202T101005Z-0d2f4a61",
        "dropped": "in_flight",
        "why": f"run {REQUEST_ID} is in flight (since 600 s)",
    }
    record = request_record(s3, "2026-12-02", "20261202T101005Z-0d2f4a61")
    assert (record["started"], record["dropped"], record["why"]) == (False, "in_flight", in_flight["why"])
    assert record["episode"] == "ep-2" and record["dataset"] is None
    assert keys(s3, RAW, "datasets/orders/2026-12-02/") == [DATASET_KEY]

    # the training pipeline's run of the dataset ends: the lock goes back, once
    run_ended = sample_event("sfn_execution_status_change_retraining.json")
    assert app.handler(run_ended, context) == {"released": True, "request_id": REQUEST_ID, "status": "SUCCEEDED"}
    assert "in_flight" not in guard_item()
    assert app.handler(run_ended, context)["released"] is False  # delivered again: nothing left to release

    # the quality alarm an hour later: within the cooldown after the start
    alarm = app.handler(sample_event("cloudwatch_alarm_state_change.json"), context)

    assert (alarm["started"], alarm["dropped"]) == (False, "cooldown")
    assert alarm["why"] == "within the cooldown after the last start (82525 s left)"  # 24 h - (11:04:40 - 10:00:05)
    alarm_record = request_record(s3, "2026-12-02", alarm["request_id"])
    assert (alarm_record["reason"], alarm_record["dropped"]) == ("alarm", "cooldown")

    # the next day, past the cooldown, a new episode: a run of its own, with its own dataset
    later = requested(sample_event, "5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b", "2026-12-03T10:00:06Z", "ep-3")
    result = app.handler(later, context)

    assert result["started"] is True and result["request_id"] == "20261203T100006Z-5e6f7a8b"
    assert result["dataset_uri"] == f"s3://{RAW}/datasets/orders/2026-12-03/retrain-20261203T100006Z-5e6f7a8b.parquet"
    assert guard_item()["in_flight"] == {"S": "20261203T100006Z-5e6f7a8b"}
    assert request_record(s3, "2026-12-03", "20261203T100006Z-5e6f7a8b")["dataset"]["rows"] == 840


def test_without_an_approved_version_the_request_is_dropped_and_takes_no_lock(
    app: ModuleType, s3: Any, sample_event: Event, context: Any
) -> None:
    register({"cd4ml:dataset_uri": f"s3://{RAW}/{CHAMPION_KEY}"}, status="PendingManualApproval")

    result = app.handler(sample_event("eventbridge_retraining_requested.json"), context)

    assert result == {
        "started": False,
        "request_id": REQUEST_ID,
        "dropped": "no_accepted_dataset",
        "why": f"group {GROUP} has no approved version: nothing to retrain from",
    }
    assert guard_item() == {}  # no lock, no cooldown, no episode taken
    assert keys(s3, RAW, "datasets/") == []
    record = request_record(s3, "2026-12-02", REQUEST_ID)
    assert (record["started"], record["dropped"], record["why"]) == (False, "no_accepted_dataset", result["why"])


def test_once_the_first_version_is_approved_the_same_episode_starts_at_once(
    app: ModuleType, s3: Any, production: Production, sample_event: Event, context: Any, tmp_path: Path
) -> None:
    """A request that found nothing to extend is no start: neither the cooldown nor its episode holds the next."""
    assert (
        app.handler(sample_event("eventbridge_retraining_requested.json"), context)["dropped"] == "no_accepted_dataset"
    )
    accept_champion(s3, tmp_path)

    again = requested(
        sample_event,
        "0d2f4a61-77c3-4b0e-9e1a-3c5d6f7a8b90",
        "2026-12-02T10:30:05Z",
        "20261130T100000Z--20261201T100000Z",
    )
    result = app.handler(again, context)

    assert (result["started"], result["request_id"]) == (True, "20261202T103005Z-0d2f4a61")
    assert guard_item()["in_flight"] == {"S": "20261202T103005Z-0d2f4a61"}


def test_an_approved_version_whose_lineage_names_no_dataset_is_dropped_too(
    app: ModuleType, s3: Any, sample_event: Event, context: Any
) -> None:
    arn = register({"cd4ml:run_id": "orders-2026-11-21-1"})

    result = app.handler(sample_event("eventbridge_retraining_requested.json"), context)

    assert (result["dropped"], result["why"]) == (
        "no_accepted_dataset",
        f"{arn} names no dataset in its lineage (cd4ml:dataset_uri)",
    )
    assert guard_item() == {}


def test_a_champion_gone_after_the_claim_gives_the_lock_back(
    app: ModuleType, s3: Any, sample_event: Event, context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its approval revoked between the check and the dataset's assembly: the claimed lock is released at once."""
    register({"cd4ml:dataset_uri": f"s3://{RAW}/{CHAMPION_KEY}"}, status="PendingManualApproval")
    monkeypatch.setattr(app, "champion_dataset", lambda sagemaker, group: (f"s3://{RAW}/{CHAMPION_KEY}", None))

    result = app.handler(sample_event("eventbridge_retraining_requested.json"), context)

    assert (result["started"], result["dropped"]) == (False, "no_accepted_dataset")
    item = guard_item()
    assert "in_flight" not in item and item["version"] == {"N": "2"}  # claimed, then released
    assert request_record(s3, "2026-12-02", REQUEST_ID)["dropped"] == "no_accepted_dataset"


def test_a_retraining_requested_without_a_reason_is_answered_invalid_not_raised(
    app: ModuleType, s3: Any, sample_event: Event, context: Any
) -> None:
    event = sample_event("eventbridge_retraining_requested.json")
    del event["detail"]["reason"]

    result = app.handler(event, context)

    assert result["started"] is False
    assert result["invalid"].startswith("detail.reason must be one of ['drift', 'quality', 'schedule'")
    assert keys(s3, ARTIFACTS, "retraining/") == []
    assert "Item" not in boto3.client("dynamodb").get_item(TableName=TABLE, Key={"group": {"S": GROUP}})


def test_an_alarm_going_back_to_ok_is_ignored(app: ModuleType, s3: Any, sample_event: Event, context: Any) -> None:
    event = sample_event("cloudwatch_alarm_state_change.json")
    event["detail"]["state"]["value"] = "OK"

    assert app.handler(event, context) == {"started": False, "ignored": "CloudWatch Alarm State Change"}
    assert keys(s3, ARTIFACTS, "retraining/") == []
