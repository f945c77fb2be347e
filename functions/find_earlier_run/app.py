"""Finds an earlier registered run of the same content (dataset bytes, model code, hyperparameters) right after
validation (a Lambda task of the training pipeline): the run then ends in SameAsEarlierRun, training nothing, unless
the upload's metadata `cd4ml-rerun=true` asks to train again."""

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.content_index import find_earlier_run
from cd4ml_shared.payload import PayloadKind, require
from cd4ml_shared.settings import FindEarlierRunSettings

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
SETTINGS = FindEarlierRunSettings.from_environment()
# The Parameters of the FindEarlierRun task (statemachines/training_pipeline.asl.json)
FIELDS: dict[str, PayloadKind] = {
    "run_id": "string",
    "dataset.bucket": "string",
    "dataset.key": "string",
    "validation.sha256": "string",
}


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    require(event, FIELDS, where="find_earlier_run")
    logger.append_keys(run_id=event["run_id"])
    content = find_earlier_run(
        s3,
        artifacts_bucket=SETTINGS.artifacts_bucket,
        dataset=event["dataset"],
        sha256=event["validation"]["sha256"],
        code_version=SETTINGS.code_version,
        hyperparameters=SETTINGS.hyperparameters,
    )
    if content["earlier"]:
        logger.info("same content as an earlier run", extra={"earlier": content["earlier"]})
        metrics.add_metric(name="DuplicateContentRuns", unit=MetricUnit.Count, value=1)
    elif content["rerun"]:
        logger.info("rerun requested by the upload's metadata", extra={"digest": content["digest"]})
        metrics.add_metric(name="RerunsRequested", unit=MetricUnit.Count, value=1)
    return content
