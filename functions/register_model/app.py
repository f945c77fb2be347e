"""Registers a challenger that passed the gate as a new model package version, with its metrics, data-quality report
and lineage, approved automatically or left for a person according to the stage."""

import json
import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.pipeline import code_prefix
from cd4ml_shared.registry import Lineage, model_package_request, package_of_run

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
GROUP = os.environ["MODEL_PACKAGE_GROUP"]
APPROVAL = os.environ["MODEL_APPROVAL_STATUS"]
ARTIFACTS_BUCKET = os.environ["ARTIFACTS_BUCKET"]
CODE_VERSION = os.environ["CODE_VERSION"]
INFERENCE_IMAGE = os.environ["INFERENCE_IMAGE"]


def code_sha256() -> str:
    manifest = s3.get_object(Bucket=ARTIFACTS_BUCKET, Key=f"{code_prefix(CODE_VERSION)}manifest.json")
    return json.loads(manifest["Body"].read())["sha256"]


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    run_id = event["run_id"]
    logger.append_keys(run_id=run_id)
    existing = package_of_run(sagemaker, GROUP, run_id)
    if existing is not None:  # a retried task: the version is already there
        logger.info("already registered", extra={"model_package_arn": existing["ModelPackageArn"]})
        return {
            "model_package_arn": existing["ModelPackageArn"],
            "version": existing.get("ModelPackageVersion"),
            "approval_status": existing["ModelApprovalStatus"],
        }
    training, validation, gate = event["training"], event["validation"], event["gate"]
    dataset = event["dataset"]
    lineage = Lineage(
        run_id=run_id,
        execution_arn=event["execution_arn"],
        dataset_uri=f"s3://{dataset['bucket']}/{dataset['key']}",
        dataset_version=dataset.get("version_id") or dataset.get("etag") or "",
        dataset_sha256=validation["sha256"],
        dataset_rows=validation["rows"],
        code_version=CODE_VERSION,
        code_sha256=code_sha256(),
        training_job_arn=training["job_arn"],
        hyperparameters=training["hyperparameters"],
        quality_report_uri=validation["run_report_uri"],
        evaluation_uri=gate["evaluation_uri"],
    )
    request = model_package_request(
        group_name=GROUP,
        run_id=run_id,
        image=INFERENCE_IMAGE,
        model_data_url=training["model_uri"],
        sourcedir_uri=f"s3://{ARTIFACTS_BUCKET}/{code_prefix(CODE_VERSION)}sourcedir.tar.gz",
        evaluation_uri=gate["evaluation_uri"],
        quality_report_uri=validation["run_report_uri"],
        approval=APPROVAL,
        lineage=lineage,
        metrics=gate["metrics"],
    )
    arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    metrics.add_metric(name="ModelsRegistered", unit=MetricUnit.Count, value=1)
    logger.info("model registered", extra={"model_package_arn": arn, "approval": APPROVAL})
    return {"model_package_arn": arn, "version": described.get("ModelPackageVersion"), "approval_status": APPROVAL}
