"""The content index: a training is identified by the dataset's bytes, the model code version and the
hyperparameters, so re-uploading the same bytes finds the earlier run and nothing else does."""

from datetime import UTC, datetime

from cd4ml_shared.content_index import (
    content_digest,
    content_identity,
    index_entry,
    index_key,
    rerun_requested,
)
from cd4ml_shared.jobs import DEFAULT_HYPERPARAMETERS
from cd4ml_shared.outcome import notification, run_record

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
SHA = "d5a4139de6480cee4f62c08678ba4308e62c4932750990e80ea6467aeaa7980c"


def digest(**changes) -> str:
    values = {"sha256": SHA, "code_version": "abc123", "hyperparameters": DEFAULT_HYPERPARAMETERS, **changes}
    return content_digest(content_identity(**values))


def test_the_same_bytes_code_and_hyperparameters_have_one_digest_whatever_the_key_order():
    reordered = dict(reversed(list(DEFAULT_HYPERPARAMETERS.items())))
    assert digest() == digest(hyperparameters=reordered)
    assert index_key(digest()) == f"index/content/{digest()}.json"


def test_other_bytes_code_or_hyperparameters_are_another_training():
    others = {
        digest(sha256="0" * 64),
        digest(code_version="def456"),
        digest(hyperparameters={**DEFAULT_HYPERPARAMETERS, "max_depth": 4}),
    }
    assert len(others) == 3 and digest() not in others


def test_a_rerun_is_asked_for_with_the_uploads_metadata():
    assert rerun_requested({"cd4ml-rerun": "true"}) and rerun_requested({"cd4ml-rerun": "TRUE "})
    assert not rerun_requested({}) and not rerun_requested({"cd4ml-rerun": "false"})


STATE = {
    "run_id": "orders-2026-11-26-aaaa",
    "artifacts_bucket": "art",
    "dataset": {"bucket": "raw", "key": "datasets/orders/2026-11-26/orders.csv", "version_id": "v2"},
    "validation": {
        "sha256": SHA,
        "rows": 2000,
        "report_uri": "s3://raw/datasets/orders/2026-11-26/orders.quality.json",
    },
    "content": {
        "digest": "d" * 64,
        "earlier": {"run_id": "orders-2026-11-25-bbbb", "model_package_arn": "arn:aws:sagemaker:::model-package/g/1"},
    },
}


def test_a_duplicates_record_points_at_the_earlier_run_and_its_model_package():
    record = run_record("duplicate", STATE, execution_arn="arn:exec", started_at="t0", now=NOW)

    assert record["status"] == "duplicate" and record["earlier_run"]["run_id"] == "orders-2026-11-25-bbbb"
    assert record["model_package_arn"] == "arn:aws:sagemaker:::model-package/g/1"
    assert "cd4ml-rerun=true" in record["reasons"][0] and "orders-2026-11-25-bbbb" in record["reasons"][0]
    assert record["outcome_uri"] == "s3://art/runs/orders-2026-11-26-aaaa/outcome.json"
    subject, message = notification(record)
    assert subject == "cd4ml same as an earlier run: orders-2026-11-26-aaaa" and '"duplicate"' in message


def test_the_index_names_the_registered_run_and_its_package():
    registered = {**STATE, "registration": {"model_package_arn": "arn:pkg/2", "version": 2}}
    entry = index_entry(registered, execution_arn="arn:exec", now=NOW)
    assert entry["run_id"] == "orders-2026-11-26-aaaa" and entry["model_package_arn"] == "arn:pkg/2"
    assert entry["model_package_version"] == 2 and entry["digest"] == "d" * 64
