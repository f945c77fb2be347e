"""Batch scoring's decisions as plain values: orders to score are validated without their label, the run is named
after the object version, the feature job and the transform are asked for the right files, and the transform's
answer joins back to the orders (or fails by name when it cannot)."""

import io
import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from cd4ml_shared.callbacks import failure_of, job_of, success_output
from cd4ml_shared.contract import ORDERS, scoring_contract
from cd4ml_shared.decisions import DecisionRules
from cd4ml_shared.ingest import assess
from cd4ml_shared.jobs import JobSettings, is_run_job_name, request_for
from cd4ml_shared.layout import RunLayout, is_scoring_key
from cd4ml_shared.run_input import DatasetRef
from cd4ml_shared.scoring import (
    ModelInService,
    ScoringSettings,
    TransformOutputMismatch,
    decisions_of,
    outcome,
    parse_transform_output,
    scores_key,
    scoring_run_id,
    summary,
    transform_job_name,
    transform_request,
)

from cd4ml.data import generate_orders

NOW = datetime.now(UTC)
START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=3)
SCORING = DatasetRef(bucket="raw", key="scoring/orders/2026-11-25/orders.csv", version_id="v1")
SETTINGS = ScoringSettings.from_environment(
    {
        "ARTIFACTS_BUCKET": "artifacts",
        "ENDPOINT_NAME": "cd4ml-dev-fraud",
        "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
        "TRANSFORM_INSTANCE_TYPE": "ml.m5.large",
        "REVIEW_BELOW": "0.5",
        "DECLINE_ABOVE": "0",
        "STAGE": "dev",
    }
)


def csv_without_label(rows: int, *, negative_amount: bool = False) -> bytes:
    table = generate_orders(rows, seed=5, start=START, days=3).drop_columns([ORDERS.label.name])
    if negative_amount:
        amounts = table.column("order_amount").to_pylist()
        index = table.schema.get_field_index("order_amount")
        table = table.set_column(index, "order_amount", pa.array([-5.0, *amounts[1:]], pa.float64()))
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink)
    return sink.getvalue()


def test_orders_without_a_label_pass_scoring_validation_but_not_training_validation():
    body = csv_without_label(50)  # fewer rows than training needs, and no label

    scoring = assess(body, SCORING, reference=None, run_id="score-1", now=NOW, scoring=True)
    training = assess(body, SCORING, reference=None, run_id="run-1", now=NOW)

    assert scoring.passed and scoring.rows == 50, scoring.summary
    assert not any(f["code"].startswith("label.") for f in scoring.document.get("warnings", []))
    assert not training.passed
    assert {"schema.missing_column", "rows.too_few"} <= set(training.reason.split(","))


def test_scoring_keeps_the_contracts_other_checks():
    """Same quarantine rules as training: a value out of the contract's range still quarantines the file."""
    body = csv_without_label(50, negative_amount=True)

    assessment = assess(body, SCORING, reference=None, run_id="score-1", now=NOW, scoring=True)

    assert not assessment.passed and "range" in assessment.reason, assessment.reason


def test_the_scoring_contract_is_the_contract_without_its_label():
    contract = scoring_contract(ORDERS)
    assert contract.names == [n for n in ORDERS.names if n != ORDERS.label.name]
    assert contract.min_rows == 1 and ORDERS.min_rows == 1_000  # the training contract is untouched


def test_a_scoring_upload_names_its_dataset_and_its_run_after_the_object_version():
    assert SCORING.dataset == "orders" and is_scoring_key(SCORING.key)
    assert not is_scoring_key("scoring/orders/2026-11-25/orders.csv.quality.json")
    assert not is_scoring_key("datasets/orders/2026-11-25/orders.csv")
    run_id = scoring_run_id(SCORING)
    assert run_id == scoring_run_id(SCORING.model_copy()) and run_id.startswith("score-orders-2026-11-25-")
    assert run_id != scoring_run_id(SCORING.model_copy(update={"version_id": "v2"})) and len(run_id) <= 80
    assert SCORING.quarantine_key == "quarantine/scoring/orders/2026-11-25/orders.csv"


@pytest.mark.parametrize(
    ("key", "scores"),
    [
        ("scoring/orders/2026-11-25/orders.csv", "scores/orders/2026-11-25/orders.parquet"),
        ("scoring/orders/2026-11-25/orders.CSV.GZ", "scores/orders/2026-11-25/orders.parquet"),
        ("scoring/orders/2026-11-25/day.parquet", "scores/orders/2026-11-25/day.parquet"),
    ],
)
def test_the_scores_file_mirrors_the_upload(key, scores):
    assert scores_key(SCORING.model_copy(update={"key": key})) == scores


def test_the_scoring_feature_job_reads_the_snapshot_and_writes_features_and_ids_unsplit():
    settings = JobSettings(
        artifacts_bucket="artifacts",
        role_arn="arn:aws:iam::123456789012:role/sm",
        code_version="v1",
        training_image="img-train",
        processing_image="img-proc",
    )
    event = {"kind": "scoring", "run_id": "score-1", "dataset_uri": "s3://artifacts/runs/score-1/dataset/o.csv"}

    kind, request = request_for(settings, event, "cd4ml-abc-0123-scoring-0")

    assert kind == "processing"
    assert request["AppSpecification"]["ContainerArguments"] == ["--mode", "scoring"]
    outputs = {o["OutputName"]: o["S3Output"]["S3Uri"] for o in request["ProcessingOutputConfig"]["Outputs"]}
    assert outputs == {
        "features": "s3://artifacts/runs/score-1/scoring/features/",
        "meta": "s3://artifacts/runs/score-1/scoring/meta/",
    }
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in request["ProcessingInputs"]}
    assert inputs["data"] == event["dataset_uri"]
    assert is_run_job_name("cd4ml-abc-0123", "cd4ml-abc-0123-scoring-0")
    with pytest.raises(ValueError, match="dataset_uri"):
        request_for(settings, {"kind": "scoring", "run_id": "score-1"}, "x")


def test_the_transform_scores_the_feature_csv_line_by_line_into_the_run():
    layout = RunLayout("artifacts", "score-1")
    name = transform_job_name("cd4ml-abc-0123", 2)

    request = transform_request(SETTINGS, name, layout, "cd4ml-dev-fraud-v3", tags=SETTINGS.tags)

    assert name == "cd4ml-abc-0123-batch-2" and request["ModelName"] == "cd4ml-dev-fraud-v3"
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == layout.uri("scoring/features/")
    assert (request["TransformInput"]["SplitType"], request["TransformOutput"]["AssembleWith"]) == ("Line", "Line")
    assert request["TransformOutput"]["S3OutputPath"] == layout.uri("scoring/transform/")
    assert {"Key": "cd4ml:run", "Value": "score-1"} in request["Tags"]


def test_a_transform_job_state_change_resumes_its_task_with_the_output_or_the_reason():
    detail = {
        "TransformJobName": "cd4ml-abc-0123-batch-0",
        "TransformJobStatus": "Completed",
        "TransformOutput": {"S3OutputPath": "s3://artifacts/runs/score-1/scoring/transform/"},
    }
    kind, name, status = job_of("SageMaker Transform Job State Change", detail)
    assert (kind, name, status) == ("transform", "cd4ml-abc-0123-batch-0", "Completed")
    assert success_output(kind, detail)["output_uri"] == "s3://artifacts/runs/score-1/scoring/transform/"

    error, cause = failure_of(kind, "Failed", {**detail, "TransformJobStatus": "Failed", "FailureReason": "boom"})
    assert error == "SageMaker.TransformJobFailed"
    assert json.loads(cause) == {"job_name": "cd4ml-abc-0123-batch-0", "status": "Failed", "reason": "boom"}


def test_the_transform_answer_joins_back_only_when_it_has_one_line_per_order():
    scores, labels = parse_transform_output("0.125,0\n0.875,1\n\n", orders=2)
    assert scores == [0.125, 0.875] and labels == [0, 1]

    with pytest.raises(TransformOutputMismatch, match="1 rows for 2 orders"):
        parse_transform_output("0.125,0\n", orders=2)
    with pytest.raises(TransformOutputMismatch, match="line 2"):
        parse_transform_output('0.1,0\n{"predictions": []}\n', orders=2)


def test_decisions_follow_the_real_time_rules_of_the_models_operating_point():
    thresholds = DecisionRules(review_below=0.5, decline_above=0.0).thresholds(0.4)  # review from 0.2, decline 0.4

    assert decisions_of([0.1, 0.2, 0.39, 0.4, 0.9], thresholds) == [
        "approve",
        "review",
        "review",
        "decline",
        "decline",
    ]


def test_the_summary_and_outcome_carry_counts_and_uris_never_data():
    thresholds = DecisionRules(review_below=0.0, decline_above=0.0).thresholds(0.5)
    model = ModelInService("m-v1", 1, "arn:aws:sagemaker:us-east-1:1:model-package/g/1", "endpoint", thresholds)
    assert ModelInService.from_dict(model.to_dict()) == model

    document = summary(
        run_id="score-1",
        dataset=SCORING,
        scores_uri="s3://artifacts/scores/orders/2026-11-25/orders.parquet",
        model=model,
        decisions=["approve", "decline", "approve"],
        scores=[0.1, 0.9, 0.2],
    )
    assert document["rows"] == 3 and document["decisions"] == {"approve": 2, "review": 0, "decline": 1}

    quarantined = outcome(
        "quarantined",
        {"run_id": "score-1", "dataset": SCORING.model_dump(), "validation": {"reason": "schema.missing_column"}},
        execution_arn="arn:exec",
    )
    assert quarantined["reason"] == "schema.missing_column" and quarantined["source"] == SCORING.key
