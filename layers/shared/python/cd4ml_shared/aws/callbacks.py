"""The callback pattern's I/O: the task-token table (DynamoDB) and resuming a waiting task (Step Functions)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from ..callbacks import endpoint_output, execution_gone, failure_of, success_output, token_item
from .client_errors import error_code


def store_token(table: Any, job_name: str, token: str, *, run_id: str, kind: str, timeout_s: int) -> None:
    table.put_item(Item=token_item(job_name, token, run_id=run_id, kind=kind, timeout_s=timeout_s, now=time.time()))


def claim_token(table: Any, job_name: str) -> dict[str, Any] | None:
    """Remove and return the job's token item; None when there is none (not our job, or already resumed: events are
    at least once, and only the first delivery may resume the execution)."""
    old = table.delete_item(Key={"job_name": job_name}, ReturnValues="ALL_OLD").get("Attributes")
    return dict(old) if old else None


def put_back_token(table: Any, item: Mapping[str, Any]) -> None:
    """Return a claimed token, so that EventBridge's retry of the event can resume the task."""
    table.put_item(Item=dict(item))


def discard_token(table: Any, job_name: str) -> None:
    """Remove the token of a job that was never created: no event will come for it."""
    table.delete_item(Key={"job_name": job_name})


def resume_task(
    sfn: Any, table: Any, item: Mapping[str, Any], kind: str, status: str, detail: Mapping[str, Any]
) -> str | None:
    """Send a terminal job's result to its waiting task (success with the job's outputs, or failure with its reason).
    Returns None when sent, or the error code when the task is gone (the result is dropped). Any other error puts
    the claimed token back and propagates, so the event's retry can resume the task."""
    if status == "Completed":
        return _send(sfn, table, item, output=success_output(kind, detail))
    error, cause = failure_of(kind, status, detail)
    return _send(sfn, table, item, error=error, cause=cause)


def resume_endpoint_wait(sfn: Any, table: Any, item: Mapping[str, Any], detail: Mapping[str, Any]) -> str | None:
    """Send where an endpoint settled to the rollout task waiting on it (see `resume_task` for what is returned)."""
    return _send(sfn, table, item, output=endpoint_output(detail))


def _send(
    sfn: Any,
    table: Any,
    item: Mapping[str, Any],
    *,
    output: Mapping[str, Any] | None = None,
    error: str = "",
    cause: str = "",
) -> str | None:
    try:
        if output is not None:
            sfn.send_task_success(taskToken=item["token"], output=json.dumps(output))
        else:
            sfn.send_task_failure(taskToken=item["token"], error=error, cause=cause)
    except ClientError as failed:
        code = error_code(failed)
        if not execution_gone(code):
            put_back_token(table, item)
            raise
        return code
    return None
