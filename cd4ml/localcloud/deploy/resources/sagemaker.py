"""SageMaker model package groups (the model registry)."""

from __future__ import annotations

import logging
from typing import Any

from ..base import DeployContext, DeployedResource, handles, tags

log = logging.getLogger(__name__)


@handles("AWS::SageMaker::ModelPackageGroup")
def _model_package_group(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    name = p.get("ModelPackageGroupName") or d.name_for(logical_id, 63)
    args: dict[str, Any] = {"ModelPackageGroupName": name}
    if p.get("ModelPackageGroupDescription"):
        args["ModelPackageGroupDescription"] = p["ModelPackageGroupDescription"]
    if tags(p):
        args["Tags"] = tags(p)
    group_arn = d.clients("sagemaker").create_model_package_group(**args)["ModelPackageGroupArn"]
    return DeployedResource(
        logical_id, "AWS::SageMaker::ModelPackageGroup", name, group_arn, {"ModelPackageGroupArn": group_arn}
    )
