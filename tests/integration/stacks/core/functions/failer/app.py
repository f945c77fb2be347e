"""Always fails, to exercise retries and failure destinations."""

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    raise RuntimeError(f"failure for {event.get('n', '?')}")
