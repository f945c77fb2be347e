"""S3 buckets (versioning, encryption, public access block, lifecycle, EventBridge notifications) and their policies."""

from __future__ import annotations

import json
import logging
from typing import Any

from ...aws import ACCOUNT_ID, PARTITION
from ...errors import UnsupportedResourceError
from ..base import DeployContext, DeployedResource, handles, tags

log = logging.getLogger(__name__)


@handles("AWS::S3::Bucket")
def _bucket(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    s3 = d.clients("s3")
    name = p.get("BucketName") or d.name_for(logical_id, 63, lower=True)
    if d.region == "us-east-1":
        s3.create_bucket(Bucket=name)
    else:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": d.region})
    if p.get("VersioningConfiguration"):
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]}
        )
    if p.get("BucketEncryption"):
        rules = [
            {
                "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
                **(
                    {"BucketKeyEnabled": str(rule["BucketKeyEnabled"]).lower() == "true"}
                    if "BucketKeyEnabled" in rule
                    else {}
                ),
            }
            for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if p.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    if p.get("OwnershipControls"):
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=p["OwnershipControls"])
    if p.get("LifecycleConfiguration"):
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration=_lifecycle(p["LifecycleConfiguration"])
        )
    notification = p.get("NotificationConfiguration") or {}
    unsupported = set(notification) - {"EventBridgeConfiguration"}
    if unsupported:
        raise UnsupportedResourceError(
            logical_id,
            "AWS::S3::Bucket",
            f"NotificationConfiguration {sorted(unsupported)} is not supported; route S3 events through EventBridge",
        )
    if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true", "True"):
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    if tags(p):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags(p)})
    if p.get("LoggingConfiguration"):
        _access_logging(logical_id, name, p["LoggingConfiguration"])
    return DeployedResource(
        logical_id,
        "AWS::S3::Bucket",
        name,
        name,
        {
            "Arn": f"arn:{PARTITION}:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{d.region}.amazonaws.com",
            "WebsiteURL": f"http://{name}.s3-website-{d.region}.amazonaws.com",
        },
    )


def _access_logging(logical_id: str, name: str, config: dict[str, Any]) -> None:
    """Server access logging, recorded on the bucket (`GetBucketLogging` answers it; no log is written locally).

    Set on moto's bucket directly: moto's PutBucketLogging insists that the target's policy already grants
    logging.s3.amazonaws.com, but the documented CloudFormation pattern creates that policy after the source
    bucket (it names the source's ARN in `aws:SourceArn`), and AWS accepts it. The target must exist, as on AWS."""
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT_ID][PARTITION]
    target = config.get("DestinationBucketName")
    if target and target not in backend.buckets:
        raise UnsupportedResourceError(
            logical_id, "AWS::S3::Bucket", f"LoggingConfiguration names bucket {target!r}, which does not exist"
        )
    backend.buckets[name].logging = {
        "TargetBucket": target or name,  # AWS: no destination means the bucket logs to itself
        "TargetPrefix": config.get("LogFilePrefix", ""),
    }


def _lifecycle(config: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle property names differ from the API's; translate the common ones."""
    rules = []
    for rule in config.get("Rules", []):
        api: dict[str, Any] = {
            "Status": rule.get("Status", "Enabled"),
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if rule.get("Id"):
            api["ID"] = rule["Id"]
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpirationInDays" in rule:
            api["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            }
        if "AbortIncompleteMultipartUpload" in rule:
            api["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            }
        if "Transitions" in rule:
            api["Transitions"] = [
                {"Days": int(t["TransitionInDays"]), "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
            ]
        rules.append(api)
    return {"Rules": rules}


@handles("AWS::S3::BucketPolicy")
def _bucket_policy(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    d.clients("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
    return DeployedResource(logical_id, "AWS::S3::BucketPolicy", p["Bucket"], p["Bucket"])
