"""The end of every run, whatever its path: one record of what happened and why (outcome.json), the run's HTML
report, and the notification. Built from the execution's state, so it needs no other source of truth. Plain values;
reading the report's inputs and stopping a failed run's jobs are in `aws.outcome`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from .content_index import RERUN_METADATA
from .jobs import job_name
from .layout import RunLayout

RunStatus = Literal["succeeded", "gated_out", "quarantined", "failed", "duplicate"]
STATUSES: tuple[RunStatus, ...] = ("succeeded", "gated_out", "quarantined", "failed", "duplicate")


def error_reason(error: Mapping[str, Any]) -> str:
    """One line from a Catch's {"Error", "Cause"}: Lambda errors carry a JSON cause with errorMessage, SageMaker job
    failures (job_completion) a JSON cause with reason."""
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause) if isinstance(cause, str) and cause.startswith("{") else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = parsed.get("errorMessage") or parsed.get("reason") or cause
        if parsed.get("job_name"):
            message = f"{parsed['job_name']}: {message}"
    else:
        message = cause
    return f"{name}: {message}" if message else name


# History events that end a task by its timeout: a `.waitForTaskToken` or service task, or a plain Lambda ARN task.
TIMED_OUT_EVENTS = frozenset({"TaskTimedOut", "LambdaFunctionTimedOut", "ActivityTimedOut"})
SCHEDULED_EVENTS = {
    "TaskScheduled": "taskScheduledEventDetails",
    "LambdaFunctionScheduled": "lambdaFunctionScheduledEventDetails",
}
# A step's SageMaker job type, which is also the execution input's `timeouts` entry its TimeoutSecondsPath reads.
JOB_TYPE_OF_KIND = {"features": "processing", "train": "training", "evaluate": "processing"}


def needs_timeout_cause(error: Mapping[str, Any] | None) -> bool:
    """Step Functions ends a timed-out task with a bare `States.Timeout` and no cause: it says neither which state,
    nor which job, nor which limit. Such an error is explained from the execution history."""
    if not error:
        return False
    return error.get("Error") == "States.Timeout" and not error.get("Cause")


def timeout_cause(events: Iterable[Mapping[str, Any]], execution_arn: str) -> str:
    """The cause of a `States.Timeout` a person can act on, from the execution's history events (in any order):
    the state that timed out, its limit in seconds and, for a job's waiting task, the SageMaker job it waited for."""
    by_id = sorted((e for e in events if isinstance(e.get("id"), int)), key=lambda e: e["id"])
    timed_out = [e for e in by_id if e.get("type") in TIMED_OUT_EVENTS]
    if not timed_out:
        return f"a task timed out; the execution history does not say which (see {execution_arn})"
    last = timed_out[-1]["id"]
    before = [e for e in by_id if e["id"] < last]
    entered = next((e for e in reversed(before) if str(e.get("type", "")).endswith("StateEntered")), None)
    state = ((entered or {}).get("stateEnteredEventDetails") or {}).get("name") or "a task"
    scheduled = next((e for e in reversed(before) if e.get("type") in SCHEDULED_EVENTS), None)
    details = (scheduled.get(SCHEDULED_EVENTS[scheduled["type"]]) or {}) if scheduled else {}
    limit = details.get("timeoutInSeconds")
    after = f" after {limit} s" if limit else ""
    try:
        parameters = json.loads(details.get("parameters") or "{}")
    except ValueError:
        parameters = {}
    payload = parameters.get("Payload") if isinstance(parameters, dict) else None
    if isinstance(payload, dict) and payload.get("kind") in JOB_TYPE_OF_KIND and payload.get("job_prefix"):
        kind, attempt = payload["kind"], payload.get("attempt")
        job = job_name(payload["job_prefix"], kind, attempt if isinstance(attempt, int) else 0)
        job_type = JOB_TYPE_OF_KIND[kind]
        return (
            f"{state} timed out{after} (timeouts.{job_type}: the job's own limit plus a margin) waiting "
            f"for SageMaker {job_type} job {job} to end: the job outlived its limit or its "
            "state-change event was lost; see the job's status and its CloudWatch logs"
        )
    return f"{state} timed out{after}: the function ran past the task's TimeoutSeconds; see its CloudWatch logs"


def run_record(
    status: RunStatus, state: Mapping[str, Any], *, execution_arn: str, started_at: str, now: datetime
) -> dict[str, Any]:
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r} ({', '.join(STATUSES)})")
    layout = RunLayout(state["artifacts_bucket"], state["run_id"])
    dataset = state.get("dataset") or {}
    validation = state.get("validation") or {}
    training = state.get("training") or {}
    gate = state.get("gate") or {}
    registration = state.get("registration") or {}
    reasons: list[str] = []
    if status == "quarantined":
        reasons = [f"{validation.get('reason')}: {validation.get('summary')}"]
    elif status == "gated_out":
        reasons = list(gate.get("reasons") or [])
    elif status == "failed":
        reasons = [error_reason(state.get("error") or {})]
    elif status == "duplicate":  # SameAsEarlierRun: nothing trained, the record points at the earlier run
        earlier = dict((state.get("content") or {}).get("earlier") or {})
        reasons = [
            f"same dataset bytes, model code and hyperparameters as run {earlier.get('run_id')} "
            f"(model package {earlier.get('model_package_arn')}): nothing trained; upload with metadata "
            f"{RERUN_METADATA}=true to train again"
        ]
        registration = {"model_package_arn": earlier.get("model_package_arn")}
    record: dict[str, Any] = {
        "run_id": state["run_id"],
        "status": status,
        "execution_arn": execution_arn,
        "started_at": started_at,
        "finished_at": now.isoformat(),
        "dataset": {
            "uri": f"s3://{dataset.get('bucket')}/{dataset.get('key')}",
            "version_id": dataset.get("version_id"),
            "sha256": validation.get("sha256"),
            "rows": validation.get("rows"),
        },
        "reasons": reasons,
        "report_uri": layout.uri("report.html"),
        "outcome_uri": layout.uri("outcome.json"),
    }
    optional = {
        "quality_report_uri": validation.get("report_uri"),
        "quarantine_uri": validation.get("quarantine_uri"),
        "training_job_arn": training.get("job_arn"),
        "hyperparameters": training.get("hyperparameters"),
        "training_metrics": training.get("metrics"),
        "evaluation_uri": gate.get("evaluation_uri"),
        "gate": gate or None,
        "model_package_arn": registration.get("model_package_arn"),
        "model_package_version": registration.get("version"),
        "approval_status": registration.get("approval_status"),
        "error": state.get("error"),
        "earlier_run": dict((state.get("content") or {}).get("earlier") or {}) if status == "duplicate" else None,
    }
    record.update({k: v for k, v in optional.items() if v is not None})
    return record


def notification(record: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, message) for the SNS topic: subject under SNS's 100 characters, message the record as JSON."""
    headline = {
        "succeeded": "model registered",
        "gated_out": "challenger gated out",
        "quarantined": "dataset quarantined",
        "failed": "run failed",
        "duplicate": "same as an earlier run",
    }[record["status"]]
    subject = f"cd4ml {headline}: {record['run_id']}"[:100]
    return subject, json.dumps(record, sort_keys=True, indent=2, default=str)
