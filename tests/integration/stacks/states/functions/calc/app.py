"""Arithmetic on its event, so that a state's output shows what the real handler computed."""

import math
import time


class BadInputError(Exception):
    """Raised when asked to (`explode`), to check how a failing task surfaces in an execution."""


def handler(event, context):
    if event.get("explode"):
        raise BadInputError(f"cannot compute {event['explode']}")
    if "value" in event:  # one Map item: scale it, slowly, recording when it ran
        started = time.time()
        time.sleep(event.get("sleep", 0))
        return {"index": event["index"], "scaled": event["value"] * event["factor"], "ran": [started, time.time()]}
    numbers = event.get("numbers", [])
    return {
        "sum": sum(numbers),
        "product": math.prod(numbers),
        "count": len(numbers),
        "function": context.function_name,
    }
