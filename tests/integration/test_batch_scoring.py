"""Batch scoring of template.yaml on the local cloud: one training run makes a real model, which the deployment
workflow puts in service (module-scoped); a file of orders without labels uploaded under scoring/ is validated,
featurised, scored by a SageMaker batch transform with the model in service and written as
`scores/<dataset>/<date>/<file>.parquet`, one row per order with the model's own scores; a bad file is quarantined
with its reason; a duplicated upload event starts no second run."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cd4ml_model.artifacts import load_model_dir
from cd4ml_model.features import feature_columns
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.decisions import DecisionRules, decide
from cd4ml_shared.run_input import DatasetRef
from cd4ml_shared.s3_uri import parse_s3_uri
from cd4ml_shared.scoring import scoring_run_id
from quick_model import FAST_TRAINING
from trained_model import DEV_APPROVED, NOW, QUICK_ROLLOUT, deployed_model, ended, execution_arn

from cd4ml.data import generate_orders
from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

SCORING_START = datetime(NOW.year, NOW.month, NOW.day, tzinfo=UTC) - timedelta(days=2)
EVENTS = Path(__file__).parents[2] / "events"
PARAMETERS = {
    **DEV_APPROVED,
    **FAST_TRAINING,
    **QUICK_ROLLOUT,
    "DecisionReviewBelow": "0.5",
    "DecisionDeclineAbove": "0",
}


@pytest.fixture(scope="module")
def cloud(root: Path):
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def in_service(cloud: LocalCloud) -> dict[str, Any]:
    """The training pipeline's model, registered Approved (dev) and deployed to the stack's endpoint."""
    return deployed_model(cloud, timeout=240.0)


def upload(cloud: LocalCloud, table: pa.Table | bytes, key: str) -> DatasetRef:
    return PipelineDriver(cloud).upload(table, key)


def model_of(cloud: LocalCloud, package: dict[str, Any], folder: Path):
    """The registered model, loaded from its model.tar.gz as the serving container loads it."""
    bucket, key = parse_s3_uri(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        archive.extractall(folder, filter="data")
    return load_model_dir(folder)


def test_a_file_without_labels_is_scored_with_the_model_in_service_as_the_model_itself_scores_it(
    cloud: LocalCloud, in_service: dict[str, Any], tmp_path: Path
) -> None:
    orders = generate_orders(2_000, seed=7, start=SCORING_START, days=2).drop_columns([ORDERS.label.name])
    dataset = upload(cloud, orders, f"scoring/orders/{NOW:%Y-%m-%d}/batch.csv")

    execution = ended(cloud, execution_arn(cloud, "BatchInferenceStateMachine", scoring_run_id(dataset)))

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    bucket = cloud.physical_id("ArtifactsBucket")
    body = cloud.client("s3").get_object(Bucket=bucket, Key=f"scores/orders/{NOW:%Y-%m-%d}/batch.parquet")["Body"]
    scores = pq.read_table(io.BytesIO(body.read()))
    assert scores.column_names == ["order_id", "score", "decision", "model_version"]
    assert scores.column("order_id").to_pylist() == orders.column("order_id").to_pylist()  # one row per order
    assert set(scores.column("model_version").to_pylist()) == {in_service["ModelPackageVersion"]}
    # the model's own predict on the feature job's features of the same orders
    model = model_of(cloud, in_service, tmp_path / "model")
    x = np.column_stack(list(feature_columns(orders).values())).astype(np.float32)
    expected = model.predict(x)  # the served score: the booster's, calibrated as the model's calibration.json says
    np.testing.assert_allclose(scores.column("score").to_numpy(), expected, rtol=0, atol=1e-6)
    thresholds = DecisionRules(review_below=0.5, decline_above=0.0).thresholds(model.threshold)
    assert scores.column("decision").to_pylist() == [decide(s, thresholds) for s in expected.tolist()]
    output = json.loads(execution["output"])
    assert output["model"]["source"] == "endpoint" and output["scores"]["rows"] == 2_000
    assert (
        output["model"]["model_name"] == f"{cloud.stack.outputs['EndpointName']}-v{in_service['ModelPackageVersion']}"
    )
    outcome = cloud.client("s3").get_object(Bucket=bucket, Key=f"runs/{scoring_run_id(dataset)}/scoring/outcome.json")
    assert json.loads(outcome["Body"].read())["status"] == "succeeded"


def test_a_bad_scoring_file_is_quarantined_with_its_reason(cloud: LocalCloud, in_service: dict[str, Any]) -> None:
    orders = generate_orders(300, seed=8, start=SCORING_START, days=2).drop_columns(["order_id"])
    dataset = upload(cloud, orders, f"scoring/orders/{NOW:%Y-%m-%d}/no-keys.csv")

    execution = ended(cloud, execution_arn(cloud, "BatchInferenceStateMachine", scoring_run_id(dataset)))

    assert execution["status"] == "FAILED" and execution["error"] == "DataQuality.Quarantined"
    raw = cloud.physical_id("RawDataBucket")
    key = f"quarantine/scoring/orders/{NOW:%Y-%m-%d}/no-keys.csv"
    reason = json.loads(cloud.client("s3").get_object(Bucket=raw, Key=f"{key}.reason.json")["Body"].read())
    assert "schema.missing_column" in reason["reason"]
    listed = cloud.client("s3").list_objects_v2(Bucket=cloud.physical_id("ArtifactsBucket"), Prefix="scores/")
    assert not [o["Key"] for o in listed.get("Contents", []) if "no-keys" in o["Key"]]


def test_a_duplicated_upload_event_starts_no_second_scoring_run(cloud: LocalCloud, in_service: dict[str, Any]) -> None:
    orders = generate_orders(200, seed=9, start=SCORING_START, days=2).drop_columns([ORDERS.label.name])
    dataset = upload(cloud, orders, f"scoring/orders/{NOW:%Y-%m-%d}/twice.csv")
    arn = execution_arn(cloud, "BatchInferenceStateMachine", scoring_run_id(dataset))
    assert ended(cloud, arn)["status"] == "SUCCEEDED"
    event = json.loads((EVENTS / "s3_scoring_object_created.json").read_text())
    event["detail"]["bucket"]["name"] = dataset.bucket
    event["detail"]["object"].update(key=dataset.key, **{"version-id": dataset.version_id, "etag": dataset.etag})

    answer = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("StartScoringFunction"), Payload=json.dumps(event).encode()
    )

    result = json.loads(answer["Payload"].read())
    assert result["started"] is False and result["execution_arn"] == arn
    runs = cloud.client("stepfunctions").list_executions(
        stateMachineArn=cloud.physical_id("BatchInferenceStateMachine")
    )
    assert [e["name"] for e in runs["executions"]].count(scoring_run_id(dataset)) == 1
