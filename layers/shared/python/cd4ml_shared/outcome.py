"""The end of every run, whatever its path: one record of what happened and why (outcome.json), the run's HTML
report, and the notification. Built from the execution's state, so it needs no other source of truth. Plain values;
reading the report's inputs and stopping a failed run's jobs are in `aws.outcome`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from .layout import RunLayout

RunStatus = Literal["succeeded", "gated_out", "quarantined", "failed"]
STATUSES: tuple[RunStatus, ...] = ("succeeded", "gated_out", "quarantined", "failed")


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
    }[record["status"]]
    subject = f"cd4ml {headline}: {record['run_id']}"[:100]
    return subject, json.dumps(record, sort_keys=True, indent=2, default=str)
