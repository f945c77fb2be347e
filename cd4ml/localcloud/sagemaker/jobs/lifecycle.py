"""A job's statuses as moto serves them and AWS's state-change event for each: the thread that runs a job reports
through here, so a status never changes without its event."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ...context import ServiceContext
from .contract import (
    DESCRIBE_OPERATIONS,
    DETAIL_TYPES,
    END_ATTRIBUTES,
    FAILURE_REASON_LIMIT,
    START_ATTRIBUTES,
    STATUS_ATTRIBUTES,
    TERMINAL,
)
from .records import JobFailure, JobStopped, LocalJob, event_value, naive_utc_now

log = logging.getLogger(__name__)


class JobLifecycle:
    """Statuses, secondary statuses, events and the end of a job."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.closed = False  # the local cloud is stopping: no more uploads, statuses or events
        self._members: dict[str, frozenset[str]] = {}

    def set_status(self, job: LocalJob, status: str, secondary: str | None = None, message: str = "") -> None:
        with job.lock:
            now = naive_utc_now()
            fake = job.fake
            setattr(fake, STATUS_ATTRIBUTES[job.kind], status)
            fake.last_modified_time = now
            if job.kind == "training" and secondary is not None:
                transitions = [dict(t) for t in fake.secondary_status_transitions or []]
                if transitions and "EndTime" not in transitions[-1]:
                    transitions[-1]["EndTime"] = now
                entry = {"Status": secondary, "StartTime": now, "StatusMessage": message}
                if status in TERMINAL:
                    entry["EndTime"] = now
                fake.secondary_status_transitions = [*transitions, entry]
                fake.secondary_status = secondary
            self.emit(job)

    def emit(self, job: LocalJob) -> None:
        """The job's state change event, its detail shaped like the Describe* response (times in epoch millis)."""
        if self.closed:
            return
        try:
            detail = self.event_detail(job)
            self.ctx.emit("aws.sagemaker", DETAIL_TYPES[job.kind], detail, resources=[job.arn])
        except Exception:
            log.exception("state change event of %s could not be emitted", job.arn)

    def event_detail(self, job: LocalJob) -> dict[str, Any]:
        members = self._describe_members(job.kind)
        response = job.fake.response_object
        detail = {k: event_value(v) for k, v in response.items() if k in members and v is not None}
        detail["Tags"] = {tag["Key"]: tag["Value"] for tag in (getattr(job.fake, "tags", None) or []) if "Key" in tag}
        return detail

    def _describe_members(self, kind: str) -> frozenset[str]:
        if kind not in self._members:
            model = self.ctx.clients("sagemaker").meta.service_model
            self._members[kind] = frozenset(model.operation_model(DESCRIBE_OPERATIONS[kind]).output_shape.members)
        return self._members[kind]

    def run(self, job: LocalJob, runner: Callable[[LocalJob], None]) -> None:
        assert job.logbook is not None
        try:
            job.directory.mkdir(parents=True, exist_ok=True)
            runner(job)
        except JobStopped:
            self.finish(job, "Stopped", job.stop_cause or "Stopped")
        except JobFailure as failure:
            job.logbook.write(f"job failed: {failure}", system=True)
            self.finish(job, "Failed", "Failed", reason=str(failure))
        except Exception as exc:
            log.exception("%s job %s failed inside the local cloud", job.kind, job.name)
            self.finish(job, "Failed", "Failed", reason=f"InternalServerError: {type(exc).__name__}: {exc}")
        finally:
            if not self.closed:
                job.logbook.flush(self.ctx.clients("logs"))
            job.logbook.close()
            job.timings["finished"] = time.monotonic()
            job.done.set()

    def finish(self, job: LocalJob, status: str, secondary: str, reason: str | None = None) -> None:
        if self.closed:
            return
        assert job.logbook is not None
        fake = job.fake
        if status == "Completed" and job.stop_cause is not None:  # a stop that came while it was uploading
            status, secondary = "Stopped", job.stop_cause
        job.logbook.write(f"{job.kind} job {job.name} ended: {status} ({secondary})", system=True)
        job.logbook.flush(self.ctx.clients("logs"))  # the log is complete when the terminal event goes out
        messages = {
            "Completed": "Training job completed",
            "Failed": f"Training job failed. Reason: {reason}",
            "Stopped": "Training job stopped",
            "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
        }
        with job.lock:
            if status == "Completed" and job.stop_cause is not None:  # and one that came while the log was flushed
                status, secondary = "Stopped", job.stop_cause
            now = naive_utc_now()
            setattr(fake, END_ATTRIBUTES[job.kind], now)
            if getattr(fake, START_ATTRIBUTES[job.kind]) is None:
                setattr(fake, START_ATTRIBUTES[job.kind], now)
            if status == "Failed":
                fake.failure_reason = (reason or "AlgorithmError: see the job's log")[:FAILURE_REASON_LIMIT]
            if job.kind == "training":
                seconds = max(1, round((now - fake.training_start_time).total_seconds()))
                fake.training_time_in_seconds = fake.billable_time_in_seconds = seconds
                if job.logbook.metrics is not None:
                    fake.final_metric_data_list = job.logbook.metrics.final() or None
            self.set_status(job, status, secondary, messages.get(secondary, ""))

    def phase(self, job: LocalJob, secondary: str, message: str) -> None:
        """A training job's next secondary status (InProgress); other kinds only check for a stop."""
        with job.lock:
            if job.stop_requested.is_set():
                raise JobStopped
            if job.kind == "training":
                self.set_status(job, "InProgress", secondary, message)
