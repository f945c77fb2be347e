"""The evaluation gate of the training pipeline: the challenger's evaluation against the stage's thresholds and the
champion (latest approved version of the model package group); the state machine's Choice branches on `passed`."""

import json

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.registry import latest_approved
from cd4ml_shared.errors import EvaluationMissing
from cd4ml_shared.gate import Champion, EvaluationFormatError, decide, metrics_of
from cd4ml_shared.payload import require
from cd4ml_shared.registry import evaluation_uri_of
from cd4ml_shared.s3_uri import parse_s3_uri
from cd4ml_shared.settings import EvaluationGateSettings

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
SETTINGS = EvaluationGateSettings.from_environment()


def read_evaluation(uri: str) -> dict:
    bucket, key = parse_s3_uri(uri)
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        raise EvaluationMissing(f"{uri} does not exist") from None
    except ValueError as error:
        raise EvaluationMissing(f"{uri} is not JSON: {error}") from None


def champion_now() -> Champion | None:
    package = latest_approved(sagemaker, SETTINGS.model_package_group)
    if package is None:
        return None
    uri = evaluation_uri_of(package)
    try:
        champion_metrics = metrics_of(read_evaluation(uri)) if uri else None
    except (EvaluationMissing, EvaluationFormatError, ValueError) as error:
        logger.warning(
            "champion metrics unreadable", extra={"champion": package["ModelPackageArn"], "error": str(error)}
        )
        champion_metrics = None
    return Champion(model_package_arn=package["ModelPackageArn"], metrics=champion_metrics)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, {"run_id": "string", "evaluation.outputs.evaluation": "string"}, where="evaluation_gate")
    logger.append_keys(run_id=event["run_id"])
    uri = event["evaluation"]["outputs"]["evaluation"].rstrip("/") + "/evaluation.json"
    try:
        challenger = metrics_of(read_evaluation(uri))
    except EvaluationFormatError as error:
        raise EvaluationMissing(f"{uri}: {error}") from None
    decision = decide(challenger, SETTINGS.policy, champion_now())
    metrics.add_metric(
        name="ChallengersPromoted" if decision.passed else "ChallengersGatedOut", unit=MetricUnit.Count, value=1
    )
    for name in ("pr_auc", "auc"):
        if name in challenger:
            metrics.add_metric(name=f"Challenger_{name}", unit=MetricUnit.NoUnit, value=challenger[name])
    logger.info("gate decided", extra={"passed": decision.passed, "reasons": decision.reasons})
    return {**decision.to_dict(), "evaluation_uri": uri}
