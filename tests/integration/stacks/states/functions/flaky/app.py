"""Fails the first `fail_times` attempts for a key (counted in DynamoDB), then succeeds."""

import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


class TransientError(Exception):
    """A failure that is worth retrying."""


def handler(event, context):
    updated = table.update_item(
        Key={"pk": f"attempts#{event['key']}"},
        UpdateExpression="ADD attempts :one",
        ExpressionAttributeValues={":one": 1},
        ReturnValues="UPDATED_NEW",
    )
    attempt = int(updated["Attributes"]["attempts"])
    if attempt <= event["fail_times"]:
        raise TransientError(f"attempt {attempt} of {event['key']} failed")
    return {"attempt": attempt, "key": event["key"]}
