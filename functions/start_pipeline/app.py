"""Starts the training pipeline for a dataset upload (S3 `Object Created` through EventBridge).

EventBridge cannot name an execution, and S3 delivers events at least once: this function names the execution after
the object version, so a duplicated event finds the name taken and starts nothing.
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
from cd4ml_shared.errors import NotADataset
from cd4ml_shared.layout import is_dataset_key
from cd4ml_shared.payload import require
from cd4ml_shared.run_input import DatasetRef, RunInput, Timeouts, execution_name, job_prefix
from cd4ml_shared.settings import StartPipelineSettings
from cd4ml_shared.uploads import UPLOAD_FIELDS, foreign_bucket

logger = Logger()
metrics = Metrics()
sfn = boto3.client("stepfunctions")
SETTINGS = StartPipelineSettings.from_environment()
TIMEOUTS = Timeouts(
    **task_timeouts(
        processing_max_runtime=SETTINGS.processing_max_runtime,
        training_max_runtime=SETTINGS.training_max_runtime,
        use_spot=SETTINGS.use_spot,
    )
)


def dataset_of(event: EventBridgeEvent) -> DatasetRef:
    dataset = DatasetRef.from_s3_event(event.detail)
    if not is_dataset_key(dataset.key):
        raise NotADataset(f"{dataset.uri} is not an upload under datasets/ (a validation report or a folder)")
    return dataset


def start(dataset: DatasetRef, event: EventBridgeEvent) -> dict:
    name = execution_name(dataset)
    logger.set_correlation_id(name)  # the run is named: from here on its lines carry its id, as its tasks' do
    run = RunInput(
        run_id=name,
        job_prefix=job_prefix(dataset, SETTINGS.job_name_prefix),
        dataset=dataset,
        artifacts_bucket=SETTINGS.artifacts_bucket,
        timeouts=TIMEOUTS,
        trigger={"source": event.source, "detail_type": event.detail_type, "event_id": event.get_id},
    )
    execution_arn = start_once(sfn, SETTINGS.state_machine_arn, name, run.model_dump_json())
    if execution_arn is None:
        # The same object version again (a duplicated or replayed event): its run exists, nothing to do.
        logger.info("run already exists", extra={"run_id": name, "dataset": dataset.uri})
        metrics.add_metric(name="DuplicateUploadEvents", unit=MetricUnit.Count, value=1)
        return {"run_id": name, "execution_arn": SETTINGS.execution_arn(name), "started": False}
    logger.info("run started", extra={"run_id": name, "dataset": dataset.uri, "version": dataset.version_id})
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    return {"run_id": name, "execution_arn": execution_arn, "started": True}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, UPLOAD_FIELDS, where="start_pipeline")
    upload = EventBridgeEvent(event)
    ignored = foreign_bucket(upload.detail, SETTINGS.raw_data_bucket)
    if ignored is not None:  # logged and counted, never retried
        logger.warning("upload to another bucket ignored", extra={"why": ignored})
        metrics.add_metric(name="ForeignBucketEvents", unit=MetricUnit.Count, value=1)
        return {"started": False, "ignored": ignored}
    try:
        dataset = dataset_of(upload)
    except NotADataset as error:
        # The rule matches every key under datasets/, the validation's own reports too (a pattern cannot exclude
        # them): skipped here, so a report never starts a run; logged, never retried.
        logger.info(str(error), extra={"event": json.dumps(event)[:2000]})
        return {"started": False, "ignored": str(error)}
    return start(dataset, upload)
