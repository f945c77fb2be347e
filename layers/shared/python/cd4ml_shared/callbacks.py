"""The callback pattern between the training pipeline and SageMaker: a waiting task's token is stored under the job's
name before the job starts, and the job's terminal state-change event claims it (once) and resumes the execution.
The decisions and payloads, as plain values; the token table and Step Functions calls are in `aws.callbacks`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import InvalidPayload
from .payload import field

TERMINAL = {"Completed", "Failed", "Stopped"}
# A token outlives its task's timeout by this much, then DynamoDB's TTL removes it.
TOKEN_GRACE_SECONDS = 3600
# A waiting task gives up this long after its job would have been stopped by SageMaker itself.
TASK_TIMEOUT_MARGIN_SECONDS = 600
# The execution is gone or its task already timed out: the job's result has nobody to go to.
GONE_CODES = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def token_item(job_name: str, token: str, *, run_id: str, kind: str, timeout_s: int, now: float) -> dict[str, Any]:
    """The token table's item for a waiting task: keyed by the job's name, removed by TTL once no event can need it."""
    return {
        "job_name": job_name,
        "token": token,
        "run_id": run_id,
        "kind": kind,
        "expires_at": int(now) + timeout_s + TOKEN_GRACE_SECONDS,
    }


def execution_gone(code: str) -> bool:
    """Whether a SendTask* error code means the waiting task is gone (its execution ended or the task timed out):
    the job's result has nobody to go to and is dropped. Any other error is transient, and the claimed token must
    go back so that EventBridge's retry of the event can still resume the task."""
    return code in GONE_CODES


def task_timeouts(*, processing_max_runtime: int, training_max_runtime: int, use_spot: bool) -> dict[str, int]:
    """Seconds each waiting task waits for its job's event (the execution's `timeouts`): the job's own limit, twice
    that for training on spot (SageMaker's MaxWaitTimeInSeconds), plus a margin, so a task gives up only after
    SageMaker would have stopped its job itself."""
    return {
        "processing": processing_max_runtime + TASK_TIMEOUT_MARGIN_SECONDS,
        "training": training_max_runtime * (2 if use_spot else 1) + TASK_TIMEOUT_MARGIN_SECONDS,
    }


def job_of(detail_type: str, detail: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, name, status) of a SageMaker job state-change event; `InvalidPayload` naming the field when the event
    lacks one its result needs (checked before the token is claimed, so a malformed event cannot consume it)."""
    where = "job_completion"
    if detail_type == "SageMaker Training Job State Change":
        name = field(detail, "TrainingJobName", "string", where=where)
        status = field(detail, "TrainingJobStatus", "string", where=where)
        if status == "Completed":
            field(detail, "ModelArtifacts.S3ModelArtifacts", "string", where=where)
        return "training", name, status
    if detail_type == "SageMaker Processing Job State Change":
        name = field(detail, "ProcessingJobName", "string", where=where)
        status = field(detail, "ProcessingJobStatus", "string", where=where)
        return "processing", name, status
    if detail_type == "SageMaker Transform Job State Change":
        name = field(detail, "TransformJobName", "string", where=where)
        status = field(detail, "TransformJobStatus", "string", where=where)
        if status == "Completed":
            field(detail, "TransformOutput.S3OutputPath", "string", where=where)
        return "transform", name, status
    raise InvalidPayload(f"{where}: not a SageMaker job state change: detail-type {detail_type!r}")


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
    if kind == "transform":
        return {
            "job_name": detail["TransformJobName"],
            "job_arn": detail.get("TransformJobArn"),
            "output_uri": detail["TransformOutput"]["S3OutputPath"],
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
    name = detail.get("TrainingJobName") or detail.get("ProcessingJobName") or detail.get("TransformJobName")
    return error, json.dumps({"job_name": name, "status": status, "reason": reason})[:32000]


# An endpoint's wait ends when it leaves Creating/Updating (the event spells statuses in capitals, as AWS does);
# DELETING ends it too, as nobody will bring that endpoint to InService.
ENDPOINT_DETAIL_TYPE = "SageMaker Endpoint State Change"
ENDPOINT_SETTLED = frozenset({"IN_SERVICE", "FAILED", "DELETING"})


def endpoint_of(detail: Mapping[str, Any]) -> tuple[str, str]:
    """(name, status) of a `SageMaker Endpoint State Change`; `InvalidPayload` naming the missing field."""
    where = "job_completion"
    return field(detail, "EndpointName", "string", where=where), field(detail, "EndpointStatus", "string", where=where)


def endpoint_output(detail: Mapping[str, Any]) -> dict[str, Any]:
    """What a waiting rollout receives: where the endpoint settled. It is always a success of the wait: the next
    step (DescribeEndpoint against the requested config) judges, because a rolled-back update also settles
    IN_SERVICE."""
    return {
        "endpoint_name": detail["EndpointName"],
        "status": detail["EndpointStatus"],
        "config_name": detail.get("EndpointConfigName"),
        "failure_reason": detail.get("FailureReason") or "",
    }
