"""Registers a challenger that passed the gate as a new model package version, with its metrics, data-quality report
and lineage, approved automatically or left for a person according to the stage."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.registry import package_of_run, published_code_sha256
from cd4ml_shared.gate import comparison_metadata
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.registry import lineage_of, model_package_request, registration_of
from cd4ml_shared.retraining import retraining_lineage
from cd4ml_shared.settings import RegisterModelSettings

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
sagemaker = boto3.client("sagemaker")
SETTINGS = RegisterModelSettings.from_environment()
# The Register task's Parameters (statemachines/training_pipeline.asl.json): what the model package is made of
REGISTER_FIELDS: dict[str, PayloadKind] = {
    "run_id": "string",
    "execution_arn": "string",
    "dataset.bucket": "string",
    "dataset.key": "string",
    "validation.sha256": "string",
    "validation.rows": "integer",
    "validation.run_report_uri": "string",
    "training.model_uri": "string",
    "training.job_arn": "string",
    "training.hyperparameters": "object",
    "gate.evaluation_uri": "string",
    "gate.metrics": "object",
}


def retraining_of(dataset: dict) -> dict[str, str]:
    if not retraining_lineage(dataset["key"], {}):
        return {}  # not a retraining dataset: no read
    request = {"Bucket": dataset["bucket"], "Key": dataset["key"]}
    if dataset.get("version_id"):
        request["VersionId"] = dataset["version_id"]
    return retraining_lineage(dataset["key"], s3.head_object(**request).get("Metadata") or {})


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, REGISTER_FIELDS, where="register_model")
    run_id = event["run_id"]
    logger.append_keys(run_id=run_id)
    existing = package_of_run(sagemaker, SETTINGS.model_package_group, run_id)
    if existing is not None:  # a retried task: the version is already there
        logger.info("already registered", extra={"model_package_arn": existing["ModelPackageArn"]})
        return registration_of(existing)
    training, validation, gate = event["training"], event["validation"], event["gate"]
    lineage = lineage_of(
        event,
        code_version=SETTINGS.code_version,
        code_sha256=published_code_sha256(s3, SETTINGS.artifacts_bucket, SETTINGS.code_version),
    )
    request = model_package_request(
        group_name=SETTINGS.model_package_group,
        run_id=run_id,
        image=SETTINGS.inference_image,
        model_data_url=training["model_uri"],
        sourcedir_uri=SETTINGS.sourcedir_uri,
        evaluation_uri=gate["evaluation_uri"],
        quality_report_uri=validation["run_report_uri"],
        approval=SETTINGS.approval_status,
        lineage=lineage,
        metrics=gate["metrics"],
    )
    # the gate's paired comparison with the champion (both scores on the same rows, difference, interval)
    request["CustomerMetadataProperties"].update(comparison_metadata(gate))
    # a retraining's dataset says why and from which windows (its S3 metadata, written by request_retraining)
    request["CustomerMetadataProperties"].update(retraining_of(event["dataset"]))
    arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    metrics.add_metric(name="ModelsRegistered", unit=MetricUnit.Count, value=1)
    logger.info("model registered", extra={"model_package_arn": arn, "approval": SETTINGS.approval_status})
    return {
        "model_package_arn": arn,
        "version": described.get("ModelPackageVersion"),
        "approval_status": SETTINGS.approval_status,
    }
