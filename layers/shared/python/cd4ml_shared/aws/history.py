"""Reading an execution's history (Step Functions), newest first, only as far back as an explanation needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..outcome import TIMED_OUT_EVENTS

PAGE = 100
MAX_PAGES = 20  # an execution of the training pipeline has about a hundred events; 25,000 is Step Functions' limit


def timeout_events(sfn: Any, execution_arn: str) -> list[Mapping[str, Any]]:
    """The events from the newest back to the state that last timed out (enough for `outcome.timeout_cause`). An
    execution that cannot be read (gone, not ours, no permission, throttled) gives what was read so far: the run's
    record matters more than its explanation, and a bare cause is still recorded."""
    events: list[Mapping[str, Any]] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "reverseOrder": True, "maxResults": PAGE}
    for _ in range(MAX_PAGES):
        try:
            page = sfn.get_execution_history(**request)
        except ClientError:
            return events
        events.extend(page.get("events") or [])
        if _explained(events) or not page.get("nextToken"):
            return events
        request["nextToken"] = page["nextToken"]
    return events


def _explained(events: list[Mapping[str, Any]]) -> bool:
    """Whether the events hold a timed-out task and the state entry before it (whatever order they came in)."""
    timed_out = [e["id"] for e in events if e.get("type") in TIMED_OUT_EVENTS]
    return bool(timed_out) and any(
        str(e.get("type", "")).endswith("StateEntered") and e["id"] < max(timed_out) for e in events
    )
