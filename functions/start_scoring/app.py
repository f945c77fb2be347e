"""Starts the batch-scoring state machine for an upload under `scoring/` (S3 `Object Created` through EventBridge).

Named after the object version (`scoring.scoring_run_id`), as the training pipeline's runs are, so a duplicated or
replayed event finds the name taken and starts nothing.
"""

import json

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared.aws.executions import start_once
from cd4ml_shared.callbacks import task_timeouts
from cd4ml_shared.layout import is_scoring_key
from cd4ml_shared.payload import require
from cd4ml_shared.run_input import DatasetRef, RunInput, Timeouts, job_prefix
from cd4ml_shared.scoring import scoring_run_id
from cd4ml_shared.settings import StartPipelineSettings
from cd4ml_shared.uploads import UPLOAD_FIELDS, foreign_bucket

logger = Logger()
metrics = Metrics()
sfn = boto3.client("stepfunctions")
SETTINGS = StartPipelineSettings.from_environment()  # the same variables as the training pipeline's starter
TIMEOUTS = Timeouts(
    **task_timeouts(
        processing_max_runtime=SETTINGS.processing_max_runtime,
        training_max_runtime=SETTINGS.training_max_runtime,
        use_spot=SETTINGS.use_spot,
    )
)


def start(dataset: DatasetRef, event: EventBridgeEvent) -> dict:
    name = scoring_run_id(dataset)
    logger.set_correlation_id(name)  # the run is named: from here on its lines carry its id, as its tasks' do
    run = RunInput(
        run_id=name,
        job_prefix=job_prefix(dataset, SETTINGS.job_name_prefix),
        dataset=dataset,
        artifacts_bucket=SETTINGS.artifacts_bucket,
        timeouts=TIMEOUTS,
        trigger={"source": event.source, "detail_type": event.detail_type, "event_id": event.get_id},
        purpose="scoring",
    )
    execution_arn = start_once(sfn, SETTINGS.state_machine_arn, name, run.model_dump_json())
    if execution_arn is None:  # the same object version again: its run exists
        logger.info("scoring run already exists", extra={"run_id": name, "dataset": dataset.uri})
        metrics.add_metric(name="DuplicateScoringEvents", unit=MetricUnit.Count, value=1)
        return {"run_id": name, "execution_arn": SETTINGS.execution_arn(name), "started": False}
    logger.info("scoring run started", extra={"run_id": name, "dataset": dataset.uri})
    metrics.add_metric(name="ScoringRunsStarted", unit=MetricUnit.Count, value=1)
    return {"run_id": name, "execution_arn": execution_arn, "started": True}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, UPLOAD_FIELDS, where="start_scoring")
    upload = EventBridgeEvent(event)
    ignored = foreign_bucket(upload.detail, SETTINGS.raw_data_bucket)
    if ignored is not None:  # logged and counted, never retried
        logger.warning("upload to another bucket ignored", extra={"why": ignored})
        metrics.add_metric(name="ForeignBucketEvents", unit=MetricUnit.Count, value=1)
        return {"started": False, "ignored": ignored}
    dataset = DatasetRef.from_s3_event(upload.detail)
    if not is_scoring_key(dataset.key):
        # the rule matches every key under scoring/, the validation's own reports too: skipped, never retried
        logger.info("not a file to score", extra={"event": json.dumps(event)[:2000]})
        return {"started": False, "ignored": f"{dataset.uri} is not a file to score (a report or a folder)"}
    return start(dataset, upload)
