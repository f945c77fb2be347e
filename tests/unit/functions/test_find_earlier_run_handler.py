"""FindEarlierRunFunction: after validation, an earlier registered run of the same content is found in the index,
unless the upload's metadata asks for a rerun; the digest is the one record_outcome indexes a registered run under."""

import json

import pytest
from cd4ml_shared.errors import InvalidPayload
from moto_world import create_stack_buckets

RAW = "cd4ml-dev-rawdatabucket-example"
ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
KEY = "datasets/orders/2026-11-25/orders.csv"
ENVIRONMENT = {"ARTIFACTS_BUCKET": ARTIFACTS, "CODE_VERSION": "abc123", "HYPERPARAMETERS": '{"num_round": 60}'}


@pytest.fixture
def s3(aws):
    return create_stack_buckets(RAW, ARTIFACTS)


@pytest.fixture
def app(s3, load_function):
    return load_function("find_earlier_run", ENVIRONMENT)


def task_input(s3, sample_event, metadata=None) -> dict:
    """The FindEarlierRun task's Parameters for an upload (the sample execution input, pinned to that version)."""
    put = s3.put_object(Bucket=RAW, Key=KEY, Body=b"order_id\n1\n", Metadata=metadata or {})
    run = sample_event("training_pipeline_input.json")
    run["dataset"].update(version_id=put["VersionId"])
    return {"run_id": run["run_id"], "dataset": run["dataset"], "validation": {"sha256": "a" * 64, "passed": True}}


def test_content_never_trained_before_has_no_earlier_run(app, s3, sample_event, context):
    content = app.handler(task_input(s3, sample_event), context)

    assert content["earlier"] is None and content["rerun"] is False
    assert content["identity"]["code_version"] == "abc123"
    assert content["identity"]["hyperparameters"]["num_round"] == 60  # over the defaults, as start_job sends them
    assert content["index_key"] == f"index/content/{content['digest']}.json"


def test_content_a_registered_run_trained_names_that_run(app, s3, sample_event, context):
    first = app.handler(task_input(s3, sample_event), context)
    earlier = {"run_id": "orders-earlier", "model_package_arn": "arn:aws:sagemaker:us-east-1:1:model-package/g/1"}
    s3.put_object(Bucket=ARTIFACTS, Key=first["index_key"], Body=json.dumps(earlier).encode())

    again = app.handler(task_input(s3, sample_event), context)

    assert again["earlier"] == earlier and again["digest"] == first["digest"]


def test_an_upload_asking_for_a_rerun_is_trained_again(app, s3, sample_event, context):
    first = app.handler(task_input(s3, sample_event), context)
    s3.put_object(Bucket=ARTIFACTS, Key=first["index_key"], Body=b'{"run_id": "orders-earlier"}')

    content = app.handler(task_input(s3, sample_event, metadata={"cd4ml-rerun": "true"}), context)

    assert content["earlier"] is None and content["rerun"] is True


def test_a_payload_without_the_validation_sha256_is_named(app, s3, sample_event, context):
    event = task_input(s3, sample_event)
    del event["validation"]["sha256"]
    with pytest.raises(InvalidPayload, match=r"validation\.sha256"):
        app.handler(event, context)
