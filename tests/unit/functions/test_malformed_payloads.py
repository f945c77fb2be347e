"""Every handler answers a malformed event (a field missing, or of the wrong type) with `InvalidPayload` naming the
field, before it touches AWS: the state machine's Catch and the run's outcome then say what was wrong, instead of a
`KeyError: 'detail'` from deep inside the handler. The events are the real shapes of events/ with one field broken."""

import copy
import json
from pathlib import Path

import pytest

EVENTS = Path(__file__).resolve().parents[3] / "events"

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
# Each function's template variables (the values do not matter: the payload is refused before they are used).
ENVIRONMENTS = {
    "start_pipeline": {
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline",
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "RAW_DATA_BUCKET": "cd4ml-dev-rawdatabucket-example",
        "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
        "TRAINING_MAX_RUNTIME": "3600",
        "PROCESSING_MAX_RUNTIME": "3600",
        "USE_SPOT_TRAINING": "true",
    },
    "start_job": {
        "TOKEN_TABLE": "cd4ml-dev-TaskTokenTable",
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/cd4ml-dev-SageMakerExecutionRole",
        "CODE_VERSION": "dev",
        "TRAINING_IMAGE": IMAGE,
        "PROCESSING_IMAGE": IMAGE,
    },
    "job_completion": {"TOKEN_TABLE": "cd4ml-dev-TaskTokenTable"},
    "evaluation_gate": {
        "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
        "GATE_MIN_PR_AUC": "0.2",
        "GATE_MIN_AUC": "0.8",
        "GATE_MAX_BRIER_SCORE": "0.1",
        "GATE_CHAMPION_METRIC": "pr_auc",
        "GATE_CHAMPION_TOLERANCE": "0.01",
    },
    "register_model": {
        "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
        "MODEL_APPROVAL_STATUS": "Approved",
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "CODE_VERSION": "dev",
        "INFERENCE_IMAGE": IMAGE,
    },
    "record_outcome": {
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:cd4ml-dev-notifications",
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline",
        "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
    },
}


def without(document: dict, path: str) -> dict:
    broken = copy.deepcopy(document)
    *parents, last = path.split(".")
    node = broken
    for part in parents:
        node = node[part]
    del node[last]
    return broken


def replaced(document: dict, path: str, value) -> dict:
    broken = copy.deepcopy(document)
    *parents, last = path.split(".")
    node = broken
    for part in parents:
        node = node[part]
    node[last] = value
    return broken


def task_payload(run: dict) -> dict:
    """The Train task's Payload (statemachines/training_pipeline.asl.json)."""
    return {
        "token": "token-of-train",
        "kind": "train",
        "attempt": 0,
        "run_id": run["run_id"],
        "job_prefix": run["job_prefix"],
        "timeout": run["timeouts"]["training"],
    }


def register_payload(run: dict, training_event: dict) -> dict:
    """The Register task's Parameters: the run's dataset and the earlier tasks' results."""
    return {
        "run_id": run["run_id"],
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:{run['run_id']}",
        "dataset": run["dataset"],
        "validation": {"passed": True, "sha256": "da7a" * 16, "rows": 20_000, "run_report_uri": "s3://a/q.json"},
        "training": {
            "job_arn": training_event["detail"]["TrainingJobArn"],
            "model_uri": training_event["detail"]["ModelArtifacts"]["S3ModelArtifacts"],
            "hyperparameters": training_event["detail"]["HyperParameters"],
        },
        "gate": {"passed": True, "evaluation_uri": "s3://a/evaluation.json", "metrics": {"pr_auc": 0.4}},
    }


def record_payload(run: dict) -> dict:
    return {
        "status": "failed",
        "state": {**run, "error": {"Error": "SageMaker.TrainingJobFailed", "Cause": "{}"}},
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:{run['run_id']}",
        "started_at": "2026-11-25T12:00:01Z",
    }


def sample_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def malformed():
    """(function, broken event, what the message must say) for every handler."""
    upload = sample_event("s3_object_created.json")
    run = sample_event("training_pipeline_input.json")
    training = sample_event("sagemaker_training_job_completed.json")
    processing = sample_event("sagemaker_processing_job_completed.json")
    evaluation = {"run_id": run["run_id"], "evaluation": {"outputs": {"evaluation": "s3://a/runs/r/evaluation/"}}}
    return [
        ("start_pipeline", without(upload, "detail"), "field 'detail.bucket.name' is missing"),
        ("start_pipeline", replaced(upload, "detail.object.key", 42), "field 'detail.object.key' must be a string"),
        ("start_job", without(task_payload(run), "token"), "field 'token' is missing"),
        ("start_job", replaced(task_payload(run), "timeout", "7800"), "field 'timeout' must be an integer"),
        ("start_job", replaced(task_payload(run), "attempt", True), "field 'attempt' must be an integer"),
        ("start_job", {**task_payload(run), "kind": "evaluate"}, "field 'model_uri' is missing"),
        ("job_completion", without(training, "detail"), "field 'detail' is missing"),
        ("job_completion", without(processing, "detail.ProcessingJobStatus"), "'ProcessingJobStatus' is missing"),
        (
            "job_completion",
            without(training, "detail.ModelArtifacts"),
            "field 'ModelArtifacts.S3ModelArtifacts' is missing",
        ),
        ("evaluation_gate", without(evaluation, "evaluation.outputs"), "'evaluation.outputs.evaluation' is missing"),
        ("evaluation_gate", replaced(evaluation, "run_id", None), "field 'run_id' is null"),
        ("register_model", without(register_payload(run, training), "training.model_uri"), "'training.model_uri'"),
        (
            "register_model",
            replaced(register_payload(run, training), "validation.rows", "20000"),
            "field 'validation.rows' must be an integer, got str '20000'",
        ),
        ("record_outcome", without(record_payload(run), "state.run_id"), "field 'state.run_id' is missing"),
        ("record_outcome", replaced(record_payload(run), "state", "{}"), "field 'state' must be an object"),
    ]


@pytest.mark.parametrize(
    ("function", "event", "expected"), [pytest.param(*case, id=f"{case[0]}: {case[2]}") for case in malformed()]
)
def test_a_malformed_event_is_refused_with_the_field_it_lacks(function, event, expected, load_function, context):
    from cd4ml_shared.errors import InvalidPayload

    app = load_function(function, ENVIRONMENTS[function])

    with pytest.raises(InvalidPayload, match=f"^{function}: .*{expected}") as raised:
        app.handler(event, context)

    assert type(raised.value).__name__ == "InvalidPayload"  # the Error a Catch sees


def test_the_sample_events_themselves_pass_the_checks():
    """The checks describe the real shapes: none of the unbroken sample events is refused."""
    from cd4ml_shared.callbacks import job_of
    from cd4ml_shared.payload import require

    run = sample_event("training_pipeline_input.json")
    for name in ("sagemaker_training_job_completed.json", "sagemaker_processing_job_completed.json"):
        event = sample_event(name)
        job_of(event["detail-type"], event["detail"])
    spec = {"source": "string", "detail-type": "string", "detail.bucket.name": "string", "detail.object.key": "string"}
    require(sample_event("s3_object_created.json"), spec, where="start_pipeline")
    require(task_payload(run), {"token": "string", "timeout": "integer", "attempt": "integer"}, where="start_job")
