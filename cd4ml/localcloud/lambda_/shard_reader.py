"""One shard of a mapped stream: read records in order, batch them as Lambda does, invoke the function, and judge
the outcome (partial batch failures, bisect, retries, record age, the on-failure destination)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .functions import Invocation
from .mapping_spec import (
    INVOKE_ERROR_BACKOFF_S,
    MAX_GET_RECORDS,
    MAX_PAYLOAD_BYTES,
    READ_ERROR_BACKOFF_S,
    RECORD_ENVELOPE_BYTES,
    RETRY_BACKOFF_FIRST_S,
    RETRY_BACKOFF_MAX_S,
    StreamGone,
)

if TYPE_CHECKING:
    from .stream_mapping import StreamMapping

log = logging.getLogger(__name__)


@dataclass
class _Record:
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: datetime

    @property
    def position(self) -> int:
        return int(self.sequence_number)


@dataclass
class _Chunk:
    """A batch, or part of one, on its way through retries and bisection."""

    records: list[_Record]
    retries: int = 0
    invokes: int = 0
    last: Invocation | None = None


@dataclass
class _Verdict:
    """How Lambda reads an invocation's outcome: everything from `failed_from` on must be retried."""

    failed_from: int | None  # None: the whole batch succeeded
    function_error: bool = False
    malformed: bool = False


class ShardReader:
    """Reads one shard in order and hands it to the function one batch at a time, as Lambda does."""

    def __init__(self, mapping: StreamMapping, shard_id: str, parents: list[str], start_position: str) -> None:
        self.mapping = mapping
        self.spec = mapping.spec
        self.shard_id = shard_id
        self.parents = parents
        self.start_position = start_position
        self.iterator: str | None = None
        self.pending: list[_Record] = []  # read from the shard, not yet handled
        self.window_started: float | None = None
        self.last_read: str | None = None  # sequence number of the last record read
        self.end_of_shard = False
        self.closed = False
        self.finished = False
        # When the last read that found nothing new, with nothing pending, began.
        self.caught_up_at: float | None = None
        self.thread: threading.Thread | None = None
        self._reported: str | None = None  # the last problem logged, so that a lasting one is logged once

    @property
    def stopping(self) -> threading.Event:
        return self.mapping.stopping

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self._run, name=f"kinesis-esm-{self.spec.uuid[:8]}-{self.shard_id}", daemon=True
        )
        self.thread.start()

    def _run(self) -> None:
        # Lambda finishes a parent shard before it reads its children, so that a key's records stay in order.
        while not self.stopping.is_set() and not all(self.mapping.reader_finished(p) for p in self.parents):
            self.stopping.wait(self.mapping.poller.poll_interval_s)
        while not self.stopping.is_set() and not self.finished:
            try:
                self._step()
            except Exception:
                # Never let one shard's trouble end its reader (or touch other mappings): log and try again.
                log.exception("event source mapping %s, %s: poller error", self.spec.uuid, self.shard_id)
                self.stopping.wait(READ_ERROR_BACKOFF_S)
        self.mapping.poller._notify()

    # ---- reading --------------------------------------------------------------------------------------
    def _step(self) -> None:
        if self.pending and self._batch_ready():
            batch = self._next_batch()
            if not self._handle(batch):
                return  # stopping: the batch stays unhandled, as on a real shutdown
            del self.pending[: len(batch)]
            self.window_started = time.monotonic() if self.pending else None
            return
        started = time.monotonic()
        try:
            records, behind = self._read()
        except StreamGone as exc:
            self._report("stream", f"stream {self.mapping.stream_name} cannot be read: {exc}")
            if not self.pending:
                self._caught_up(started)  # nothing left that could be read
            self.stopping.wait(READ_ERROR_BACKOFF_S)
            return
        except ClientError as exc:
            self._report("read", f"GetRecords failed: {exc}")
            self.stopping.wait(READ_ERROR_BACKOFF_S)
            return
        self._report(None, "")
        if records:
            self.caught_up_at = None
            if not self.pending:
                self.window_started = time.monotonic()
            self.pending.extend(records)
            return
        if not self.pending and behind == 0:
            if self.end_of_shard or self.closed:
                # A closed shard gets no more records, so an empty read means it has been read to its end.
                self.finished = True
                log.info("event source mapping %s: finished closed shard %s", self.spec.uuid, self.shard_id)
                return
            self._caught_up(started)
        delay = self.mapping.poller.poll_interval_s
        if self.pending and self.window_started is not None:
            delay = min(delay, self.window_started + self.spec.maximum_batching_window_s - time.monotonic())
        self.stopping.wait(max(delay, 0.001))

    def _caught_up(self, started: float) -> None:
        self.caught_up_at = started
        self.mapping.poller._notify()

    def _next_batch(self) -> list[_Record]:
        """The first BatchSize pending records, fewer if they would not fit in one invocation payload."""
        size = 0
        count = 0
        for record in self.pending[: self.spec.batch_size]:
            size += (len(record.data) + 2) // 3 * 4 + RECORD_ENVELOPE_BYTES
            if count and size > MAX_PAYLOAD_BYTES:
                break
            count += 1
        return self.pending[:count]

    def _batch_ready(self) -> bool:
        if len(self.pending) >= self.spec.batch_size or self.end_of_shard:
            return True
        window = self.spec.maximum_batching_window_s
        if window <= 0:
            return True
        return self.window_started is not None and time.monotonic() - self.window_started >= window

    def _read(self) -> tuple[list[_Record], int | None]:
        """One GetRecords call; returns the records and MillisBehindLatest (None when unknown)."""
        if self.end_of_shard:
            return [], 0
        kinesis = self.mapping.kinesis
        if self.iterator is None:
            self.iterator = self._fresh_iterator()
            if self.iterator is None:
                self.end_of_shard = True
                return [], 0
        limit = min(MAX_GET_RECORDS, max(1, self.spec.batch_size - len(self.pending)))
        try:
            response = kinesis.get_records(ShardIterator=self.iterator, Limit=limit)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ExpiredIteratorException":
                self.iterator = None  # iterators live five minutes; take a new one from where reading stopped
                return [], None
            if code == "ResourceNotFoundException":
                raise StreamGone(str(exc)) from exc
            raise
        self.iterator = response.get("NextShardIterator")
        if self.iterator is None:
            self.end_of_shard = True
        skew = self.mapping.poller.clock.skew()  # the cloud's clock may run ahead of moto's wall time
        records = [
            _Record(
                sequence_number=r["SequenceNumber"],
                partition_key=r["PartitionKey"],
                data=bytes(r["Data"]),
                arrival=_utc(r.get("ApproximateArrivalTimestamp")) + skew,
            )
            for r in response.get("Records", [])
        ]
        if records:
            self.last_read = records[-1].sequence_number
        behind = response.get("MillisBehindLatest")
        return records, int(behind) if behind is not None else None

    def _fresh_iterator(self) -> str | None:
        try:
            if self.last_read is not None:
                return self.mapping.shard_iterator(self.shard_id, "", after=self.last_read)
            if self.start_position == "LATEST":
                # A LATEST iterator that expired must not skip what arrived since the mapping was created.
                return self.mapping.shard_iterator(self.shard_id, "AT_TIMESTAMP", at=self.mapping.created)
            return self.mapping.shard_iterator(self.shard_id, self.start_position)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code", "") == "ResourceNotFoundException":
                raise StreamGone(str(exc)) from exc
            raise

    def _report(self, problem: str | None, message: str) -> None:
        if problem is not None and problem != self._reported:
            log.error("event source mapping %s, %s: %s", self.spec.uuid, self.shard_id, message)
        elif problem is None and self._reported is not None:
            log.info("event source mapping %s, %s: reading again", self.spec.uuid, self.shard_id)
        self._reported = problem

    # ---- delivery -------------------------------------------------------------------------------------
    def _handle(self, batch: list[_Record]) -> bool:
        """Deliver a batch until each record is acknowledged or given up; False if the mapping stopped."""
        chunks: deque[_Chunk] = deque([_Chunk(list(batch))])
        invoke_trouble: str | None = None
        while chunks:
            if self.stopping.is_set():
                return False
            chunk = chunks[0]
            if self._expire(chunk):
                if not chunk.records:
                    chunks.popleft()
                continue
            try:
                payload = self._event(chunk.records)
                outcome = self.mapping.poller.runtime.invoke(self.spec.function_name, payload)
            except Exception as exc:
                # Lambda could not run the function (missing, or the runtime failed): not a function error, so
                # no retry is counted; the batch waits until the function is back or its records expire.
                if str(exc) != invoke_trouble:
                    log.error(
                        "event source mapping %s, %s: cannot invoke %s: %s",
                        self.spec.uuid,
                        self.shard_id,
                        self.spec.function_name,
                        exc,
                    )
                    invoke_trouble = str(exc)
                self.stopping.wait(INVOKE_ERROR_BACKOFF_S)
                continue
            invoke_trouble = None
            chunk.invokes += 1
            chunk.last = outcome
            self.mapping.count(invocations=1)
            verdict = self._judge(outcome, chunk.records)
            if verdict.failed_from is None:
                self.mapping.count(batches_delivered=1, records_delivered=len(chunk.records))
                chunks.popleft()
                continue
            if verdict.failed_from > 0:
                # The records before the lowest reported failure are checkpointed and never delivered again.
                self.mapping.count(records_delivered=verdict.failed_from)
                chunk.records = chunk.records[verdict.failed_from :]
            if verdict.function_error and self.spec.bisect_batch_on_function_error and len(chunk.records) > 1:
                # Splitting does not use up the retry quota, as on AWS.
                middle = len(chunk.records) // 2
                chunks.popleft()
                chunks.appendleft(_Chunk(chunk.records[middle:], chunk.retries, chunk.invokes, chunk.last))
                chunks.appendleft(_Chunk(chunk.records[:middle], chunk.retries, chunk.invokes, chunk.last))
                self.mapping.count(bisections=1)
                continue
            limit = self.spec.maximum_retry_attempts
            if limit >= 0 and chunk.retries >= limit:
                self._give_up(chunk.records, "RetryAttemptsExhausted", chunk)
                chunks.popleft()
                continue
            chunk.retries += 1
            self.mapping.count(retries=1)
            delay = min(RETRY_BACKOFF_FIRST_S * 2 ** (chunk.retries - 1), RETRY_BACKOFF_MAX_S)
            self.stopping.wait(delay)
        return True

    def _expire(self, chunk: _Chunk) -> bool:
        """Give up on the records at the front of a chunk that are older than MaximumRecordAgeInSeconds."""
        max_age = self.spec.maximum_record_age_s
        if max_age < 0:
            return False
        now = self.mapping.poller.clock.now()
        expired = 0
        for record in chunk.records:  # a shard's records arrive in order, so the old ones are a prefix
            if (now - record.arrival).total_seconds() <= max_age:
                break
            expired += 1
        if not expired:
            return False
        self._give_up(chunk.records[:expired], "RecordAgeExceeded", chunk)
        chunk.records = chunk.records[expired:]
        return True

    def _judge(self, outcome: Invocation, records: list[_Record]) -> _Verdict:
        if outcome.function_error:
            self.mapping.count(function_errors=1)
            return _Verdict(0, function_error=True)
        if not self.spec.report_batch_item_failures:
            return _Verdict(None)
        try:
            response = json.loads(outcome.payload or b"null")
        except ValueError:
            return _Verdict(None)
        # A null or empty response, or one without batchItemFailures, means the whole batch succeeded.
        if not isinstance(response, dict) or response.get("batchItemFailures") is None:
            return _Verdict(None)
        failures = response["batchItemFailures"]
        if isinstance(failures, list) and not failures:
            return _Verdict(None)
        index = {r.sequence_number: i for i, r in enumerate(records)}
        positions: list[int] = []
        if isinstance(failures, list):
            for item in failures:
                identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
                if not isinstance(identifier, str) or identifier not in index:
                    positions = []
                    break
                positions.append(index[identifier])
        if not positions:
            log.warning(
                "event source mapping %s, %s: %s returned a malformed batchItemFailures response %s; "
                "retrying the whole batch",
                self.spec.uuid,
                self.shard_id,
                self.spec.function_name,
                json.dumps(failures)[:500],
            )
            self.mapping.count(malformed_responses=1)
            return _Verdict(0, malformed=True)
        self.mapping.count(partial_failures=1)
        return _Verdict(min(positions))

    def _event(self, records: list[_Record]) -> bytes:
        role = self.spec.role_arn
        if not role:
            try:
                role = self.mapping.poller.runtime.spec(self.spec.function_name).role_arn
            except Exception:
                role = ""
        event = {
            "Records": [
                {
                    "kinesis": {
                        "kinesisSchemaVersion": "1.0",
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.sequence_number,
                        "data": base64.b64encode(r.data).decode("ascii"),
                        "approximateArrivalTimestamp": round(r.arrival.timestamp(), 3),
                    },
                    "eventSource": "aws:kinesis",
                    "eventVersion": "1.0",
                    "eventID": f"{self.shard_id}:{r.sequence_number}",
                    "eventName": "aws:kinesis:record",
                    "invokeIdentityArn": role,
                    "awsRegion": self.mapping.poller.region,
                    "eventSourceARN": self.spec.stream_arn,
                }
                for r in records
            ]
        }
        return json.dumps(event).encode("utf-8")

    def _give_up(self, records: list[_Record], condition: str, chunk: _Chunk) -> None:
        """Skip records for good: send AWS's invocation record to the on-failure destination, or log them."""
        first, last = records[0], records[-1]
        destination = self.spec.on_failure_arn
        if destination:
            record = self._failure_record(records, condition, chunk)
            try:
                self.mapping.poller.destinations.send(destination, record)
                self.mapping.count(records_sent_to_on_failure=len(records))
                log.warning(
                    "event source mapping %s, %s: %s; sent %d record(s) (sequence numbers %s to %s) to %s",
                    self.spec.uuid,
                    self.shard_id,
                    condition,
                    len(records),
                    first.sequence_number,
                    last.sequence_number,
                    destination,
                )
                return
            except Exception as exc:
                log.error(
                    "event source mapping %s: sending to on-failure destination %s failed: %s",
                    self.spec.uuid,
                    destination,
                    exc,
                )
        self.mapping.count(records_discarded=len(records))
        log.warning(
            "event source mapping %s, %s: %s; discarded %d record(s) with sequence numbers %s to %s",
            self.spec.uuid,
            self.shard_id,
            condition,
            len(records),
            first.sequence_number,
            last.sequence_number,
        )

    def _failure_record(self, records: list[_Record], condition: str, chunk: _Chunk) -> dict[str, Any]:
        outcome = chunk.last
        record: dict[str, Any] = {
            "requestContext": {
                "requestId": outcome.request_id if outcome else str(uuid.uuid4()),
                "functionArn": self.spec.function_arn,
                "condition": condition,
                "approximateInvokeCount": chunk.invokes,
            },
        }
        if outcome is not None:  # records that expired before any invocation have no response to describe
            record["responseContext"] = {
                "statusCode": 200,
                "executedVersion": outcome.executed_version,
                **({"functionError": outcome.function_error} if outcome.function_error else {}),
            }
        record["version"] = "1.0"
        record["timestamp"] = _iso(datetime.now(UTC))
        record["KinesisBatchInfo"] = {
            "shardId": self.shard_id,
            "startSequenceNumber": records[0].sequence_number,
            "endSequenceNumber": records[-1].sequence_number,
            "approximateArrivalOfFirstRecord": _iso(records[0].arrival),
            "approximateArrivalOfLastRecord": _iso(records[-1].arrival),
            "batchSize": len(records),
            "streamArn": self.spec.stream_arn,
        }
        return record


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
