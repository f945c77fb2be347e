"""Echoes the API Gateway event it was given, or answers as the query's `action` asks, to test the HTTP API."""

import base64
import json
import time


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    action = query.get("action")
    if action == "raise":
        raise RuntimeError("asked to fail")
    if action == "sleep":
        time.sleep(float(query.get("seconds", "1")))
    if action == "plain":  # no statusCode: API Gateway answers 200 with this JSON
        return {"plain": True, "path": event["rawPath"]}
    if action == "respond":
        return {
            "statusCode": 201,
            "headers": {"x-answer": "yes", "content-type": "text/plain"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "created",
        }
    if action == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode("ascii"),
            "isBase64Encoded": True,
        }
    if action == "malformed":
        return {"statusCode": "teapot"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
