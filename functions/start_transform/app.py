"""Starts a batch-scoring run's SageMaker batch transform for a `.waitForTaskToken` task: stores the task token
under the job's name, then creates the job; job_completion resumes the task on its `Transform Job State Change`."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.callbacks import discard_token, store_token
from cd4ml_shared.aws.scoring import start_transform
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.payload import PayloadKind, field, require
from cd4ml_shared.scoring import ScoringSettings, transform_job_name, transform_request

logger = Logger()
metrics = Metrics()
sagemaker = boto3.client("sagemaker")
SETTINGS = ScoringSettings.from_environment()
tokens = boto3.resource("dynamodb").Table(SETTINGS.token_table)
TASK_FIELDS: dict[str, PayloadKind] = {
    "token": "string",
    "run_id": "string",
    "job_prefix": "string",
    "timeout": "integer",
    "model_name": "string",
}


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, TASK_FIELDS, where="start_transform")
    attempt = field(event, "attempt", "integer", where="start_transform", optional=True) or 0
    name = transform_job_name(event["job_prefix"], attempt)
    logger.append_keys(run_id=event["run_id"], job_name=name)
    layout = RunLayout(SETTINGS.artifacts_bucket, event["run_id"])
    request = transform_request(SETTINGS, name, layout, event["model_name"], tags=SETTINGS.tags)
    store_token(tokens, name, event["token"], run_id=event["run_id"], kind="transform", timeout_s=event["timeout"])
    try:
        arn = start_transform(sagemaker, request)
    except Exception:
        discard_token(tokens, name)  # no job, so no event will ever claim it
        raise
    metrics.add_metric(name="TransformJobsStarted", unit=MetricUnit.Count, value=1)
    logger.info("transform job started", extra={"job_arn": arn})
    return {"job_name": name, "job_arn": arn}
