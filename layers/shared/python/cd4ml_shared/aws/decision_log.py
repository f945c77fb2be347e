"""Storing a decided decision-log batch (cd4ml_shared.decision_log): the decisions with their raw orders as one
Parquet object under decisions/, the poison as one JSON-lines object under quarantine/decisions/. Both keys are
named by the batch's shard and first sequence number, so a redelivered batch overwrites what it wrote before."""

from __future__ import annotations

from typing import Any

from ..decision_log import DecisionBatch, parquet_bytes, quarantine_lines
from .feedback import FeedbackNotStored, StoredBatch, put_batch_object

# a failed put raises the feedback path's exception: both stream functions answer it the same way (report the
# batch from its first sequence number), so one name serves both handlers
DecisionLogNotStored = FeedbackNotStored


def store_batch(s3: Any, bucket: str, batch: DecisionBatch) -> StoredBatch:
    """The decisions first, then the quarantine: a failure of either raises `DecisionLogNotStored`, and the
    redelivered batch rewrites both under the same keys."""
    good_uri = None
    if batch.good.num_rows:
        good_uri = put_batch_object(
            s3, bucket, batch.good_key(), parquet_bytes(batch.good), "application/vnd.apache.parquet"
        )
    quarantine_uri = None
    if batch.poison:
        quarantine_uri = put_batch_object(
            s3, bucket, batch.quarantine_key(), quarantine_lines(batch.poison), "application/x-ndjson"
        )
    return StoredBatch(good_uri=good_uri, quarantine_uri=quarantine_uri)
