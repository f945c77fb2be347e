"""Starts one SageMaker job of a run (features, training or evaluation) for a `.waitForTaskToken` task: stores the
task token under the job's name, then creates the job; job_completion resumes the task when the job ends."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.callbacks import discard_token, store_token
from cd4ml_shared.aws.jobs import create_job, require_code_published
from cd4ml_shared.jobs import job_name, request_for
from cd4ml_shared.settings import StartJobSettings

logger = Logger()
metrics = Metrics()
sagemaker = boto3.client("sagemaker")
s3 = boto3.client("s3")
SETTINGS = StartJobSettings.from_environment()
tokens = boto3.resource("dynamodb").Table(SETTINGS.token_table)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    name = job_name(event["job_prefix"], event["kind"], int(event.get("attempt", 0)))
    logger.append_keys(run_id=event["run_id"], job_name=name)
    kind, request = request_for(SETTINGS.jobs, event, name)
    require_code_published(s3, SETTINGS.jobs)
    store_token(tokens, name, event["token"], run_id=event["run_id"], kind=kind, timeout_s=int(event["timeout"]))
    try:
        arn = create_job(sagemaker, kind, request)
    except Exception:
        discard_token(tokens, name)  # no job, so no event will ever claim it
        raise
    metrics.add_metric(name=f"{kind.capitalize()}JobsStarted", unit=MetricUnit.Count, value=1)
    logger.info("job started", extra={"job_arn": arn})
    return {"job_name": name, "job_arn": arn}
