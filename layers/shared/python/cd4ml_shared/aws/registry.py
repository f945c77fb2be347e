"""Look-ups in the model registry (SageMaker model package groups) and the published code a model's lineage names."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..layout import code_prefix
from ..registry import RUN_ID_KEY, code_file_missing
from .client_errors import error_code


def latest_approved_arn(sagemaker: Any, group_name: str) -> str | None:
    """The ARN of the newest Approved version of a model package group; None if there is none."""
    summaries = sagemaker.list_model_packages(
        ModelPackageGroupName=group_name,
        ModelApprovalStatus="Approved",
        SortBy="CreationTime",
        SortOrder="Descending",
        MaxResults=1,
    )["ModelPackageSummaryList"]
    return str(summaries[0]["ModelPackageArn"]) if summaries else None


def latest_approved(sagemaker: Any, group_name: str) -> dict[str, Any] | None:
    """The champion: the newest Approved version of a model package group, described; None if there is none."""
    arn = latest_approved_arn(sagemaker, group_name)
    if arn is None:
        return None
    described: dict[str, Any] = sagemaker.describe_model_package(ModelPackageName=arn)
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


def published_code_sha256(s3: Any, bucket: str, version: str) -> str:
    """The SHA-256 of a published code version, from its manifest.json (`cd4ml model publish` writes it), once its
    sourcedir.tar.gz (what the registered model serves with) is known to be there; `ModelCodeMissing` naming the
    file that is not."""
    prefix = code_prefix(version)
    try:
        s3.head_object(Bucket=bucket, Key=f"{prefix}sourcedir.tar.gz")
    except ClientError as error:
        raise _missing(error, bucket, f"{prefix}sourcedir.tar.gz", version) from None
    try:
        manifest = s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")
    except ClientError as error:
        raise _missing(error, bucket, f"{prefix}manifest.json", version) from None
    return str(json.loads(manifest["Body"].read())["sha256"])


def _missing(error: ClientError, bucket: str, key: str, version: str) -> Exception:
    """The named error for a missing code file, or the client error itself for any other failure."""
    return code_file_missing(error_code(error), bucket, key, version) or error
