"""Sleeps past its timeout."""

import time


def handler(event, context):
    time.sleep(event.get("seconds", 5))
    return {"slept": True}
