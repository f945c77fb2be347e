"""Look-ups in the model registry (SageMaker model package groups) and the published code a model's lineage names."""

from __future__ import annotations

import json
from typing import Any

from ..layout import code_prefix
from ..registry import RUN_ID_KEY


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


def published_code_sha256(s3: Any, bucket: str, version: str) -> str:
    """The SHA-256 of a published code version, from its manifest.json (`cd4ml model publish` writes it)."""
    manifest = s3.get_object(Bucket=bucket, Key=f"{code_prefix(version)}manifest.json")
    return str(json.loads(manifest["Body"].read())["sha256"])
