"""Validates the run's dataset against its contract: report beside the data, snapshot or quarantine (a Lambda task
of the training pipeline; its result decides between the feature job and the quarantine path)."""

from datetime import UTC, datetime

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.ingest import validate_upload
from cd4ml_shared.run_input import RunInput
from cd4ml_shared.settings import ValidateDatasetSettings

logger = Logger()
metrics = Metrics()
s3 = boto3.client("s3")
SETTINGS = ValidateDatasetSettings.from_environment()


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
@metrics.log_metrics
def handler(event: dict, context: LambdaContext) -> dict:
    run = RunInput.model_validate(event)
    logger.append_keys(run_id=run.run_id)
    outcome = validate_upload(
        s3,
        run.dataset,
        artifacts_bucket=SETTINGS.artifacts_bucket,
        run_id=run.run_id,
        now=datetime.now(UTC),
        max_age_days=SETTINGS.max_age_days,
        scoring=run.purpose == "scoring",
    )
    metrics.add_dimension(name="dataset", value=run.dataset.dataset)
    metrics.add_metric(
        name="DatasetsQuarantined" if not outcome.passed else "DatasetsAccepted", unit=MetricUnit.Count, value=1
    )
    metrics.add_metric(name="DatasetRows", unit=MetricUnit.Count, value=outcome.rows)
    logger.info("dataset validated", extra=outcome.to_dict())
    return outcome.to_dict()
