"""The validation step's decisions as plain values: what an upload's bytes are worth before anything is written, and
when a failed read means the version is gone."""

from datetime import UTC, datetime, timedelta

import pytest
from cd4ml_shared.errors import DatasetMissing
from cd4ml_shared.ingest import assess, copy_source, dataset_missing, has_contract
from cd4ml_shared.run_input import DatasetRef

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ORDERS = DatasetRef(bucket="raw", key="datasets/orders/2026-11-25/orders.csv", version_id="v1")


def test_a_dataset_without_a_contract_is_unknown_and_needs_no_reference():
    refunds = DatasetRef(bucket="raw", key="datasets/refunds/2026-11-25/refunds.csv", version_id="v1")
    assert not has_contract(refunds) and has_contract(ORDERS)

    assessment = assess(b"a,b\n1,2\n", refunds, reference=None, run_id="run-1", now=NOW)

    assert not assessment.passed and assessment.reason == "dataset.unknown" and assessment.rows == 0
    assert assessment.document["source"]["run_id"] == "run-1"
    assert assessment.quarantine_metadata("run-1") == {"quarantine-reason": "dataset.unknown", "run-id": "run-1"}


def test_bytes_that_are_not_a_table_are_unreadable():
    parquet = ORDERS.model_copy(update={"key": "datasets/orders/2026-11-25/orders.parquet"})

    assessment = assess(b"not parquet", parquet, reference=None, run_id="run-1", now=NOW)

    assert not assessment.passed and assessment.reason == "dataset.unreadable"
    reason = assessment.quarantine_reason("s3://raw/report.json", NOW)
    assert reason["reason"] == "dataset.unreadable" and reason["quarantined_at"] == NOW.isoformat()


@pytest.mark.parametrize("code", ["NoSuchVersion", "404", "NoSuchKey", "NoSuchBucket"])
def test_a_version_that_is_no_longer_there_is_dataset_missing(code):
    error = dataset_missing(code, ORDERS)
    assert isinstance(error, DatasetMissing)
    assert str(error) == "s3://raw/datasets/orders/2026-11-25/orders.csv (version v1) no longer exists"


def test_a_refused_read_is_not_dataset_missing():
    assert dataset_missing("AccessDenied", ORDERS) is None


def test_the_copy_reads_exactly_the_uploaded_version():
    assert copy_source(ORDERS) == {"Bucket": "raw", "Key": ORDERS.key, "VersionId": "v1"}
    assert "VersionId" not in copy_source(ORDERS.model_copy(update={"version_id": None}))


def test_the_stages_freshness_limit_replaces_the_contracts(tmp_path):
    from cd4ml.data.orders import generate_orders, write_dataset

    old = generate_orders(2_000, seed=1, start=NOW - timedelta(days=12), days=3)  # newest order 9 days old
    path = tmp_path / "orders.parquet"
    write_dataset(old, path)
    body = path.read_bytes()
    parquet = ORDERS.model_copy(update={"key": "datasets/orders/2026-11-25/orders.parquet"})

    default = assess(body, parquet, reference=None, run_id="run-1", now=NOW)
    relaxed = assess(body, parquet, reference=None, run_id="run-1", now=NOW, max_age_days=30)

    assert default.reason == "time.stale_data" and relaxed.passed
    assert default.document["failures"][0]["numbers"]["max_age_days"] == 7.0


@pytest.mark.parametrize("name", ["orders.json", "orders.xlsx", "orders", "orders.csv.zip"])
def test_any_other_file_under_datasets_is_an_unsupported_format_named_by_its_uri(name):
    upload = ORDERS.model_copy(update={"key": f"datasets/orders/2026-11-25/{name}"})

    assessment = assess(b"{}", upload, reference=None, run_id="run-1", now=NOW)

    assert assessment.reason == "dataset.unsupported_format" and not assessment.passed
    assert assessment.summary.startswith(f"s3://raw/datasets/orders/2026-11-25/{name} is not a dataset file")
    assert assessment.document["failures"][0]["code"] == "dataset.unsupported_format"
