"""CloudWatch Logs groups, CloudWatch alarms and dashboards, KMS keys and aliases, SSM parameters."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..base import DeployContext, DeployedResource, handles

log = logging.getLogger(__name__)


@handles("AWS::Logs::LogGroup")
def _log_group(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    logs = d.clients("logs")
    name = p.get("LogGroupName") or d.name_for(logical_id, 512)
    logs.create_log_group(logGroupName=name)
    if p.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
    return DeployedResource(
        logical_id, "AWS::Logs::LogGroup", name, name, {"Arn": d.arn("logs", f"log-group:{name}:*")}
    )


@handles("AWS::CloudWatch::Alarm")
def _alarm(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    name = p.get("AlarmName") or d.name_for(logical_id, 255)
    keys = (
        "AlarmDescription",
        "ActionsEnabled",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "Metrics",
    )
    args = {k: p[k] for k in keys if k in p}
    for numeric in ("Period", "EvaluationPeriods", "DatapointsToAlarm"):
        if numeric in args:
            args[numeric] = int(args[numeric])
    if "Threshold" in args:
        args["Threshold"] = float(args["Threshold"])
    d.clients("cloudwatch").put_metric_alarm(AlarmName=name, **args)
    return DeployedResource(
        logical_id, "AWS::CloudWatch::Alarm", name, name, {"Arn": d.arn("cloudwatch", f"alarm:{name}")}
    )


@handles("AWS::CloudWatch::Dashboard")
def _dashboard(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    """Stored as CloudWatch stores it (moto refuses a body that is not JSON, as PutDashboard does); the local cloud
    renders no widget. Ref answers the name."""
    name = p.get("DashboardName") or d.name_for(logical_id, 255)
    body = p["DashboardBody"]
    d.clients("cloudwatch").put_dashboard(
        DashboardName=name, DashboardBody=body if isinstance(body, str) else json.dumps(body)
    )
    return DeployedResource(logical_id, "AWS::CloudWatch::Dashboard", name, name)


@handles("AWS::KMS::Key")
def _kms_key(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    args: dict[str, Any] = {"Description": p.get("Description", logical_id)}
    if p.get("KeyPolicy"):
        args["Policy"] = json.dumps(p["KeyPolicy"])
    key = d.clients("kms").create_key(**args)["KeyMetadata"]
    if str(p.get("EnableKeyRotation", False)).lower() == "true":
        d.clients("kms").enable_key_rotation(KeyId=key["KeyId"])
    return DeployedResource(
        logical_id, "AWS::KMS::Key", key["KeyId"], key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]}
    )


@handles("AWS::KMS::Alias")
def _kms_alias(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    d.clients("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
    return DeployedResource(logical_id, "AWS::KMS::Alias", p["AliasName"], p["AliasName"])


@handles("AWS::SSM::Parameter")
def _ssm_parameter(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    name = p.get("Name") or d.name_for(logical_id, 128)
    d.clients("ssm").put_parameter(Name=name, Value=str(p["Value"]), Type=p.get("Type", "String"))
    return DeployedResource(
        logical_id, "AWS::SSM::Parameter", name, name, {"Type": p.get("Type", "String"), "Value": p["Value"]}
    )
