"""The body the stream writers' handlers share (record_feedback, record_decisions): a decided Kinesis batch stored as
one object (and its quarantine), counted and logged; a failed write reported from the batch's first sequence number
(ReportBatchItemFailures: the write is one object, so the whole batch comes again), never an exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from .feedback import FeedbackNotStored


class DecidedBatch(Protocol):
    shard_id: str
    first_sequence_number: str
    received: int

    @property
    def good(self) -> Any: ...

    @property
    def poison(self) -> Any: ...

    @property
    def reasons(self) -> Any: ...


def store_and_report(
    batch: DecidedBatch,
    store: Callable[[Any, str, Any], Any],
    *,
    s3: Any,
    bucket: str,
    logger: Any,
    metrics: Any,
    prefix: str,
) -> dict[str, list[dict[str, str]]]:
    """Store `batch` with `store(s3, bucket, batch)`, publish `<prefix>Records*` metrics, and answer Lambda's
    partial-batch response."""
    logger.append_keys(shard_id=batch.shard_id, first_sequence_number=batch.first_sequence_number)
    metrics.add_metric(name=f"{prefix}RecordsReceived", unit=MetricUnit.Count, value=batch.received)
    try:
        stored = store(s3, bucket, batch)
    except FeedbackNotStored as error:  # the decision log's DecisionLogNotStored is the same class
        logger.warning("batch not stored; Kinesis delivers it again", extra={"key": error.key, "code": error.code})
        metrics.add_metric(name=f"{prefix}BatchesNotStored", unit=MetricUnit.Count, value=1)
        return {"batchItemFailures": [{"itemIdentifier": batch.first_sequence_number}]}
    metrics.add_metric(name=f"{prefix}RecordsWritten", unit=MetricUnit.Count, value=batch.good.num_rows)
    metrics.add_metric(name=f"{prefix}RecordsPoison", unit=MetricUnit.Count, value=len(batch.poison))
    for reason, count in sorted(batch.reasons.items()):
        metrics.add_metric(name=f"{prefix}Poison_{reason}", unit=MetricUnit.Count, value=count)
    if batch.poison:
        logger.warning(
            "poison records quarantined", extra={"reasons": dict(batch.reasons), "uri": stored.quarantine_uri}
        )
    logger.info(
        "batch stored", extra={"received": batch.received, "written": batch.good.num_rows, "uri": stored.good_uri}
    )
    return {"batchItemFailures": []}
