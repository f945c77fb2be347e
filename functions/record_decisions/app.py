"""Logs production decisions with their raw orders (the Decision Made events EventBridge puts on DecisionLogStream):
each batch decoded and validated as columns, its good records written as one Parquet object under decisions/, its
poison quarantined with the reason and acknowledged. Only a failed write is reported (ReportBatchItemFailures, from
the batch's first sequence number: the write is one object), so a bad record never stalls the shard."""

import os

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.decision_log import store_batch
from cd4ml_shared.aws.stream_batches import store_and_report
from cd4ml_shared.decision_log import decide_batch
from cd4ml_shared.environment import required

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
ARTIFACTS_BUCKET = required(os.environ, "ARTIFACTS_BUCKET")


@logger.inject_lambda_context(correlation_id_path=correlation.STREAM_BATCH)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    batch = decide_batch(event.get("Records") or [])
    return store_and_report(
        batch, store_batch, s3=s3, bucket=ARTIFACTS_BUCKET, logger=logger, metrics=metrics, prefix="DecisionLog"
    )
