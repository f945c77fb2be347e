"""The evaluation gate of the training pipeline: the challenger's evaluation against the stage's thresholds and the
champion (latest approved version of the model package group); the state machine's Choice branches on `passed`.

Invoked with `"action": "find_champion"` (the FindChampion task before Evaluate) it only names the champion and its
model archive, which the evaluation job then scores on the challenger's test rows: the one look-up of the champion,
here, so the job and the gate agree on which version it is."""

import json

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.registry import latest_approved
from cd4ml_shared.errors import EvaluationMissing
from cd4ml_shared.gate import (
    Champion,
    EvaluationFormatError,
    comparison_of,
    decide,
    intervals_of,
    metrics_of,
    model_data_of,
)
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


def find_champion() -> dict:
    """The champion's ARN and model archive for the Evaluate step (None for both when there is no champion; a None
    archive when the version names none: the evaluation then has no comparison and the gate uses recorded figures)."""
    package = latest_approved(sagemaker, SETTINGS.model_package_group)
    if package is None:
        return {"model_package_arn": None, "model_uri": None}
    return {"model_package_arn": package["ModelPackageArn"], "model_uri": model_data_of(package)}


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


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    if event.get("action") == "find_champion":
        require(event, {"run_id": "string"}, where="evaluation_gate")
        logger.append_keys(run_id=event["run_id"])
        found = find_champion()
        logger.info("champion found", extra=found)
        return found
    require(event, {"run_id": "string", "evaluation.outputs.evaluation": "string"}, where="evaluation_gate")
    logger.append_keys(run_id=event["run_id"])
    uri = event["evaluation"]["outputs"]["evaluation"].rstrip("/") + "/evaluation.json"
    document = read_evaluation(uri)
    try:
        challenger = metrics_of(document)
    except EvaluationFormatError as error:
        raise EvaluationMissing(f"{uri}: {error}") from None
    champion = champion_now()
    comparison = comparison_of(document, SETTINGS.policy.champion_metric)
    if comparison is not None and (
        champion is None or comparison.champion_model_package_arn != champion.model_package_arn
    ):
        # Another version was approved after the evaluation scored its champion: that comparison is not with the
        # champion now, so the gate falls back to the current champion's recorded figures.
        logger.warning(
            "the evaluation compared another champion",
            extra={
                "compared": comparison.champion_model_package_arn,
                "champion": champion and champion.model_package_arn,
            },
        )
        comparison = None
    decision = decide(challenger, SETTINGS.policy, champion, intervals=intervals_of(document), comparison=comparison)
    metrics.add_metric(
        name="ChallengersPromoted" if decision.passed else "ChallengersGatedOut", unit=MetricUnit.Count, value=1
    )
    for name in ("pr_auc", "auc"):
        if name in challenger:
            metrics.add_metric(name=f"Challenger_{name}", unit=MetricUnit.NoUnit, value=challenger[name])
    if decision.comparison is not None:
        metrics.add_metric(
            name=f"ChallengerMinusChampion_{decision.comparison.metric}",
            unit=MetricUnit.NoUnit,
            value=decision.comparison.difference,
        )
    logger.info("gate decided", extra={"passed": decision.passed, "reasons": decision.reasons, "notes": decision.notes})
    return {**decision.to_dict(), "evaluation_uri": uri}
