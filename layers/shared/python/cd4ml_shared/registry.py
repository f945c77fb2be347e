"""The model registry side of a run: who the champion is, and the model package a passing challenger becomes (its
inference specification, metrics, data-quality report and lineage)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ApprovalStatus = Literal["Approved", "PendingManualApproval"]
# CustomerMetadataProperties limits: keys up to 128 characters, values up to 1024.
_MAX_VALUE = 1024
RUN_ID_KEY = "cd4ml:run_id"


def latest_approved(sagemaker: Any, group_name: str) -> dict[str, Any] | None:
    """The champion: the newest Approved version of a model package group, described; None if there is none."""
    summaries = sagemaker.list_model_packages(
        ModelPackageGroupName=group_name,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    if not summaries:
        return None
    described: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=summaries[0]["ModelPackageArn"])
    return described


def package_of_run(sagemaker: Any, group_name: str, run_id: str, newest: int = 10) -> dict[str, Any] | None:
    """The version a run already registered (a retried Register task must not register twice). A retry comes
    seconds after the first attempt, so only the newest versions are looked at: the cost stays the same however
    many versions the group holds."""
    summaries = sagemaker.list_model_packages(
        ModelPackageGroupName=group_name, SortBy="CreationTime", SortOrder="Descending", MaxResults=newest
    )["ModelPackageSummaryList"]
    for summary in summaries:
        described: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        if (described.get("CustomerMetadataProperties") or {}).get(RUN_ID_KEY) == run_id:
            return described
    return None


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
    headline = ", ".join(f"{k} {v:.4f}" for k, v in sorted(metrics.items()) if k in ("pr_auc", "auc", "f1"))
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
        "CustomerMetadataProperties": lineage.metadata(),
    }
