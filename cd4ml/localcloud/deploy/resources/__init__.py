"""One module per resource family; importing this package registers every handler with `base.handles`."""

from . import apigateway, data, eventbridge, iam, lambda_, messaging, operations, s3, sagemaker, stepfunctions

__all__ = [
    "apigateway",
    "data",
    "eventbridge",
    "iam",
    "lambda_",
    "messaging",
    "operations",
    "s3",
    "sagemaker",
    "stepfunctions",
]
