"""ValidateDatasetFunction: the run's upload (that version) checked against its contract: accepted data is snapshot
for the run and its profile kept as the run's candidate reference, bad data is quarantined with its reason, a
vanished version is DatasetMissing."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from moto_world import create_stack_buckets

from cd4ml.data import Fault, generate_orders, write_dataset

RAW = "cd4ml-dev-rawdatabucket-example"
ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
KEY = "datasets/orders/2026-11-25/orders.csv"
NOW = datetime.now(UTC)
START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=14)


@pytest.fixture(scope="module")
def csv_of(tmp_path_factory):
    """CSV bytes of a generated orders dataset (with faults injected, if any)."""

    def make(*faults: Fault) -> bytes:
        path = tmp_path_factory.mktemp("orders") / "orders.csv"
        write_dataset(generate_orders(2_000, seed=1, start=START, days=14, faults=faults), path)
        return path.read_bytes()

    return make


@pytest.fixture
def s3(aws):
    return create_stack_buckets(RAW, ARTIFACTS)


@pytest.fixture
def app(s3, load_function):
    return load_function("validate_dataset", {"ARTIFACTS_BUCKET": ARTIFACTS, "DATASET_MAX_AGE_DAYS": "7"})


def run_for(s3, sample_event, body: bytes, key: str = KEY) -> dict:
    """The ValidateData task's input for an upload of `body` (the sample execution input, pinned to that version)."""
    put = s3.put_object(Bucket=RAW, Key=key, Body=body)
    run = sample_event("training_pipeline_input.json")
    run["dataset"].update(key=key, version_id=put["VersionId"], etag=put["ETag"].strip('"'), size=len(body))
    return run


def test_a_clean_upload_is_snapshot_and_its_profile_is_only_a_candidate(app, s3, csv_of, sample_event, context):
    """The reference moves when the run registers a model (record_outcome), never at validation: a run that fails
    later, or loses a race to newer data, must not become the baseline."""
    run = run_for(s3, sample_event, csv_of())

    result = app.handler(run, context)

    prefix = f"s3://{ARTIFACTS}/runs/{run['run_id']}"
    assert result["passed"] is True and result["reason"] == "" and result["rows"] == 2_000
    assert result["dataset_uri"] == f"{prefix}/dataset/orders.csv" and result["quarantine_uri"] is None
    assert result["report_uri"] == f"s3://{RAW}/datasets/orders/2026-11-25/orders.csv.quality.json"
    assert result["run_report_uri"] == f"{prefix}/quality.json"
    snapshot = s3.get_object(Bucket=ARTIFACTS, Key=f"runs/{run['run_id']}/dataset/orders.csv")["Body"].read()
    assert snapshot == csv_of()
    candidate = s3.get_object(Bucket=ARTIFACTS, Key=f"runs/{run['run_id']}/reference-candidate.json")
    assert json.loads(candidate["Body"].read())["rows"] == 2_000
    assert s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="reference/").get("KeyCount") == 0


def test_an_upload_with_duplicate_keys_is_quarantined_with_its_reason(app, s3, csv_of, sample_event, context):
    run = run_for(s3, sample_event, csv_of(Fault.DUPLICATE_ROWS))

    result = app.handler(run, context)

    assert result["passed"] is False and result["reason"] == "rows.duplicate_key"
    assert result["quarantine_uri"] == f"s3://{RAW}/quarantine/{KEY}" and result["dataset_uri"] is None
    copy = s3.head_object(Bucket=RAW, Key=f"quarantine/{KEY}")
    assert copy["Metadata"] == {"quarantine-reason": "rows.duplicate_key", "run-id": run["run_id"]}
    reason = json.loads(
        s3.get_object(Bucket=RAW, Key="quarantine/datasets/orders/2026-11-25/orders.csv.reason.json")["Body"].read()
    )
    assert reason["reason"] == "rows.duplicate_key" and reason["source"]["version_id"] == run["dataset"]["version_id"]
    assert s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="reference/").get("KeyCount") == 0


def test_a_dataset_without_a_contract_is_quarantined_as_unknown(app, s3, csv_of, sample_event, context):
    run = run_for(s3, sample_event, csv_of(), key="datasets/refunds/2026-11-25/refunds.csv")

    result = app.handler(run, context)

    assert result["passed"] is False and result["reason"] == "dataset.unknown"
    assert result["summary"].startswith("no contract for dataset 'refunds'")


def test_a_version_gone_before_validation_is_dataset_missing(app, s3, csv_of, sample_event, context):
    run = run_for(s3, sample_event, csv_of())
    s3.delete_object(Bucket=RAW, Key=KEY, VersionId=run["dataset"]["version_id"])

    with pytest.raises(Exception) as raised:
        app.handler(run, context)

    assert type(raised.value).__name__ == "DatasetMissing"
    assert str(raised.value) == f"s3://{RAW}/{KEY} (version {run['dataset']['version_id']}) no longer exists"
