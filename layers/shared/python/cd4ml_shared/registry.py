"""The model registry side of a run: the model package a passing challenger becomes (its inference specification,
metrics, data-quality report and lineage) and what a registered version says. Plain values; the look-ups in the
registry (the champion, a run's version) are in `aws.registry`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ModelCodeMissing
from .jobs import MISSING_OBJECT_CODES

ApprovalStatus = Literal["Approved", "PendingManualApproval"]
# CustomerMetadataProperties limits: keys up to 128 characters, values up to 1024.
_MAX_VALUE = 1024
RUN_ID_KEY = "cd4ml:run_id"


def code_file_missing(code: str, bucket: str, key: str, version: str) -> ModelCodeMissing | None:
    """What a failed read of a published code file means for registration: `ModelCodeMissing` naming the file and
    the command that publishes the version, when the object is not there; None for any other error (raised as is)."""
    if code not in MISSING_OBJECT_CODES:
        return None
    return ModelCodeMissing(
        f"model code version {version!r} cannot be registered: s3://{bucket}/{key} does not exist (the registered "
        f"model serves with it; run `cd4ml model publish --bucket {bucket} --version {version}`)"
    )


def evaluation_uri_of(package: Mapping[str, Any]) -> str | None:
    """Where a registered version's evaluation.json lives (its model-quality statistics)."""
    quality = (package.get("ModelMetrics") or {}).get("ModelQuality") or {}
    uri = (quality.get("Statistics") or {}).get("S3Uri")
    return uri if isinstance(uri, str) else None


@dataclass(frozen=True)
class Lineage:
    """How a model was made: enough to rebuild it, or to find everything it came from."""

    run_id: str
    execution_arn: str
    dataset_uri: str
    dataset_version: str
    dataset_sha256: str
    dataset_rows: int
    code_version: str
    code_sha256: str
    training_job_arn: str
    hyperparameters: Mapping[str, str]
    quality_report_uri: str
    evaluation_uri: str

    def metadata(self) -> dict[str, str]:
        properties = {
            RUN_ID_KEY: self.run_id,
            "cd4ml:execution_arn": self.execution_arn,
            "cd4ml:dataset_uri": self.dataset_uri,
            "cd4ml:dataset_version": self.dataset_version,
            "cd4ml:dataset_sha256": self.dataset_sha256,
            "cd4ml:dataset_rows": str(self.dataset_rows),
            "cd4ml:code_version": self.code_version,
            "cd4ml:code_sha256": self.code_sha256,
            "cd4ml:training_job_arn": self.training_job_arn,
            "cd4ml:quality_report_uri": self.quality_report_uri,
            "cd4ml:evaluation_uri": self.evaluation_uri,
        }
        # SageMaker's own sagemaker_* hyperparameters are lineage too (program and code location).
        for name, value in sorted(self.hyperparameters.items()):
            properties[f"hp:{name}"[:128]] = value
        too_long = {k: v for k, v in properties.items() if len(v) > _MAX_VALUE}
        if too_long:
            raise ValueError(f"metadata values over {_MAX_VALUE} characters: {sorted(too_long)}")
        return properties


def lineage_of(event: Mapping[str, Any], *, code_version: str, code_sha256: str) -> Lineage:
    """The lineage of a run's model from the Register task's input (the run's dataset, validation, training and gate
    results) and the published code it was trained with."""
    training, validation, gate = event["training"], event["validation"], event["gate"]
    dataset = event["dataset"]
    return Lineage(
        run_id=event["run_id"],
        execution_arn=event["execution_arn"],
        dataset_uri=f"s3://{dataset['bucket']}/{dataset['key']}",
        dataset_version=dataset.get("version_id") or dataset.get("etag") or "",
        dataset_sha256=validation["sha256"],
        dataset_rows=validation["rows"],
        code_version=code_version,
        code_sha256=code_sha256,
        training_job_arn=training["job_arn"],
        hyperparameters=training["hyperparameters"],
        quality_report_uri=validation["run_report_uri"],
        evaluation_uri=gate["evaluation_uri"],
    )


def registration_of(package: Mapping[str, Any]) -> dict[str, Any]:
    """The Register task's result for a version already registered (a retried task returns what the first made)."""
    return {
        "model_package_arn": package["ModelPackageArn"],
        "version": package.get("ModelPackageVersion"),
        "approval_status": package["ModelApprovalStatus"],
    }


HEADLINE_METRICS = ("pr_auc", "auc", "f1")  # what a version's description and metadata name


def model_package_request(
    *,
    group_name: str,
    run_id: str,
    image: str,
    model_data_url: str,
    sourcedir_uri: str,
    evaluation_uri: str,
    quality_report_uri: str,
    approval: ApprovalStatus,
    lineage: Lineage,
    metrics: Mapping[str, float],
) -> dict[str, Any]:
    headline_metrics = {k: v for k, v in sorted(metrics.items()) if k in HEADLINE_METRICS}
    headline = ", ".join(f"{k} {v:.4f}" for k, v in headline_metrics.items())
    # the headline metrics as metadata too, for `cd4ml model list` and the console (the description is prose)
    metric_metadata = {f"metric:{k}": repr(float(v)) for k, v in headline_metrics.items()}
    return {
        "ModelPackageGroupName": group_name,
        "ModelPackageDescription": f"run {run_id}: {headline}"[:1024],
        "ClientToken": run_id[-36:],  # the API's limit; the end holds the run's digest
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": image,
                    "ModelDataUrl": model_data_url,
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": sourcedir_uri,
                    },
                }
            ],
            "SupportedContentTypes": ["application/json", "text/csv"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
            "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large", "ml.m5.xlarge", "ml.c5.xlarge"],
            "SupportedTransformInstanceTypes": ["ml.m5.xlarge", "ml.c5.xlarge"],
        },
        "ModelMetrics": {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation_uri}},
            "ModelDataQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": quality_report_uri}},
        },
        "ModelApprovalStatus": approval,
        "CustomerMetadataProperties": {**lineage.metadata(), **metric_metadata},
    }
