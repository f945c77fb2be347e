"""Storing a decided ground-truth batch (cd4ml_shared.feedback): the good rows as one Parquet object, the poison as
one JSON-lines object beside them under the quarantine prefix. Both keys are named by the batch's shard and first
sequence number, so a batch delivered again after a failed write overwrites what it wrote before, never doubles it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from botocore.exceptions import BotoCoreError, ClientError

from ..feedback import StreamBatch, parquet_bytes, quarantine_lines
from .client_errors import error_code


class FeedbackNotStored(Exception):
    """S3 did not take the batch's objects (unavailable, throttled, refused); the batch must be delivered again."""

    def __init__(self, key: str, code: str, message: str) -> None:
        super().__init__(f"s3 put of {key} failed ({code or 'no response'}): {message}")
        self.key = key
        self.code = code


@dataclass(frozen=True)
class StoredBatch:
    good_uri: str | None  # None when every record of the batch was poison
    quarantine_uri: str | None  # None when none was


def put_batch_object(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> str:
    """One object of a stream batch; `FeedbackNotStored` when S3 does not take it (the batch must come again).
    Shared with the decision log (`aws.decision_log`), whose batches fail the same way."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except ClientError as error:
        raise FeedbackNotStored(key, error_code(error), str(error)) from error
    except BotoCoreError as error:  # no answer at all: connection refused or reset, a timeout
        raise FeedbackNotStored(key, "", str(error)) from error
    return f"s3://{bucket}/{key}"


def store_batch(
    s3: Any, bucket: str, batch: StreamBatch, *, parquet: Callable[[pa.Table], bytes] = parquet_bytes
) -> StoredBatch:
    """The good rows first, then the quarantine: a failure of either raises `FeedbackNotStored`, and the redelivered
    batch rewrites both under the same keys."""
    good_uri = None
    if batch.good.num_rows:
        good_uri = put_batch_object(s3, bucket, batch.good_key(), parquet(batch.good), "application/vnd.apache.parquet")
    quarantine_uri = None
    if batch.poison:
        quarantine_uri = put_batch_object(
            s3, bucket, batch.quarantine_key(), quarantine_lines(batch.poison), "application/x-ndjson"
        )
    return StoredBatch(good_uri=good_uri, quarantine_uri=quarantine_uri)
