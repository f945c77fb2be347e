"""EvaluationGateFunction: the Evaluate task's result (the evaluation job's outputs) against the stage's thresholds and
the champion; the Choice branches on `passed`, and a missing or unreadable evaluation is EvaluationMissing."""

import json

import boto3
import pytest
from cd4ml_shared.callbacks import job_of, success_output

GROUP = "cd4ml-dev-fraud"
ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
ENVIRONMENT = {
    "MODEL_PACKAGE_GROUP": GROUP,
    "GATE_MIN_PR_AUC": "0.2",
    "GATE_MIN_AUC": "0.8",
    "GATE_MAX_BRIER_SCORE": "0.1",
    "GATE_CHAMPION_METRIC": "pr_auc",
    "GATE_CHAMPION_TOLERANCE": "0.01",
}


def evaluation(**values: float) -> bytes:
    """An evaluation.json in SageMaker's binary-classification model-quality format."""
    metrics = {name: {"value": value, "standard_deviation": "NaN"} for name, value in values.items()}
    return json.dumps({"binary_classification_metrics": metrics}).encode()


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=ARTIFACTS)
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
    return client


@pytest.fixture
def app(s3, load_function):
    return load_function("evaluation_gate", ENVIRONMENT)


@pytest.fixture
def gate_input(sample_event):
    """The Gate task's input: the run and the Evaluate task's result (what job_completion resumed it with)."""
    event = sample_event("sagemaker_processing_job_completed.json")
    kind, _, _ = job_of(event["detail-type"], event["detail"])
    return {"run_id": "orders-2026-11-25-3cf9a8ac133a728a", "evaluation": success_output(kind, event["detail"])}


@pytest.fixture
def evaluation_key(gate_input):
    return gate_input["evaluation"]["outputs"]["evaluation"].split(f"{ARTIFACTS}/", 1)[1] + "evaluation.json"


def register_champion(s3, pr_auc: float) -> str:
    s3.put_object(Bucket=ARTIFACTS, Key="champion/evaluation.json", Body=evaluation(pr_auc=pr_auc, auc=0.9))
    return boto3.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": f"s3://{ARTIFACTS}/champion/evaluation.json"}
            }
        },
    )["ModelPackageArn"]


def test_a_first_challenger_above_the_thresholds_passes(app, s3, gate_input, evaluation_key, context):
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=evaluation(pr_auc=0.4, auc=0.9, brier_score=0.02))

    result = app.handler(gate_input, context)

    assert result["passed"] is True and result["reasons"] == [] and result["champion"] is None
    assert result["evaluation_uri"] == f"s3://{ARTIFACTS}/{evaluation_key}"
    assert result["metrics"] == {"pr_auc": 0.4, "auc": 0.9, "brier_score": 0.02}
    assert result["thresholds"] == {"minimum:pr_auc": 0.2, "minimum:auc": 0.8, "maximum:brier_score": 0.1}


def test_a_challenger_below_a_threshold_is_gated_out_with_the_reason(app, s3, gate_input, evaluation_key, context):
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=evaluation(pr_auc=0.1, auc=0.9, brier_score=0.02))

    result = app.handler(gate_input, context)

    assert result["passed"] is False and result["reasons"] == ["pr_auc 0.1000 is below the minimum 0.2"]


def test_a_challenger_worse_than_the_champion_is_gated_out(app, s3, gate_input, evaluation_key, context):
    champion = register_champion(s3, pr_auc=0.6)
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=evaluation(pr_auc=0.4, auc=0.9, brier_score=0.02))

    result = app.handler(gate_input, context)

    assert result["passed"] is False and result["champion"]["model_package_arn"] == champion
    assert result["reasons"] == [
        f"pr_auc 0.4000 is worse than the champion's 0.6000 beyond the tolerance 0.01 ({champion})"
    ]


def test_a_missing_evaluation_is_evaluation_missing(app, gate_input, evaluation_key, context):
    with pytest.raises(Exception) as raised:
        app.handler(gate_input, context)

    assert type(raised.value).__name__ == "EvaluationMissing"
    assert str(raised.value) == f"s3://{ARTIFACTS}/{evaluation_key} does not exist"


def test_an_evaluation_without_metrics_is_evaluation_missing(app, s3, gate_input, evaluation_key, context):
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=b'{"regression_metrics": {}}')

    with pytest.raises(Exception) as raised:
        app.handler(gate_input, context)

    assert type(raised.value).__name__ == "EvaluationMissing"
    assert str(raised.value) == (
        f"s3://{ARTIFACTS}/{evaluation_key}: evaluation has no binary_classification_metrics section"
    )


def paired_evaluation(champion_arn: str, difference: float, lower: float, upper: float) -> bytes:
    """An evaluation.json with the sections the evaluation job writes when it scored the champion too."""
    document = json.loads(evaluation(pr_auc=0.35, auc=0.9, brier_score=0.02))
    document["sampling_intervals"] = {"metrics": {"pr_auc": {"lower": 0.3, "upper": 0.4}}}
    document["champion_comparison"] = {
        "champion_model_package_arn": champion_arn,
        "rows": 2000,
        "resamples": 1000,
        "confidence": 0.95,
        "metrics": {
            "pr_auc": {
                "challenger": 0.35,
                "champion": 0.35 - difference,
                "difference": difference,
                "lower": lower,
                "upper": upper,
            }
        },
    }
    return json.dumps(document).encode()


def test_find_champion_names_the_champion_and_its_model_archive(app, s3, context):
    assert app.handler({"action": "find_champion", "run_id": "r"}, context) == {
        "model_package_arn": None,
        "model_uri": None,
    }
    champion = register_champion(s3, pr_auc=0.6)  # a version without ModelDataUrl: nothing to score
    assert app.handler({"action": "find_champion", "run_id": "r"}, context) == {
        "model_package_arn": champion,
        "model_uri": None,
    }


def test_the_champion_check_is_decided_on_the_same_rows_when_the_evaluation_compared_them(
    app, s3, gate_input, evaluation_key, context
):
    champion = register_champion(s3, pr_auc=0.6)  # recorded on its own split: 0.6, far above the challenger's 0.35
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=paired_evaluation(champion, -0.01, -0.04, 0.02))

    result = app.handler(gate_input, context)

    assert result["passed"] is True, result["reasons"]
    assert result["comparison"]["champion"] == pytest.approx(0.36) and result["comparison"]["upper"] == 0.02
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=paired_evaluation(champion, -0.1, -0.15, -0.05))
    worse = app.handler(gate_input, context)
    assert worse["passed"] is False and "on the same 2,000 rows" in worse["reasons"][0]


def test_a_comparison_with_another_version_than_the_champion_now_is_not_used(
    app, s3, gate_input, evaluation_key, context
):
    register_champion(s3, pr_auc=0.6)
    s3.put_object(Bucket=ARTIFACTS, Key=evaluation_key, Body=paired_evaluation("arn:older", -0.01, -0.04, 0.02))

    result = app.handler(gate_input, context)

    assert result["passed"] is False and result["comparison"] is None
    assert "worse than the champion's 0.6000" in result["reasons"][0] and "recorded pr_auc" in result["notes"][0]
