"""A job as the local cloud runs it (its folder, process, log and timings) and what its log lines become."""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...aws import epoch_millis
from ..images import LocalImage
from .contract import STATUS_ATTRIBUTES, STDERR_TAIL_LINES

log = logging.getLogger(__name__)


class JobFailure(Exception):
    """The job ends Failed with this FailureReason."""


class JobStopped(Exception):
    """A stop arrived before the job's process started."""


class MetricTracker:
    """AlgorithmSpecification.MetricDefinitions applied to each log line; the last value of each metric wins."""

    def __init__(self, definitions: Iterable[Mapping[str, str]]) -> None:
        self.patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
        self.last: dict[str, tuple[float, datetime]] = {}

    def feed(self, line: str, when: datetime) -> None:
        for name, pattern in self.patterns:
            match = pattern.search(line)
            if match is None:
                continue
            try:
                self.last[name] = (float(match.group(1) if pattern.groups else match.group(0)), when)
            except (ValueError, IndexError):
                continue

    def final(self) -> list[dict[str, Any]]:
        return [
            {"MetricName": name, "Value": value, "Timestamp": when} for name, (value, when) in sorted(self.last.items())
        ]


def naive_utc_now() -> datetime:
    """Naive UTC, as moto keeps its times (its List* filters compare them)."""
    return datetime.now(UTC).replace(tzinfo=None)


def event_value(value: Any) -> Any:
    """Describe* values as AWS's events carry them: times as epoch milliseconds."""
    if isinstance(value, datetime):
        return epoch_millis(value)
    if isinstance(value, Mapping):
        return {k: event_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [event_value(v) for v in value]
    return value


# ---- one job -------------------------------------------------------------------------------------------


@dataclass
class LocalJob:
    """A job as the local cloud runs it: where its files are, what it printed, how long each step took."""

    kind: str
    name: str
    arn: str
    fake: Any  # moto's Fake*Job: what Describe* and List* serve
    request: dict[str, Any]
    image: LocalImage
    directory: Path  # stands in for /opt/ml
    log_path: Path
    instance_type: str = ""
    num_gpus: int = 0
    exit_code: int | None = None
    stop_cause: str | None = None  # "Stopped" (StopXxxJob, close) or "MaxRuntimeExceeded"
    timings: dict[str, float] = field(default_factory=dict)  # monotonic seconds: created, process_started...
    model_container: dict[str, Any] | None = None  # transform: the model's container, as resolved at CreateTransformJob
    lock: threading.RLock = field(default_factory=threading.RLock)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    logbook: JobLog | None = None

    @property
    def status(self) -> str:
        return str(getattr(self.fake, STATUS_ATTRIBUTES[self.kind]))


class JobLog:
    """What a job prints: appended to its log file, forwarded to CloudWatch Logs, scanned for metrics."""

    def __init__(self, path: Path, group: str, stream: str, metrics: MetricTracker | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.group = group
        self.stream = stream
        self.metrics = metrics
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.first_output: float | None = None
        self._file = path.open("a", encoding="utf-8")
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stream_created = False

    def write(self, line: str, *, stderr: bool = False, system: bool = False) -> None:
        line = line.rstrip("\r\n")
        now = naive_utc_now()
        if system:
            line = f"[localcloud] {line}"
        with self._lock:
            if not system and self.first_output is None:
                self.first_output = time.monotonic()
            if not self._file.closed:  # a child left behind by a killed job may still print
                self._file.write(line + "\n")
                self._file.flush()
            self._pending.append({"timestamp": epoch_millis(now), "message": line or " "})
            if stderr:
                self.stderr_tail.append(line)
        if self.metrics is not None and not system:
            self.metrics.feed(line, now)

    def flush(self, logs: Any) -> None:
        """Send what is pending to CloudWatch Logs (the group and stream are created on first use)."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            if not self._stream_created:
                try:
                    logs.create_log_group(logGroupName=self.group)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
                logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                self._stream_created = True
            for start in range(0, len(pending), 5000):
                logs.put_log_events(
                    logGroupName=self.group, logStreamName=self.stream, logEvents=pending[start : start + 5000]
                )
        except Exception:
            log.warning("log lines of %s could not reach CloudWatch Logs", self.stream, exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._file.close()


def client_error(exc: BaseException) -> str:
    """An S3 or SageMaker error as `Code: Message`, as AWS's FailureReason quotes it."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code')}: {error.get('Message') or ''}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
