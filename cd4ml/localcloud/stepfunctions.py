"""Step Functions on moto's Amazon States Language interpreter, with execution status events on EventBridge."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from .aws import epoch_millis
from .events.hooks import ACTIVE_ROUTER

log = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def status_event_detail(execution: Any, status: str | None = None) -> dict[str, Any]:
    """`Step Functions Execution Status Change` detail, in the shape AWS documents."""
    status = status or (execution.exec_status.value if execution.exec_status else "RUNNING")
    terminal = status in TERMINAL
    output = _text(execution.output) if status == "SUCCEEDED" else None
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine.arn,
        "name": execution.name,
        "status": status,
        "startDate": epoch_millis(execution.start_date),
        "stopDate": epoch_millis(execution.stop_date) if terminal else None,
        "input": _text(execution.input_data),
        "output": output,
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if output is not None else None,
        "error": execution.error if terminal else None,
        "cause": execution.cause if terminal else None,
    }


def install() -> None:
    """Emit a status-change event when an execution starts and when it ends (any terminal status)."""
    from moto.stepfunctions.parser.backend import execution as execution_module

    if getattr(execution_module.Execution.start, "_cd4ml_hook", False):
        return
    original_start = execution_module.Execution.start
    original_terminated = execution_module.BaseExecutionWorkerCommunication.terminated

    def emit(execution: Any, status: str | None = None) -> None:
        router = ACTIVE_ROUTER()
        if router is None:
            return
        try:
            detail = status_event_detail(execution, status)
            router.put_event(
                "aws.states", "Step Functions Execution Status Change", detail, resources=[execution.exec_arn]
            )
        except Exception:
            log.exception("status event for %s could not be emitted", getattr(execution, "exec_arn", "?"))

    @functools.wraps(original_start)
    def start(self: Any) -> None:
        # RUNNING goes out before the worker thread exists, so it always precedes the terminal event
        emit(self, "RUNNING")
        original_start(self)

    @functools.wraps(original_terminated)
    def terminated(self: Any) -> None:
        original_terminated(self)
        emit(self.execution)

    start._cd4ml_hook = True  # type: ignore[attr-defined]
    execution_module.Execution.start = start  # type: ignore[method-assign]
    execution_module.BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _fix_callback_errors()
    _speed_up_lambda_tasks()
    _name_unnamed_executions()


def _speed_up_lambda_tasks() -> None:
    """moto builds a new boto3 client for every Lambda task (about 9 ms); one client per region serves them all."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for
    clients: dict[tuple[str, str, str], Any] = {}
    lock = threading.Lock()

    @functools.wraps(original)
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, os.environ.get("MOTO_PORT", ""))
        with lock:
            if key not in clients:
                clients[key] = original(region=region, service=service, state_credentials=state_credentials)
            return clients[key]

    lambda_eval_utils.boto_client_for = boto_client_for


def _name_unnamed_executions() -> None:
    """AWS names an execution started without a name with a UUID; moto names it None, and the second one clashes."""
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original = StepFunctionsParserBackend.start_execution

    @functools.wraps(original)
    def start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]


def _fix_callback_errors() -> None:
    """moto 5.2.5 drops `cause` in SendTaskFailure and `error`/`cause` in StopExecution, and reports a missed
    heartbeat as States.Timeout; the pipelines' Catch clauses depend on all three, so they are mended here."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.responses import ActionResult, EmptyResult, StepFunctionResponse

    original_from_error = StateTask._from_error

    @functools.wraps(original_from_error)
    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if isinstance(ex, HeartbeatTimeoutError):
            name = StatesErrorNameType.StatesHeartbeatTimeout
            return FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=name),
                event_type=HistoryEventType.TaskTimedOut,
                event_details=EventDetails(  # type: ignore[typeddict-item]
                    taskTimedOutEventDetails=TaskTimedOutEventDetails(error=name.to_name())
                ),
            )
        return original_from_error(self, env, ex)

    StateTask._from_error = from_error  # type: ignore[method-assign]

    original_send_task_failure = StepFunctionResponse.send_task_failure

    @functools.wraps(original_send_task_failure)
    def send_task_failure(self: Any) -> Any:
        if ACTIVE_ROUTER() is None:  # no local cloud: moto's own answer (its plain backend takes no cause)
            return original_send_task_failure(self)
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    original_stop = StepFunctionResponse.stop_execution

    @functools.wraps(original_stop)
    def stop_execution(self: Any) -> Any:
        arn = self._get_param("executionArn")
        backend = self.stepfunction_backend
        try:
            machine = backend._get_state_machine_for_execution(arn)
        except Exception:
            return original_stop(self)  # answers with the error AWS gives
        execution = next((e for e in machine.executions if getattr(e, "exec_arn", None) == arn), None)
        if execution is None or not hasattr(execution, "exec_worker"):
            return original_stop(self)
        execution.stop(
            stop_date=datetime.now(UTC), error=self._get_param("error") or "", cause=self._get_param("cause") or ""
        )
        return ActionResult({"stopDate": execution.stop_date or datetime.now(UTC)})

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]
