"""Logs production decisions with their raw orders (the Decision Made events EventBridge puts on DecisionLogStream):
each batch decoded and validated as columns, its good records written as one Parquet object under decisions/, its
poison quarantined with the reason and acknowledged. Only a failed write is reported (ReportBatchItemFailures, from
the batch's first sequence number: the write is one object), so a bad record never stalls the shard."""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.decision_log import DecisionLogNotStored, store_batch
from cd4ml_shared.decision_log import decide_batch
from cd4ml_shared.environment import required

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
ARTIFACTS_BUCKET = required(os.environ, "ARTIFACTS_BUCKET")


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    batch = decide_batch(event.get("Records") or [])
    logger.append_keys(shard_id=batch.shard_id, first_sequence_number=batch.first_sequence_number)
    metrics.add_metric(name="DecisionLogRecordsReceived", unit=MetricUnit.Count, value=batch.received)
    try:
        stored = store_batch(s3, ARTIFACTS_BUCKET, batch)
    except DecisionLogNotStored as error:
        logger.warning("batch not stored; Kinesis delivers it again", extra={"key": error.key, "code": error.code})
        metrics.add_metric(name="DecisionLogBatchesNotStored", unit=MetricUnit.Count, value=1)
        return {"batchItemFailures": [{"itemIdentifier": batch.first_sequence_number}]}
    metrics.add_metric(name="DecisionLogRecordsWritten", unit=MetricUnit.Count, value=batch.good.num_rows)
    metrics.add_metric(name="DecisionLogRecordsPoison", unit=MetricUnit.Count, value=len(batch.poison))
    for reason, count in sorted(batch.reasons.items()):
        metrics.add_metric(name=f"DecisionLogPoison_{reason}", unit=MetricUnit.Count, value=count)
    if batch.poison:
        logger.warning(
            "poison records quarantined", extra={"reasons": dict(batch.reasons), "uri": stored.quarantine_uri}
        )
    logger.info(
        "batch stored", extra={"received": batch.received, "written": batch.good.num_rows, "uri": stored.good_uri}
    )
    return {"batchItemFailures": []}
