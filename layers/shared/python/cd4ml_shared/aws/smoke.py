"""The smoke test's AWS side: a model package's smoke rows read from S3, and the new endpoint invoked with them
(`sagemaker-runtime` InvokeEndpoint). What the answers mean is decided in `cd4ml_shared.smoke`."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..errors import SageMakerUnavailable, SmokeTestFailed, SmokeTestUnavailable
from ..registry import evaluation_uri_of
from ..s3_uri import parse_s3_uri
from ..smoke import (
    Comparison,
    SmokeReport,
    SmokeRequest,
    SmokeRows,
    compare,
    judge,
    parse_scores,
    smoke_rows_of,
    smoke_uri_of,
)
from .client_errors import error_code, error_message, is_transient

_MISSING = {"NoSuchKey", "404", "NotFound"}
# InvokeEndpoint's InferenceId: 1 to 64 printable characters
_MAX_INFERENCE_ID = 64


def smoke_uri_of_package(sagemaker: Any, model_package_arn: str) -> str:
    """Where a registered version's smoke rows live: beside the evaluation.json the registry recorded."""
    package = sagemaker.describe_model_package(ModelPackageName=model_package_arn)
    evaluation_uri = evaluation_uri_of(package)
    if evaluation_uri is None:
        raise SmokeTestUnavailable(
            f"model package {model_package_arn} records no evaluation (ModelMetrics.ModelQuality.Statistics.S3Uri): "
            "it has no smoke rows"
        )
    return smoke_uri_of(evaluation_uri)


def read_smoke_rows(s3: Any, uri: str) -> SmokeRows:
    """smoke.json from S3; `SmokeTestUnavailable` when it is not there (a model evaluated before the evaluation job
    wrote smoke rows) or does not read."""
    bucket, key = parse_s3_uri(uri)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error_code(error) in _MISSING:
            raise SmokeTestUnavailable(
                f"{uri} does not exist: the model was evaluated without smoke rows (an older evaluation job); "
                "re-run its training pipeline to deploy it with a smoke test"
            ) from None
        raise
    try:
        document = json.loads(body)
    except ValueError as error:
        raise SmokeTestUnavailable(f"{uri} is not JSON: {error}") from None
    return smoke_rows_of(document, uri)


def invoke_scores(runtime: Any, endpoint: str, request: SmokeRequest, inference_id: str) -> list[float]:
    """The endpoint's scores for one request. A model error (the container answered 4xx/5xx) fails the smoke test;
    throttling or a brief outage is `SageMakerUnavailable` (retried); any other client error is raised as is."""
    try:
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=request.body.encode("utf-8"),
            ContentType=request.content_type,
            Accept=request.accept,
            InferenceId=inference_id[:_MAX_INFERENCE_ID],
        )
    except ClientError as error:
        if error_code(error) == "ModelError":
            raise SmokeTestFailed(
                f"smoke test of endpoint {endpoint} failed: the model erred on the {request.content_type} request of "
                f"the smoke rows: {error_message(error)}"
            ) from None
        if is_transient(error):  # retried by the state machine under this name
            raise SageMakerUnavailable(f"smoke test of endpoint {endpoint}: {error}") from None
        raise
    return parse_scores(answer["Body"].read(), answer.get("ContentType") or request.accept)


def run_smoke_test(
    *, sagemaker: Any, runtime: Any, s3: Any, endpoint: str, model_package_arn: str, inference_id: str
) -> SmokeReport:
    """Send the package's smoke rows to the endpoint (each request tagged `<inference_id>-<n>`, so captured smoke
    traffic is told apart) and require the evaluation's scores back within the tolerance."""
    smoke = read_smoke_rows(s3, smoke_uri_of_package(sagemaker, model_package_arn))
    comparisons: list[Comparison] = []
    for number, request in enumerate(smoke.requests, start=1):
        scores = invoke_scores(runtime, endpoint, request, f"{inference_id}-{number}")
        comparisons.append(compare(smoke.rows, scores, request, endpoint))
    return judge(smoke, comparisons, endpoint)
