"""A Kinesis event-source mapping's settings, its counters and the limits Lambda applies to its batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
MAX_GET_RECORDS = 10000  # the most records one GetRecords call returns
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's synchronous invocation payload limit caps a batch's size
RECORD_ENVELOPE_BYTES = 512  # what the event adds around each record's base64 data, roughly
# AWS backs off exponentially between retries of a failed batch; locally the delays are compressed.
RETRY_BACKOFF_FIRST_S = 0.05
RETRY_BACKOFF_MAX_S = 0.5
# Failures before the function runs (function missing, runtime trouble) are retried until the records expire.
INVOKE_ERROR_BACKOFF_S = 0.5
READ_ERROR_BACKOFF_S = 1.0
SHARD_DISCOVERY_INTERVAL_S = 1.0
JOIN_TIMEOUT_S = 10.0


@dataclass
class KinesisMappingSpec:
    """An AWS::Lambda::EventSourceMapping whose source is a Kinesis data stream."""

    uuid: str
    function_name: str  # name or ARN accepted by LambdaRuntime.invoke
    function_arn: str
    stream_arn: str
    batch_size: int = 100  # 1..10000
    maximum_batching_window_s: float = 0.0  # 0..300
    starting_position: str = "LATEST"  # TRIM_HORIZON | LATEST | AT_TIMESTAMP
    starting_position_timestamp: datetime | None = None
    report_batch_item_failures: bool = False  # FunctionResponseTypes: [ReportBatchItemFailures]
    bisect_batch_on_function_error: bool = False
    maximum_retry_attempts: int = -1  # -1 = retry until the record expires
    maximum_record_age_s: int = -1  # -1 = no limit
    on_failure_arn: str | None = None  # DestinationConfig.OnFailure.Destination (SQS or SNS ARN)
    enabled: bool = True
    role_arn: str = ""


@dataclass
class KinesisMappingStats:
    """Counters of one mapping, for tests and logs."""

    invocations: int = 0
    batches_delivered: int = 0  # invocations that succeeded for the whole batch they got
    records_delivered: int = 0  # records the function acknowledged (whole batches and partial successes)
    function_errors: int = 0
    partial_failures: int = 0  # valid batchItemFailures responses naming at least one record
    malformed_responses: int = 0
    retries: int = 0
    bisections: int = 0
    records_sent_to_on_failure: int = 0
    records_discarded: int = 0  # dropped without an on-failure destination (or when sending to it failed)


def validate(spec: KinesisMappingSpec) -> None:
    if not 1 <= spec.batch_size <= 10000:
        raise ValueError(f"mapping {spec.uuid}: BatchSize must be between 1 and 10000, got {spec.batch_size}")
    if not 0 <= spec.maximum_batching_window_s <= 300:
        raise ValueError(
            f"mapping {spec.uuid}: MaximumBatchingWindowInSeconds must be between 0 and 300, "
            f"got {spec.maximum_batching_window_s}"
        )
    if spec.starting_position not in STARTING_POSITIONS:
        raise ValueError(
            f"mapping {spec.uuid}: StartingPosition must be one of {', '.join(STARTING_POSITIONS)}, "
            f"got {spec.starting_position!r}"
        )
    if spec.starting_position == "AT_TIMESTAMP" and spec.starting_position_timestamp is None:
        raise ValueError(f"mapping {spec.uuid}: StartingPosition AT_TIMESTAMP needs a StartingPositionTimestamp")
    if not -1 <= spec.maximum_retry_attempts <= 10000:
        raise ValueError(
            f"mapping {spec.uuid}: MaximumRetryAttempts must be between -1 and 10000, got {spec.maximum_retry_attempts}"
        )
    # AWS asks for 60..604800; shorter ages are accepted so that expiry can be exercised locally.
    if not -1 <= spec.maximum_record_age_s <= 604800:
        raise ValueError(
            f"mapping {spec.uuid}: MaximumRecordAgeInSeconds must be -1 or at most 604800, "
            f"got {spec.maximum_record_age_s}"
        )
    if not spec.stream_arn.startswith("arn:") or ":stream/" not in spec.stream_arn:
        raise ValueError(f"mapping {spec.uuid}: {spec.stream_arn!r} is not a Kinesis stream ARN")


class StreamGone(Exception):
    """The stream was deleted while a mapping read it."""
