"""Function logs in CloudWatch Logs, where `aws logs tail /aws/lambda/<fn>` and FilterLogEvents look for them: each
execution environment (worker) writes to its own stream of the function's group, named as AWS names it, and a
background thread ships what the workers printed in batches that keep PutLogEvents' rules.

The calls go through boto3 against the local endpoint (like a SageMaker job's log), not into moto's logs backend:
the public API validates batches as AWS would and does not move with moto's private classes; it runs off the
invoke's path, on the shipper's thread, so its few milliseconds per batch cost an invocation nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

# PutLogEvents quotas: https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html
MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26  # counted per event on top of its UTF-8 message
MAX_EVENT_BYTES = 262_144 - EVENT_OVERHEAD_BYTES
SHIP_INTERVAL_S = 0.2


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


def log_stream_name(now: datetime, instance: str | None = None) -> str:
    """`YYYY/MM/DD/[$LATEST]<32 hex>`: the day the environment started, its version, and an id of its own."""
    return f"{now:%Y/%m/%d}/[$LATEST]{instance or uuid.uuid4().hex}"


def log_event(timestamp_ms: int, message: str) -> dict[str, Any]:
    """One PutLogEvents event; an empty line becomes a space (the API refuses empty messages), an over-long one is
    cut to the size the API accepts, as Lambda cuts it."""
    data = message.encode("utf-8")
    if len(data) > MAX_EVENT_BYTES:
        message = data[:MAX_EVENT_BYTES].decode("utf-8", "ignore")
    return {"timestamp": timestamp_ms, "message": message or " "}


def batches(events: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """`events` in chronological order, cut into batches of at most 10,000 events and 1 MiB (26 bytes per event
    counted on top of its message), as PutLogEvents requires."""
    batch: list[dict[str, Any]] = []
    size = 0
    for event in sorted(events, key=lambda e: e["timestamp"]):  # stable: lines of one millisecond keep their order
        event_size = len(event["message"].encode("utf-8")) + EVENT_OVERHEAD_BYTES
        if batch and (len(batch) >= MAX_BATCH_EVENTS or size + event_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch


class LogStream:
    """One stream: lines are queued here (by a worker's reader, by the HTTP API gateway) and shipped by the
    LogShipper. `create_group` says whether shipping makes the group when it is missing (Lambda does; API Gateway
    writes access logs only into a group that exists)."""

    def __init__(self, group: str, name: str, *, create_group: bool = True) -> None:
        self.group = group
        self.name = name
        self.create_group = create_group
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.created = False
        self.closed = False

    def add(self, timestamp_ms: int, message: str) -> None:
        event = log_event(timestamp_ms, message)
        with self._lock:
            self._pending.append(event)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            pending, self._pending = self._pending, []
        return pending


class LogShipper:
    """Ships every open stream's pending lines every SHIP_INTERVAL_S; `flush()` ships now, `close()` ships the rest.

    The group is created on first use, as Lambda creates it on a function's first invoke; a group the template
    declared (AWS::Logs::LogGroup, for its retention) is used as it is. A stream opened with `create_group=False`
    never makes its group: its lines are dropped, with a warning, while the group does not exist."""

    def __init__(
        self,
        logs_client: Callable[[], Any],
        interval_s: float = SHIP_INTERVAL_S,
        *,
        thread_name: str = "lambda-log-shipper",
    ) -> None:
        self._client = logs_client
        self._interval_s = interval_s
        self._streams: list[LogStream] = []
        self._groups: set[str] = set()
        self._lock = threading.Lock()
        self._ship_lock = threading.Lock()  # one shipping pass at a time: batches of a stream stay in order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=thread_name, daemon=True)
        self._thread.start()

    def open(self, function_name: str, stream_name: str) -> LogStream:
        """A stream of the function's group `/aws/lambda/<function name>`."""
        return self.open_stream(log_group_name(function_name), stream_name)

    def open_stream(self, group: str, stream_name: str, *, create_group: bool = True) -> LogStream:
        stream = LogStream(group, stream_name, create_group=create_group)
        with self._lock:
            self._streams.append(stream)
        return stream

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.flush()

    def flush(self) -> None:
        with self._ship_lock:
            with self._lock:
                streams = list(self._streams)
                self._streams = [s for s in streams if not s.closed]
            for stream in streams:
                events = stream.take()
                if events:
                    self._ship(stream, events)

    def _ship(self, stream: LogStream, events: list[dict[str, Any]]) -> None:
        logs = self._client()
        try:
            try:
                self._put(logs, stream, events)
            except logs.exceptions.ResourceNotFoundException:
                # the group or stream was deleted meanwhile (`aws logs delete-log-group`): made again, as Lambda does
                self._groups.discard(stream.group)
                stream.created = False
                self._put(logs, stream, events)
        except Exception as failure:
            if not stream.create_group and isinstance(failure, logs.exceptions.ResourceNotFoundException):
                log.warning("%d log lines dropped: log group %s does not exist", len(events), stream.group)
                return
            # the file under the work dir still has every line; CloudWatch is where users look, not the record
            log.warning("%d log lines of %s could not reach CloudWatch Logs", len(events), stream.name, exc_info=True)

    def _put(self, logs: Any, stream: LogStream, events: list[dict[str, Any]]) -> None:
        if stream.create_group and stream.group not in self._groups:
            try:
                logs.create_log_group(logGroupName=stream.group)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            self._groups.add(stream.group)
        if not stream.created:
            try:
                logs.create_log_stream(logGroupName=stream.group, logStreamName=stream.name)
            except logs.exceptions.ResourceAlreadyExistsException:
                pass
            stream.created = True
        for batch in batches(events):
            logs.put_log_events(logGroupName=stream.group, logStreamName=stream.name, logEvents=batch)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()


class WorkerLog:
    """Where one worker's output goes, line by line: the function's log file under the work dir (shared by its
    workers; `LogType=Tail` and `cd4ml local invoke` read it) and, when the cloud ships logs, the worker's stream.

    `wait_reported` lets an invoke return only once its REPORT line is written, so that a Tail read right after it,
    or the CLI printing the log, sees the whole invocation."""

    def __init__(self, path: Path, stream: LogStream | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.stream = stream
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()
        self._reported = threading.Condition(self._lock)
        self._last_report = ""
        self._ended = False

    def write(self, text: str) -> None:
        """Lines the worker printed, or that the runtime writes for it (a timeout); a trailing newline is optional."""
        timestamp_ms = int(time.time() * 1000)
        lines = text.rstrip("\n").split("\n")
        with self._lock:
            if self._file.closed:
                return  # a process the handler left behind may still print after the worker ended
            for line in lines:
                line = line.rstrip("\r")
                self._file.write(line + "\n")
                if self.stream is not None:
                    self.stream.add(timestamp_ms, line)
                if line.startswith(REPORT_PREFIX):
                    self._last_report = line[len(REPORT_PREFIX) :].split("\t", 1)[0].strip()
                    self._reported.notify_all()
            self._file.flush()

    def wait_reported(self, request_id: str, timeout: float) -> bool:
        with self._reported:
            return self._reported.wait_for(lambda: self._last_report == request_id or self._ended, timeout)

    def close(self) -> None:
        """The worker's output ended: no more lines will come from it."""
        with self._lock:
            self._ended = True
            self._reported.notify_all()
            self._file.close()
            if self.stream is not None:
                self.stream.closed = True


REPORT_PREFIX = "REPORT RequestId: "
