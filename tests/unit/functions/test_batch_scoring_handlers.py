"""The batch-scoring functions that do not need a model, inside moto: an upload under scoring/ starts one run named
after its version (a duplicate starts nothing, a report starts nothing), and the training pipeline's validation
in scoring mode accepts orders without a label, never proposes them as the reference, and quarantines a bad file
under quarantine/scoring/ with its reason."""

import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pyarrow.csv as pa_csv
import pytest
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.reference import candidate_profile_key
from moto_world import create_stack_buckets, create_token_table, create_waiting_state_machine

from cd4ml.data import generate_orders

STATE_MACHINE = "cd4ml-dev-batch-inference"
RAW = "cd4ml-dev-rawdatabucket-example"
ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
STARTER = {
    "STATE_MACHINE_ARN": f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE}",
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "TRAINING_MAX_RUNTIME": "3600",
    "PROCESSING_MAX_RUNTIME": "3600",
    "USE_SPOT_TRAINING": "true",
    "RAW_DATA_BUCKET": RAW,
    "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
}
NOW = datetime.now(UTC)
START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=3)


@pytest.fixture
def sfn(aws):
    return create_waiting_state_machine(STATE_MACHINE, "cd4ml-dev-BatchInferenceRole")


def test_a_scoring_upload_starts_one_scoring_run_and_its_duplicate_none(sfn, load_function, sample_event, context):
    app = load_function("start_scoring", STARTER)
    event = sample_event("s3_scoring_object_created.json")

    replayed = {**event, "id": "a-later-delivery-of-the-same-upload"}  # another input: the name is refused

    first = app.handler(event, context)
    again = app.handler(replayed, context)

    assert first["started"] is True and again == {**first, "started": False}
    assert first["run_id"].startswith("score-orders-2026-11-25-")
    executions = sfn.list_executions(stateMachineArn=STARTER["STATE_MACHINE_ARN"])["executions"]
    assert [e["name"] for e in executions] == [first["run_id"]]
    run = json.loads(sfn.describe_execution(executionArn=first["execution_arn"])["input"])
    assert run["purpose"] == "scoring" and run["dataset"]["key"] == "scoring/orders/2026-11-25/orders.csv"
    assert run["job_prefix"].startswith("cd4ml-1a2b3c4d-") and run["timeouts"]["processing"] == 4200


def test_the_validations_own_report_under_scoring_starts_nothing(sfn, load_function, sample_event, context):
    app = load_function("start_scoring", STARTER)
    event = sample_event("s3_scoring_object_created.json")
    event["detail"]["object"]["key"] += ".quality.json"

    assert app.handler(event, context)["started"] is False
    assert sfn.list_executions(stateMachineArn=STARTER["STATE_MACHINE_ARN"])["executions"] == []


def orders_csv(*, label: bool, rows: int = 200) -> bytes:
    table = generate_orders(rows, seed=2, start=START, days=3)
    if not label:
        table = table.drop_columns([ORDERS.label.name])
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink)
    return sink.getvalue()


def scoring_run(s3, sample_event, body: bytes) -> dict:
    key = "scoring/orders/2026-11-25/orders.csv"
    put = s3.put_object(Bucket=RAW, Key=key, Body=body)
    run = sample_event("training_pipeline_input.json")
    run["run_id"] = "score-" + run["run_id"]
    run["dataset"].update(key=key, version_id=put["VersionId"], etag=put["ETag"].strip('"'), size=len(body))
    return {**run, "purpose": "scoring"}


@pytest.fixture
def s3(aws):
    return create_stack_buckets(RAW, ARTIFACTS)


@pytest.mark.parametrize("label", [False, True])
def test_orders_to_score_are_accepted_with_or_without_a_label_and_never_become_the_reference(
    s3, load_function, sample_event, context, label
):
    app = load_function("validate_dataset", {"ARTIFACTS_BUCKET": ARTIFACTS, "DATASET_MAX_AGE_DAYS": "7"})
    run = scoring_run(s3, sample_event, orders_csv(label=label))

    result = app.handler(run, context)

    assert result["passed"] is True and result["rows"] == 200, result["summary"]
    assert result["dataset_uri"] == f"s3://{ARTIFACTS}/runs/{run['run_id']}/dataset/orders.csv"
    listed = s3.list_objects_v2(Bucket=ARTIFACTS, Prefix=candidate_profile_key(run["run_id"]))
    assert listed["KeyCount"] == 0  # scoring data is no candidate for the drift baseline


def test_a_bad_scoring_file_is_quarantined_under_quarantine_scoring_with_its_reason(
    s3, load_function, sample_event, context
):
    app = load_function("validate_dataset", {"ARTIFACTS_BUCKET": ARTIFACTS, "DATASET_MAX_AGE_DAYS": "7"})
    body = orders_csv(label=False).replace(b'"order_id"', b'"id"', 1)  # the key column renamed
    run = scoring_run(s3, sample_event, body)

    result = app.handler(run, context)

    assert result["passed"] is False and "schema.missing_column" in result["reason"]
    assert result["quarantine_uri"] == f"s3://{RAW}/quarantine/scoring/orders/2026-11-25/orders.csv"
    reason = json.loads(
        s3.get_object(Bucket=RAW, Key="quarantine/scoring/orders/2026-11-25/orders.csv.reason.json")["Body"].read()
    )
    assert "schema.missing_column" in reason["reason"]


def test_a_completed_transform_resumes_the_waiting_scoring_task_with_its_output(load_function, sample_event, context):
    create_token_table("cd4ml-dev-TaskTokenTable")
    event = sample_event("sagemaker_transform_job_completed.json")
    name = event["detail"]["TransformJobName"]
    boto3.resource("dynamodb").Table("cd4ml-dev-TaskTokenTable").put_item(
        Item={"job_name": name, "token": "token-t", "run_id": "score-1", "kind": "transform", "expires_at": 1}
    )
    app = load_function("job_completion", {"TOKEN_TABLE": "cd4ml-dev-TaskTokenTable"})
    sent: list[dict] = []
    app.sfn.meta.events.register("provide-client-params.sfn.SendTaskSuccess", lambda params, **_: sent.append(params))

    result = app.handler(event, context)

    assert result == {"resumed": name, "status": "Completed", "run_id": "score-1"}
    ((params,),) = [sent]
    assert params["taskToken"] == "token-t"
    assert json.loads(params["output"])["output_uri"] == event["detail"]["TransformOutput"]["S3OutputPath"]
