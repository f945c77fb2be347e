"""Endpoints' plain decisions: the traffic steps of a blue/green update, the pick of a variant by weight, the
statuses events spell, the endpoint config and its models as read from moto when a request comes in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...aws import epoch_millis
from ..registry import ModelPackageNotFound, model_containers

TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
SERVING_STATUSES = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")


def event_status(status: str) -> str:
    """SageMaker's events spell the status IN_SERVICE where its API says InService."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def capacity_fraction(size: Mapping[str, Any], instance_count: int) -> float:
    """The share of traffic a CapacitySize (CanarySize, LinearStepSize) sends to the new fleet.

    CAPACITY_PERCENT is that percentage of the traffic; INSTANCE_COUNT is that many of the new fleet's instances,
    which take their proportional share of its traffic.
    """
    value = float(size.get("Value", 0))
    share = value / 100.0 if size.get("Type") == "CAPACITY_PERCENT" else value / max(instance_count, 1)
    return min(max(share, 0.0), 1.0)


def traffic_steps(routing: Mapping[str, Any] | None, instance_count: int) -> list[float]:
    """The successive shares of traffic on the new fleet during a blue/green update; the last one is 1.0."""
    kind = (routing or {}).get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        first = capacity_fraction(routing.get("CanarySize") or {}, instance_count) if routing else 1.0
        return [first, 1.0] if 0.0 < first < 1.0 else [1.0]
    if kind == "LINEAR":
        step = capacity_fraction(routing.get("LinearStepSize") or {}, instance_count) if routing else 1.0
        if step <= 0.0:
            return [1.0]
        count = int(1.0 / step + 1e-9)
        steps = [round(step * index, 6) for index in range(1, count + 1) if step * index < 1.0 - 1e-9]
        return [*steps, 1.0]
    return [1.0]


def pick_by_weight(weights: Sequence[float], draw: float) -> int:
    """The index `draw` (uniform in [0, 1)) falls on when each item gets its weight's share; all-zero: equal."""
    positive = [max(float(weight), 0.0) for weight in weights]
    total = sum(positive)
    if total <= 0.0:
        positive, total = [1.0] * len(weights), float(len(weights))
    point = draw * total
    for index, weight in enumerate(positive):
        if point < weight:
            return index
        point -= weight
    return max(index for index, weight in enumerate(positive) if weight > 0)


def endpoint_detail(fake: Any) -> dict[str, Any]:
    """The detail of "SageMaker Endpoint State Change", in the shape AWS documents."""
    detail: dict[str, Any] = {
        "EndpointName": fake.endpoint_name,
        "EndpointArn": fake.arn,
        "EndpointConfigName": fake.endpoint_config_name,
        "ProductionVariants": [
            {k: v for k, v in variant.items() if k != "DeployedImages"} for variant in fake.production_variants
        ],
        "EndpointStatus": event_status(fake.endpoint_status),
        "CreationTime": epoch_millis(fake.creation_time),
        "LastModifiedTime": epoch_millis(fake.last_modified_time),
        "Tags": {tag["Key"]: tag["Value"] for tag in fake.tags or []},
    }
    if fake.failure_reason:
        detail["FailureReason"] = fake.failure_reason
    return detail


@dataclass(frozen=True)
class VariantSpec:
    """A production variant of an endpoint config, with its model's container (resolved from its model package when
    it names one), read when the request came in."""

    name: str
    model_name: str
    weight: float
    instance_type: str | None
    instance_count: int
    container: dict[str, Any]
    raw: dict[str, Any]
    problem: str | None = None  # why it cannot run locally


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    variants: list[VariantSpec]
    capture: dict[str, Any] | None

    @property
    def instance_count(self) -> int:
        return sum(variant.instance_count for variant in self.variants)


# ---- reading moto's records -----------------------------------------------------------------------------------
def read_config(backend: Any, config_name: str) -> ConfigSpec:
    """An endpoint config and its models as they are now (a later change to them does not affect this fleet)."""
    config = backend.endpoint_configs[config_name]
    variants = []
    for raw in config.production_variants:
        problem: str | None = None
        container: dict[str, Any] = {}
        model_name = str(raw.get("ModelName") or "")
        try:
            model = backend.describe_model(model_name)
        except Exception as exc:
            problem = f"Production variant {raw.get('VariantName')}: {getattr(exc, 'message', None) or exc}"
        else:
            try:
                containers = model_containers(backend, model)
            except ModelPackageNotFound as exc:  # deleted since CreateModel
                containers, problem = [], f"Model {model_name}: {exc}"
            if len(containers) == 1:
                container = containers[0]
            elif containers:
                problem = f"Model {model_name}: inference pipelines (several Containers) are not supported locally."
            if container.get("Mode") == "MultiModel":
                problem = f"Model {model_name}: multi-model endpoints (Mode MultiModel) are not supported locally."
        if not model_name:
            problem = f"Production variant {raw.get('VariantName')}: variants without a ModelName are not supported."
        variants.append(
            VariantSpec(
                name=str(raw["VariantName"]),
                model_name=model_name,
                weight=float(raw.get("InitialVariantWeight", 1.0)),
                instance_type=raw.get("InstanceType"),
                instance_count=int(raw.get("InitialInstanceCount") or 1),
                container=container,
                raw=dict(raw),
                problem=problem,
            )
        )
    return ConfigSpec(config_name, variants, dict(config.data_capture_config or {}) or None)


def set_variants(fake: Any, spec: ConfigSpec) -> None:
    variants = fake._process_production_variants([variant.raw for variant in spec.variants])
    for summary, variant in zip(variants, spec.variants, strict=True):
        image = variant.container.get("Image")
        if image:
            summary["DeployedImages"] = [{"SpecifiedImage": image, "ResolvedImage": image}]
    fake.production_variants = variants


def rollback_alarms(deployment: Mapping[str, Any] | None) -> list[str]:
    alarms = ((deployment or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    return [str(alarm["AlarmName"]) for alarm in alarms if alarm.get("AlarmName")]


def missing_alarms(account_id: str, region: str, names: list[str]) -> list[str]:
    if not names:
        return []
    from moto.cloudwatch.models import cloudwatch_backends

    known = {alarm.name for alarm in cloudwatch_backends[account_id][region].describe_alarms()}
    return [name for name in names if name not in known]


def optional_float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
