"""SNS topics and subscriptions, SQS queues."""

from __future__ import annotations

import json
import logging
from typing import Any

from ..base import DeployContext, DeployedResource, handles, tags

log = logging.getLogger(__name__)


@handles("AWS::SNS::Topic")
def _topic(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    sns = d.clients("sns")
    name = p.get("TopicName") or d.name_for(logical_id, 256)
    attributes = {
        k: str(p[k]).lower() if isinstance(p[k], bool) else str(p[k])
        for k in ("KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "DisplayName")
        if k in p
    }
    topic_arn = sns.create_topic(Name=name, Attributes=attributes, Tags=tags(p))["TopicArn"]
    for subscription in p.get("Subscription", []):
        sns.subscribe(TopicArn=topic_arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return DeployedResource(
        logical_id, "AWS::SNS::Topic", topic_arn, topic_arn, {"TopicArn": topic_arn, "TopicName": name}
    )


@handles("AWS::SNS::Subscription")
def _subscription(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    attributes = {}
    if "FilterPolicy" in p:
        attributes["FilterPolicy"] = (
            json.dumps(p["FilterPolicy"]) if isinstance(p["FilterPolicy"], dict) else p["FilterPolicy"]
        )
    if "RawMessageDelivery" in p:
        attributes["RawMessageDelivery"] = str(p["RawMessageDelivery"]).lower()
    subscription_arn = d.clients("sns").subscribe(
        TopicArn=p["TopicArn"],
        Protocol=p["Protocol"],
        Endpoint=p["Endpoint"],
        Attributes=attributes,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return DeployedResource(logical_id, "AWS::SNS::Subscription", subscription_arn, subscription_arn)


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "FifoQueue",
    "ContentBasedDeduplication",
    "RedrivePolicy",
    "RedriveAllowPolicy",
)


@handles("AWS::SQS::Queue")
def _queue(d: DeployContext, logical_id: str, p: dict[str, Any]) -> DeployedResource:
    sqs = d.clients("sqs")
    fifo = str(p.get("FifoQueue", False)).lower() == "true"
    name = p.get("QueueName") or (d.name_for(logical_id, 75) + (".fifo" if fifo else ""))
    attributes = {}
    for key in _QUEUE_ATTRIBUTES:
        if key in p:
            value = p[key]
            attributes[key] = (
                json.dumps(value)
                if isinstance(value, dict)
                else (str(value).lower() if isinstance(value, bool) else str(value))
            )
    url = sqs.create_queue(QueueName=name, Attributes=attributes, tags={t["Key"]: t["Value"] for t in tags(p)})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return DeployedResource(
        logical_id, "AWS::SQS::Queue", url, url, {"Arn": queue_arn, "QueueUrl": url, "QueueName": name}
    )
