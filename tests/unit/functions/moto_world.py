"""The stack's resources as the template declares them, made in moto for a handler's test (inside the `aws`
fixture, before the function is loaded)."""

from __future__ import annotations

import json
from typing import Any

import boto3


def create_token_table(name: str) -> Any:
    """The task-token table as the template declares it (TaskTokenTable: job_name hash key, on demand)."""
    boto3.client("dynamodb").create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "job_name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return boto3.resource("dynamodb").Table(name)


def create_stack_buckets(raw: str, artifacts: str) -> Any:
    """The raw-data bucket (versioned, as the template makes it) and the artifacts bucket; an S3 client."""
    client = boto3.client("s3")
    for bucket in (raw, artifacts):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})
    return client


def create_notification_topic(name: str = "cd4ml-dev-NotificationTopic") -> dict[str, str]:
    """The stack's notification topic with an SQS queue subscribed, to read what it sends: {"topic", "queue"}."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName="notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return {"topic": topic, "queue": queue}


def create_waiting_state_machine(name: str, role: str) -> Any:
    """A state machine of the stack's name whose executions do nothing: a starter's test checks what it starts."""
    client = boto3.client("stepfunctions")
    client.create_state_machine(
        name=name,
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}}),
        roleArn=f"arn:aws:iam::123456789012:role/{role}",
    )
    return client


def deployment_step(
    step: str, version: int, endpoint: str, *, token: str | None = None, before: dict | None = None
) -> dict:
    """A deploy_model task's payload (statemachines/deployment.asl.json) for a version of `endpoint`'s group."""
    return {
        "step": step,
        "token": f"token-{version}" if token is None else token,
        "execution": f"deploy-v{version}",
        "deployment": {
            "model_package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{endpoint}/{version}",
            "version": version,
            "endpoint_name": endpoint,
            "model_name": f"{endpoint}-v{version}",
            "config_name": f"{endpoint}-v{version}",
            "started_at": 1795610000.0,
            "before": before or {"exists": False, "config_name": None, "wait_timeout": 1200},
        },
    }
