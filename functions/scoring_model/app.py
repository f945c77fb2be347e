"""Finds the model a batch-scoring run uses (a Lambda task of the batch-scoring state machine): the model the
endpoint serves, or the latest approved version's, with its version and the decision thresholds of its operating
point."""

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from cd4ml_shared import correlation
from cd4ml_shared.aws.scoring import model_in_service
from cd4ml_shared.scoring import ScoringSettings

logger = Logger()
sagemaker = boto3.client("sagemaker")
s3 = boto3.client("s3")
SETTINGS = ScoringSettings.from_environment()


@logger.inject_lambda_context(correlation_id_path=correlation.RUN)
def handler(event: dict, context: LambdaContext) -> dict:
    model = model_in_service(sagemaker, s3, SETTINGS)
    logger.info("scoring model", extra=model.to_dict())
    return model.to_dict()
