"""The deployment workflow's SageMaker, S3 and SNS calls: idempotent model and endpoint-config creation, the
endpoint's state, the blue/green rollout or rollback, and the deployment's record."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from ..callbacks import token_item
from ..deployment import (
    DeploymentSettings,
    EndpointBusy,
    deployment_config,
    endpoint_config_request,
    model_request,
    new_fleet_alarm_names,
    new_fleet_alarms,
    record_key,
)
from .client_errors import error_code, error_message

BUSY = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


def _missing(error: ClientError) -> bool:
    """SageMaker answers a Describe* of something that does not exist with a ValidationException."""
    return error_code(error) in ("ValidationException", "ValidationError", "ResourceNotFound")


def ensure_model(sagemaker: Any, settings: DeploymentSettings, name: str, package_arn: str) -> dict[str, Any]:
    """The version's model, created from its package unless a first attempt already did (models are immutable, so
    one that exists under the version's name is that version's)."""
    try:
        sagemaker.describe_model(ModelName=name)
        return {"model_name": name, "created": False}
    except ClientError as error:
        if not _missing(error):
            raise
    sagemaker.create_model(**model_request(settings, name, package_arn))
    return {"model_name": name, "created": True}


def ensure_endpoint_config(sagemaker: Any, settings: DeploymentSettings, name: str, model_name: str) -> dict[str, Any]:
    """The version's endpoint config (one variant, data capture), created unless a first attempt already did."""
    try:
        sagemaker.describe_endpoint_config(EndpointConfigName=name)
        return {"config_name": name, "created": False}
    except ClientError as error:
        if not _missing(error):
            raise
    sagemaker.create_endpoint_config(**endpoint_config_request(settings, name, model_name))
    return {"config_name": name, "created": True}


def endpoint_state(sagemaker: Any, name: str) -> dict[str, Any]:
    """Whether the endpoint exists, its status and the config it serves (the one a rollback returns to)."""
    try:
        described = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if not _missing(error):
            raise
        return {"exists": False, "status": None, "config_name": None}
    return {"exists": True, "status": described["EndpointStatus"], "config_name": described["EndpointConfigName"]}


def approved_versions(sagemaker: Any, group_name: str) -> list[int]:
    """The version numbers of the group's Approved packages (all pages)."""
    versions: list[int] = []
    for page in sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group_name, ModelApprovalStatus="Approved"
    ):
        versions += [int(p["ModelPackageVersion"]) for p in page["ModelPackageSummaryList"]]
    return versions


def describe_endpoint(sagemaker: Any, name: str) -> dict[str, Any]:
    described: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
    return described


def require_idle(state: Mapping[str, Any], name: str) -> None:
    """`EndpointBusy` while another deployment moves the endpoint: its token must not be overwritten."""
    if state["exists"] and state["status"] in BUSY:
        raise EndpointBusy(f"endpoint {name} is {state['status']}: another deployment is in flight")


def hold_endpoint(table: Any, endpoint_name: str, token: str, *, execution: str, timeout_s: int) -> None:
    """Store the waiting task's token under the endpoint's name, unless another deployment's task still waits there
    (`EndpointBusy`): two deployments racing past the status check must not overwrite each other's token. A token
    older than its own wait belongs to a task that has timed out, and is taken over."""
    now = time.time()
    item = {**token_item(endpoint_name, token, run_id=execution, kind="endpoint", timeout_s=timeout_s, now=now)}
    item["held_until"] = int(now) + timeout_s
    try:
        table.put_item(
            Item=item,
            ConditionExpression="attribute_not_exists(job_name) OR held_until < :now",
            ExpressionAttributeValues={":now": int(now)},
        )
    except ClientError as error:
        if error_code(error) != "ConditionalCheckFailedException":
            raise
        raise EndpointBusy(f"endpoint {endpoint_name}: another deployment's task is waiting on it") from None


def start_rollout(sagemaker: Any, cloudwatch: Any, settings: DeploymentSettings, config_name: str) -> dict[str, Any]:
    """CreateEndpoint the first time, else a blue/green UpdateEndpoint with alarm rollback, the new fleet's alarms
    put first (PutMetricAlarm replaces an alarm of the same name: a retried step makes them once). Returns what was
    done; the endpoint's state-change event ends the wait."""
    state = endpoint_state(sagemaker, settings.endpoint_name)
    require_idle(state, settings.endpoint_name)
    if not state["exists"]:
        sagemaker.create_endpoint(EndpointName=settings.endpoint_name, EndpointConfigName=config_name)
        return {"action": "create", "deployment_config": None}
    for alarm in new_fleet_alarms(settings, config_name):
        cloudwatch.put_metric_alarm(**alarm)
    config = deployment_config(settings, config_name)
    try:
        sagemaker.update_endpoint(
            EndpointName=settings.endpoint_name, EndpointConfigName=config_name, DeploymentConfig=config
        )
    except ClientError as error:
        if "in-progress" in error_message(error):
            raise EndpointBusy(f"endpoint {settings.endpoint_name}: {error_message(error)}") from None
        raise
    return {"action": "update", "deployment_config": config}


def drop_new_fleet_alarms(cloudwatch: Any, config_name: str) -> list[str]:
    """Delete a config's new-fleet alarms once its deployment ended (they watch nothing after it; one pair per
    version would pile up). DeleteAlarms of alarms that do not exist succeeds, so a retried record is harmless."""
    names = list(new_fleet_alarm_names(config_name))
    cloudwatch.delete_alarms(AlarmNames=names)
    return names


def start_rollback(sagemaker: Any, endpoint_name: str, previous_config: str | None) -> dict[str, Any]:
    """Put the previous config back (all at once: it served production a moment ago). With no previous config
    (a first deployment) the endpoint is deleted, so nothing serves a model that failed its smoke test."""
    if previous_config is None:
        sagemaker.delete_endpoint(EndpointName=endpoint_name)
        return {"action": "delete", "config_name": None}
    sagemaker.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=previous_config)
    return {"action": "update", "config_name": previous_config}


def record_deployment(s3: Any, sagemaker: Any, bucket: str, record: Mapping[str, Any], *, deployed: bool) -> str:
    """Write the record under deployments/ and, for a version now in service, say so on its model package."""
    key = record_key(record["endpoint_name"], int(record["version"]), float(record["finished_at"]))
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(record, indent=2).encode(), ContentType="application/json")
    if deployed:
        sagemaker.update_model_package(
            ModelPackageArn=record["model_package_arn"],
            CustomerMetadataProperties={
                "cd4ml:deployed_at": datetime.fromtimestamp(float(record["finished_at"]), UTC).isoformat(),
                "cd4ml:endpoint": str(record["endpoint_name"]),
            },
        )
    return f"s3://{bucket}/{key}"
