"""Joins a batch transform's answer back to the orders it scored (a Lambda task of the batch-scoring state machine):
`scores/<dataset>/<date>/<file>.parquet` with `order_id, score, decision, model_version`, and the run's summary."""

import time

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.scoring import write_scores
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.run_input import DatasetRef
from cd4ml_shared.scoring import ModelInService, ScoringSettings

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
SETTINGS = ScoringSettings.from_environment()
TASK_FIELDS: dict[str, PayloadKind] = {"run_id": "string", "dataset": "object", "model": "object"}


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, TASK_FIELDS, where="write_scores")
    started = time.perf_counter()
    layout = RunLayout(SETTINGS.artifacts_bucket, event["run_id"])
    logger.append_keys(run_id=event["run_id"])
    document = write_scores(
        s3, layout, DatasetRef.model_validate(event["dataset"]), ModelInService.from_dict(event["model"])
    )
    document["seconds"] = time.perf_counter() - started
    metrics.add_metric(name="OrdersScored", unit=MetricUnit.Count, value=document["rows"])
    logger.info("scores written", extra={"scores_uri": document["scores_uri"], "rows": document["rows"]})
    return document
