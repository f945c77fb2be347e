"""Stores the task token a `.waitForTaskToken` state hands it, for someone else to answer later."""

import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def handler(event, context):
    table.put_item(Item={"pk": f"token#{event['key']}", "token": event["token"], "job": event.get("job", "")})
    return {"stored": event["key"]}
