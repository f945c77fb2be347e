"""Starts one SageMaker job of a run (features, training or evaluation) for a `.waitForTaskToken` task: stores the
task token under the job's name, then creates the job; job_completion resumes the task when the job ends."""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError
from cd4ml_shared.callbacks import store_token
from cd4ml_shared.jobs import JobSettings, evaluation_request, features_request, job_name, training_request
from cd4ml_shared.pipeline import (
    JobQuotaExceeded,
    JobRequestRejected,
    JobThrottled,
    ModelCodeMissing,
    RunLayout,
)

logger = Logger()
metrics = Metrics()
sagemaker = boto3.client("sagemaker")
s3 = boto3.client("s3")
tokens = boto3.resource("dynamodb").Table(os.environ["TOKEN_TABLE"])
SETTINGS = JobSettings.from_environment()


def request_for(event: dict, name: str) -> tuple[str, dict]:
    layout = RunLayout(SETTINGS.artifacts_bucket, event["run_id"])
    kind = event["kind"]
    if kind == "features":
        return "processing", features_request(SETTINGS, name, layout, event["dataset_uri"])
    if kind == "train":
        return "training", training_request(SETTINGS, name, layout)
    if kind == "evaluate":
        return "processing", evaluation_request(SETTINGS, name, layout, event["model_uri"])
    raise ValueError(f"unknown job kind {kind!r} (features, train or evaluate)")


def check_code_published() -> None:
    key = f"{SETTINGS.sourcedir_key}"
    try:
        s3.head_object(Bucket=SETTINGS.artifacts_bucket, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise ModelCodeMissing(
                f"model code version {SETTINGS.code_version!r} is not published: s3://{SETTINGS.artifacts_bucket}/"
                f"{key} does not exist (run `cd4ml model publish --bucket {SETTINGS.artifacts_bucket} "
                f"--version {SETTINGS.code_version}`)"
            ) from None
        raise


def create(kind: str, request: dict) -> str:
    try:
        if kind == "training":
            return sagemaker.create_training_job(**request)["TrainingJobArn"]
        return sagemaker.create_processing_job(**request)["ProcessingJobArn"]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        if code in ("ThrottlingException", "Throttling", "TooManyRequestsException"):
            raise JobThrottled(f"CreateJob throttled: {message}") from None
        if code == "ResourceLimitExceeded":
            instance = (request.get("ResourceConfig") or request.get("ProcessingResources", {}).get("ClusterConfig"))[
                "InstanceType"
            ]
            raise JobQuotaExceeded(
                f"no quota for {instance} in this account ({message}); request a Service Quotas increase for "
                f"'{instance} for {'spot ' if request.get('EnableManagedSpotTraining') else ''}{kind} job usage' "
                "or choose another instance type parameter"
            ) from None
        if code == "ValidationException":
            name = request.get("TrainingJobName") or request.get("ProcessingJobName")
            raise JobRequestRejected(f"{name}: {message}") from None
        raise


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    name = job_name(event["job_prefix"], event["kind"], int(event.get("attempt", 0)))
    logger.append_keys(run_id=event["run_id"], job_name=name)
    kind, request = request_for(event, name)
    check_code_published()
    store_token(tokens, name, event["token"], run_id=event["run_id"], kind=kind, timeout_s=int(event["timeout"]))
    try:
        arn = create(kind, request)
    except Exception:
        tokens.delete_item(Key={"job_name": name})
        raise
    metrics.add_metric(name=f"{kind.capitalize()}JobsStarted", unit=MetricUnit.Count, value=1)
    logger.info("job started", extra={"job_arn": arn})
    return {"job_name": name, "job_arn": arn}
