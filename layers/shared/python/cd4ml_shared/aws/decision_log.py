"""Storing a decided decision-log batch (cd4ml_shared.decision_log): the decisions with their raw orders as one
Parquet object under decisions/, the poison as one JSON-lines object under quarantine/decisions/. Both keys are
named by the batch's shard and first sequence number, so a redelivered batch overwrites what it wrote before."""

from __future__ import annotations

from typing import Any

from ..decision_log import DecisionBatch, parquet_bytes
from .feedback import FeedbackNotStored, StoredBatch
from .feedback import store_batch as store_stream_batch

# a failed put raises the feedback path's exception: both stream functions answer it the same way (report the
# batch from its first sequence number), so one name serves both handlers
DecisionLogNotStored = FeedbackNotStored


def store_batch(s3: Any, bucket: str, batch: DecisionBatch) -> StoredBatch:
    """The decisions first, then the quarantine (the feedback writer's store, with the decision log's Parquet): a
    failure of either raises `DecisionLogNotStored`, and the redelivered batch rewrites both under the same keys."""
    return store_stream_batch(s3, bucket, batch, parquet=parquet_bytes)
