"""Application Auto Scaling of the endpoint's production variant in prod, as plain values: the scalable target and
the target-tracking policy the deployment workflow registers once a version is in service, and when an update must
take the variant out of auto scaling first. The calls are in `aws.autoscaling`.

The stack cannot declare these as CloudFormation resources: the endpoint is created by the deployment workflow, not
by CloudFormation, and AWS refuses to register a variant that does not exist yet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .deployment import VARIANT
from .environment import SettingsError, environment, required, whole_number

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
# Scale out quickly on a burst of payments, scale in slowly so a lull does not strand the next burst.
SCALE_OUT_COOLDOWN_SECONDS = 60
SCALE_IN_COOLDOWN_SECONDS = 300


@dataclass(frozen=True)
class AutoscalingSettings:
    """What the deployment function reads from its environment: `max_instances` 0 leaves the variant at its fixed
    count (every stage but prod)."""

    endpoint_name: str
    min_instances: int  # the endpoint config's instance count: auto scaling never goes below it
    max_instances: int
    invocations_per_instance: int  # target of InvocationsPerInstance, per instance and minute

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> AutoscalingSettings:
        env = environment(environ)
        settings = cls(
            endpoint_name=required(env, "ENDPOINT_NAME"),
            min_instances=whole_number(env, "INSTANCE_COUNT"),
            max_instances=whole_number(env, "AUTOSCALING_MAX_INSTANCES", 0),
            invocations_per_instance=whole_number(env, "AUTOSCALING_TARGET_INVOCATIONS", 0),
        )
        settings.check()
        return settings

    @property
    def enabled(self) -> bool:
        return self.max_instances > 0

    def check(self) -> None:
        """The limits Application Auto Scaling would refuse at the end of a deployment, named at cold start."""
        if not self.enabled:
            return
        if self.max_instances < self.min_instances:
            raise SettingsError(
                f"AUTOSCALING_MAX_INSTANCES ({self.max_instances}) must be at least INSTANCE_COUNT "
                f"({self.min_instances})"
            )
        if self.invocations_per_instance < 1:
            raise SettingsError(
                f"AUTOSCALING_TARGET_INVOCATIONS must be at least 1 with auto scaling on, "
                f"got {self.invocations_per_instance}"
            )


def resource_id(endpoint_name: str) -> str:
    """Application Auto Scaling's name of the endpoint's production variant."""
    return f"endpoint/{endpoint_name}/variant/{VARIANT}"


def policy_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-invocations-per-instance"


def scalable_target_request(settings: AutoscalingSettings) -> dict[str, Any]:
    """RegisterScalableTarget of the variant (an upsert: registering again updates the bounds)."""
    return {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(settings.endpoint_name),
        "ScalableDimension": DIMENSION,
        "MinCapacity": settings.min_instances,
        "MaxCapacity": settings.max_instances,
    }


def scaling_policy_request(settings: AutoscalingSettings) -> dict[str, Any]:
    """PutScalingPolicy: target tracking of invocations per instance (an upsert by policy name)."""
    return {
        "PolicyName": policy_name(settings.endpoint_name),
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(settings.endpoint_name),
        "ScalableDimension": DIMENSION,
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": float(settings.invocations_per_instance),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleOutCooldown": SCALE_OUT_COOLDOWN_SECONDS,
            "ScaleInCooldown": SCALE_IN_COOLDOWN_SECONDS,
        },
    }


def must_deregister(serving_instance_type: str | None, requested_instance_type: str) -> bool:
    """Whether an update has to take the variant out of auto scaling first: SageMaker refuses an UpdateEndpoint
    that changes the instance type of a variant registered for auto scaling, and allows one that changes only the
    model (every new version). Deregistering deletes the variant's policies; the next successful deployment
    registers both again."""
    return serving_instance_type is not None and serving_instance_type != requested_instance_type
