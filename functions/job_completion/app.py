"""Resumes a waiting state machine task when SageMaker work it waits for settles (the EventBridge half of the
callback pattern): a training pipeline job reaching a terminal state (start_job stored the token under the job's
name), or a deployment's endpoint leaving Creating/Updating (deploy_model stored it under the endpoint's name)."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.callbacks import claim_token, resume_endpoint_wait, resume_task
from cd4ml_shared.callbacks import ENDPOINT_DETAIL_TYPE, ENDPOINT_SETTLED, TERMINAL, endpoint_of, job_of
from cd4ml_shared.payload import require
from cd4ml_shared.settings import JobCompletionSettings

logger = Logger()
metrics = Metrics()
sfn = boto3.client("stepfunctions")
SETTINGS = JobCompletionSettings.from_environment()
tokens = boto3.resource("dynamodb").Table(SETTINGS.token_table)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, {"detail-type": "string", "detail": "object"}, where="job_completion")
    change = EventBridgeEvent(event)
    if change.detail_type == ENDPOINT_DETAIL_TYPE:
        return endpoint_settled(change)
    kind, name, status = job_of(change.detail_type, change.detail)
    logger.append_keys(job_name=name, job_status=status)
    if status not in TERMINAL:
        return {"ignored": name, "why": f"status {status} is not terminal"}
    item = claim_token(tokens, name)
    if item is None:
        logger.info("no waiting task for this job")
        return {"ignored": name, "why": "no waiting task (not a pipeline job, or already resumed)"}
    follow_run(item)
    gone = resume_task(sfn, tokens, item, kind, status, change.detail)
    if gone is not None:
        logger.warning("the waiting task is gone", extra={"code": gone, "run_id": item.get("run_id")})
        return {"ignored": name, "why": gone}
    metrics.add_metric(name=f"{kind.capitalize()}Jobs{status}", unit=MetricUnit.Count, value=1)
    logger.info("execution resumed", extra={"run_id": item.get("run_id")})
    return {"resumed": name, "status": status, "run_id": item.get("run_id")}


def follow_run(item: dict) -> None:
    """From the claimed token on, the lines carry the id of the run that waits (a pipeline run's id, or the
    deployment's execution name), instead of the event's id."""
    if item.get("run_id"):
        logger.set_correlation_id(str(item["run_id"]))


def endpoint_settled(change: EventBridgeEvent) -> dict:
    """An endpoint's state change: resume the rollout waiting on it once it left Creating/Updating."""
    name, status = endpoint_of(change.detail)
    logger.append_keys(endpoint_name=name, endpoint_status=status)
    if status not in ENDPOINT_SETTLED:
        return {"ignored": name, "why": f"status {status} is not settled"}
    item = claim_token(tokens, name)
    if item is None:
        logger.info("no deployment waiting on this endpoint")
        return {"ignored": name, "why": "no waiting task (no deployment in flight, or already resumed)"}
    follow_run(item)
    gone = resume_endpoint_wait(sfn, tokens, item, change.detail)
    if gone is not None:
        logger.warning("the waiting task is gone", extra={"code": gone, "run_id": item.get("run_id")})
        return {"ignored": name, "why": gone}
    metrics.add_metric(name=f"Endpoints{status.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
    logger.info("deployment resumed", extra={"run_id": item.get("run_id")})
    return {"resumed": name, "status": status, "run_id": item.get("run_id")}
