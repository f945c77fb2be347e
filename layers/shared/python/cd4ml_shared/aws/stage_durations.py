"""An execution's whole history, read page by page, and the stage spans `stage_durations.stage_spans` finds in it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..stage_durations import StageSpan, stage_spans

PAGE = 1000  # GetExecutionHistory's largest page: a training run's hundred-odd events in one call
MAX_PAGES = 25  # 25,000 events, Step Functions' limit for one execution


def execution_history(sfn: Any, execution_arn: str, *, with_data: bool = False) -> list[Mapping[str, Any]]:
    """Every event of the execution, oldest first, page by page. Without `with_data` the states' inputs and outputs
    are left out (durations need only the names and times, and a run's payloads make the pages heavy); `cd4ml runs
    show` asks for them (the failures' causes and the tasks' parameters explain a timeout). Errors are the
    caller's: a ClientError when the execution cannot be read."""
    events: list[Mapping[str, Any]] = []
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": PAGE, "includeExecutionData": with_data}
    for _ in range(MAX_PAGES):
        page = sfn.get_execution_history(**request)
        events.extend(page.get("events") or [])
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return events


def execution_stage_spans(sfn: Any, execution_arn: str) -> list[StageSpan]:
    """The finished entries of the execution's states, in the order they were entered."""
    return stage_spans(execution_history(sfn, execution_arn))
