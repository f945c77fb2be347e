"""Consumes feedback records: stores good ones, reports bad ones as batch item failures, crashes on poison."""

import base64
import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(base64.b64decode(record["kinesis"]["data"]))
        if body.get("poison"):
            raise ValueError(f"poison record {body['id']}")
        if body.get("bad"):
            failures.append({"itemIdentifier": record["kinesis"]["sequenceNumber"]})
            continue
        table.put_item(Item={"pk": f"feedback#{body['id']}", "event": json.dumps(record)})
    return {"batchItemFailures": failures}
