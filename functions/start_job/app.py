"""Starts one SageMaker job of a run (features, training or evaluation) for a `.waitForTaskToken` task: stores the
task token under the job's name, then creates the job; job_completion resumes the task when the job ends."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.callbacks import discard_token, store_token
from cd4ml_shared.aws.images import require_images_pullable
from cd4ml_shared.aws.jobs import create_job, require_code_published
from cd4ml_shared.images import require_usable_images
from cd4ml_shared.jobs import job_name, request_for
from cd4ml_shared.payload import PayloadKind, field, require
from cd4ml_shared.settings import StartJobSettings

logger = Logger()
metrics = Metrics()
sagemaker = boto3.client("sagemaker")
s3 = boto3.client("s3")
ecr = boto3.client("ecr")
SETTINGS = StartJobSettings.from_environment()
tokens = boto3.resource("dynamodb").Table(SETTINGS.token_table)
# The Payload of the BuildFeatures / Train / Evaluate tasks (statemachines/training_pipeline.asl.json)
TASK_FIELDS: dict[str, PayloadKind] = {
    "token": "string",
    "kind": "string",
    "run_id": "string",
    "job_prefix": "string",
    "timeout": "integer",
}
STEP_INPUT = {"features": "dataset_uri", "evaluate": "model_uri"}  # the URI a step reads
# Every image the run's jobs use, by its template parameter: all checked at every start, so the first job finds a
# training image that could never run.
IMAGES = {"TrainingImageUri": SETTINGS.jobs.training_image, "ProcessingImageUri": SETTINGS.jobs.processing_image}


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, TASK_FIELDS, where="start_job")
    attempt = field(event, "attempt", "integer", where="start_job", optional=True) or 0
    if event["kind"] in STEP_INPUT:
        field(event, STEP_INPUT[event["kind"]], "string", where="start_job")
    name = job_name(event["job_prefix"], event["kind"], attempt)
    logger.append_keys(run_id=event["run_id"], job_name=name)
    kind, request = request_for(SETTINGS.jobs, event, name)
    require_usable_images(IMAGES, sagemaker.meta.region_name)
    require_images_pullable(ecr, IMAGES)
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
