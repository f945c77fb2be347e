"""Step Functions on moto's Amazon States Language interpreter, with execution status events on EventBridge."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .eventbridge import EventRouter

log = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _millis(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def status_event_detail(execution: Any) -> dict[str, Any]:
    """`Step Functions Execution Status Change` detail, in the shape AWS documents."""
    status = execution.exec_status.value if execution.exec_status else "RUNNING"
    terminal = status in TERMINAL
    output = _text(execution.output) if status == "SUCCEEDED" else None
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": _millis(execution.start_date),
        "stopDate": _millis(execution.stop_date) if terminal else None,
        "input": _text(execution.input_data),
        "output": output,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error if terminal else None,
        "cause": execution.cause if terminal else None,
    }


def install(router_for: Callable[[], EventRouter | None]) -> None:
    """Emit a status-change event when an execution starts and when it ends (any terminal status)."""
    from moto.stepfunctions.parser.backend import execution as execution_module

    if getattr(execution_module.Execution.start, "_cd4ml_hook", False):
        return
    original_start = execution_module.Execution.start
    original_terminated = execution_module.BaseExecutionWorkerCommunication.terminated

    def emit(execution: Any) -> None:
        router = router_for()
        if router is None:
            return
        try:
            detail = status_event_detail(execution)
            router.put_event(
                "aws.states", "Step Functions Execution Status Change", detail, resources=[execution.exec_arn]
            )
        except Exception:
            log.exception("status event for %s could not be emitted", getattr(execution, "exec_arn", "?"))

    def start(self: Any) -> None:
        original_start(self)
        emit(self)

    def terminated(self: Any) -> None:
        original_terminated(self)
        emit(self.execution)

    start._cd4ml_hook = True  # type: ignore[attr-defined]
    execution_module.Execution.start = start  # type: ignore[method-assign]
    execution_module.BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
