"""The callback pattern between the training pipeline and SageMaker: a waiting task's token is stored under the job's
name before the job starts, and the job's terminal state-change event claims it (once) and resumes the execution."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

TERMINAL = {"Completed", "Failed", "Stopped"}
# A token outlives its task's timeout by this much, then DynamoDB's TTL removes it.
TOKEN_GRACE_SECONDS = 3600


def store_token(table: Any, job_name: str, token: str, *, run_id: str, kind: str, timeout_s: int) -> None:
    table.put_item(
        Item={
            "job_name": job_name,
            "token": token,
            "run_id": run_id,
            "kind": kind,
            "expires_at": int(time.time()) + timeout_s + TOKEN_GRACE_SECONDS,
        }
    )


def claim_token(table: Any, job_name: str) -> dict[str, Any] | None:
    """Remove and return the job's token item; None when there is none (not our job, or already resumed: events are
    at least once, and only the first delivery may resume the execution)."""
    old = table.delete_item(Key={"job_name": job_name}, ReturnValues="ALL_OLD").get("Attributes")
    return dict(old) if old else None


def job_of(detail_type: str, detail: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, name, status) of a SageMaker job state-change event."""
    if detail_type == "SageMaker Training Job State Change":
        return "training", detail["TrainingJobName"], detail["TrainingJobStatus"]
    if detail_type == "SageMaker Processing Job State Change":
        return "processing", detail["ProcessingJobName"], detail["ProcessingJobStatus"]
    raise ValueError(f"not a SageMaker job state change: {detail_type!r}")


def success_output(kind: str, detail: Mapping[str, Any]) -> dict[str, Any]:
    """What the waiting task receives when its job completed: URIs and numbers, never data."""
    if kind == "training":
        return {
            "job_name": detail["TrainingJobName"],
            "job_arn": detail.get("TrainingJobArn"),
            "model_uri": detail["ModelArtifacts"]["S3ModelArtifacts"],
            "metrics": {m["MetricName"]: m["Value"] for m in detail.get("FinalMetricDataList") or []},
            "hyperparameters": detail.get("HyperParameters") or {},
            "billable_seconds": detail.get("BillableTimeInSeconds"),
        }
    outputs = (detail.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    return {
        "job_name": detail["ProcessingJobName"],
        "job_arn": detail.get("ProcessingJobArn"),
        "outputs": {o["OutputName"]: o["S3Output"]["S3Uri"] for o in outputs},
    }


def failure_of(kind: str, status: str, detail: Mapping[str, Any]) -> tuple[str, str]:
    """(error, cause) for a job that failed or was stopped; the error is what the state machine's Catch sees."""
    error = f"SageMaker.{kind.capitalize()}Job{status}"
    reason = detail.get("FailureReason") or detail.get("ExitMessage") or f"the {kind} job ended {status}"
    name = detail.get("TrainingJobName") or detail.get("ProcessingJobName")
    return error, json.dumps({"job_name": name, "status": status, "reason": reason})[:32000]
