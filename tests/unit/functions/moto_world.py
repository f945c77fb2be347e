"""The stack's resources as the template declares them, made in moto for a handler's test (inside the `aws`
fixture, before the function is loaded)."""

from __future__ import annotations

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
