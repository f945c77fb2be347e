"""The deployment workflow's Application Auto Scaling calls: register the variant in service with its
target-tracking policy, and take it out of auto scaling before an update AWS would refuse otherwise."""

from __future__ import annotations

from typing import Any

from ..autoscaling import (
    DIMENSION,
    NAMESPACE,
    AutoscalingSettings,
    must_deregister,
    resource_id,
    scalable_target_request,
    scaling_policy_request,
)
from ..deployment import VARIANT


def register_autoscaling(autoscaling: Any, settings: AutoscalingSettings) -> dict[str, Any]:
    """Register the variant and put its policy (both upserts, so a retried step or the next version's deployment
    changes nothing but the bounds). Nothing in stages without auto scaling."""
    if not settings.enabled:
        return {"enabled": False}
    autoscaling.register_scalable_target(**scalable_target_request(settings))
    policy = autoscaling.put_scaling_policy(**scaling_policy_request(settings))
    return {
        "enabled": True,
        "resource_id": resource_id(settings.endpoint_name),
        "min_instances": settings.min_instances,
        "max_instances": settings.max_instances,
        "invocations_per_instance": settings.invocations_per_instance,
        "policy_arn": policy["PolicyARN"],
    }


def serving_instance_type(sagemaker: Any, config_name: str | None) -> str | None:
    """The instance type of the variant in service (None without an endpoint)."""
    if config_name is None:
        return None
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    (variant,) = [v for v in config["ProductionVariants"] if v["VariantName"] == VARIANT]
    return str(variant["InstanceType"])


def release_for_update(
    autoscaling: Any, sagemaker: Any, settings: AutoscalingSettings, *, serving_config: str | None, instance_type: str
) -> bool:
    """Delete the variant's policies and deregister it before an update that changes its instance type (SageMaker
    refuses that update otherwise).
    Returns whether it was deregistered; a variant that is not registered is left as it is."""
    if not settings.enabled or not must_deregister(serving_instance_type(sagemaker, serving_config), instance_type):
        return False
    target = {"ServiceNamespace": NAMESPACE, "ResourceId": resource_id(settings.endpoint_name)}
    registered = autoscaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[target["ResourceId"]], ScalableDimension=DIMENSION
    )["ScalableTargets"]
    if not registered:
        return False
    # AWS's order for an endpoint update: the policies first, then the target
    policies = autoscaling.describe_scaling_policies(**target, ScalableDimension=DIMENSION)["ScalingPolicies"]
    for policy in policies:
        autoscaling.delete_scaling_policy(PolicyName=policy["PolicyName"], **target, ScalableDimension=DIMENSION)
    autoscaling.deregister_scalable_target(**target, ScalableDimension=DIMENSION)
    return True
