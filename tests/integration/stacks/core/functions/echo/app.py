"""Echoes its event with what it sees of its environment: context, layer, variables."""

import os

import shared_lib

CALLS = {"count": 0}  # module state survives between warm invocations, as on AWS


def handler(event, context):
    CALLS["count"] += 1
    if event.get("fail"):
        raise ValueError(f"asked to fail: {event['fail']}")
    return {
        "event": event,
        "shout": shared_lib.shout(os.environ["GREETING"]),
        "bucket": os.environ["BUCKET"],
        "table": os.environ["TABLE"],
        "stage": os.environ["STAGE"],
        "prod": os.environ["PROD"],
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "warm_calls": CALLS["count"],
        "sees_other_function": _can_import("recorder_marker"),
    }


def _can_import(name):
    try:
        __import__(name)
        return True
    except ImportError:
        return False
