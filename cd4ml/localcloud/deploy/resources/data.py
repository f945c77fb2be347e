"""Kinesis streams and DynamoDB tables."""

from __future__ import annotations

import logging
from typing import Any

from ...errors import TemplateError
from ..base import DeployContext, DeployedResource, handles

log = logging.getLogger(__name__)


@handles("AWS::Kinesis::Stream")
def _stream(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    kinesis = d.clients("kinesis")
    name = p.get("Name") or d.name_for(logical_id, 128)
    mode = (p.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
    args: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        args["ShardCount"] = int(p.get("ShardCount", 1))
    kinesis.create_stream(**args)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    encryption = p.get("StreamEncryption")
    if encryption:
        kinesis.start_stream_encryption(
            StreamName=name, EncryptionType=encryption["EncryptionType"], KeyId=encryption["KeyId"]
        )
    if p.get("RetentionPeriodHours") and int(p["RetentionPeriodHours"]) > 24:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=int(p["RetentionPeriodHours"]))
    stream_arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return DeployedResource(logical_id, "AWS::Kinesis::Stream", name, name, {"Arn": stream_arn})


@handles("AWS::DynamoDB::Table")
def _table(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    ddb = d.clients("dynamodb")
    name = p.get("TableName") or d.name_for(logical_id, 255)
    args: dict[str, Any] = {
        "TableName": name,
        "KeySchema": p["KeySchema"],
        "AttributeDefinitions": p["AttributeDefinitions"],
        "BillingMode": p.get("BillingMode", "PROVISIONED"),
    }
    for key in (
        "ProvisionedThroughput",
        "GlobalSecondaryIndexes",
        "LocalSecondaryIndexes",
        "StreamSpecification",
    ):
        if p.get(key):
            args[key] = p[key]
    if args["BillingMode"] == "PROVISIONED" and "ProvisionedThroughput" not in args:
        raise TemplateError(f"{logical_id}: a PROVISIONED table needs ProvisionedThroughput")
    if p.get("StreamSpecification"):
        args["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    if p.get("SSESpecification"):
        sse = p["SSESpecification"]
        args["SSESpecification"] = {
            "Enabled": str(sse.get("SSEEnabled", False)).lower() == "true",
            **({"SSEType": sse["SSEType"]} if "SSEType" in sse else {}),
            **({"KMSMasterKeyId": sse["KMSMasterKeyId"]} if "KMSMasterKeyId" in sse else {}),
        }
    table = ddb.create_table(**args)["TableDescription"]
    recovery = p.get("PointInTimeRecoverySpecification") or {}
    if str(recovery.get("PointInTimeRecoveryEnabled", False)).lower() == "true":
        ddb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    ttl = p.get("TimeToLiveSpecification")
    if ttl and str(ttl.get("Enabled", False)).lower() == "true":
        ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
        )
    return DeployedResource(
        logical_id,
        "AWS::DynamoDB::Table",
        name,
        name,
        {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")},
    )
