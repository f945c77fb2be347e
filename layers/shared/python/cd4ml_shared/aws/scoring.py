"""Batch scoring's SageMaker and S3 side: find the model in service (the endpoint's config's model, or the latest
approved version's), start the transform job, and join its answer back to the orders into the scores file.
The decisions and names are in `scoring`; clients are passed in, so tests hand in the local cloud's."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..decisions import operating_point_of
from ..deployment import version_of_package, versioned_name
from ..errors import JobQuotaExceeded, JobRequestRejected, JobThrottled
from ..jobs import THROTTLING_CODES
from ..layout import RunLayout
from ..registry import evaluation_uri_of
from ..s3_uri import parse_s3_uri
from ..scoring import (
    META,
    ORDER_IDS_FILE,
    SUMMARY_FILE,
    ModelInService,
    NoModelInService,
    ScoringSettings,
    decisions_of,
    parse_transform_output,
    scores_key,
    summary,
    transform_output_key,
)
from .client_errors import error_code, error_message
from .registry import latest_approved_arn

if TYPE_CHECKING:
    from ..run_input import DatasetRef

# What SageMaker answers for a Describe* of something that does not exist.
_MISSING = frozenset({"ValidationException", "ValidationError", "ResourceNotFound"})
_SERVING = frozenset({"InService", "Updating", "SystemUpdating", "RollingBack"})  # a config that serves traffic


def model_in_service(sagemaker: Any, s3: Any, settings: ScoringSettings) -> ModelInService:
    """The endpoint's model when it serves (during an update, the config it still serves); otherwise the latest
    approved version's model, created from its package under the deployment workflow's name for it (models are
    immutable, so one that exists under that name is that version's). `NoModelInService` when there is neither."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=settings.endpoint_name)
    except ClientError as error:
        if error_code(error) not in _MISSING:
            raise
        endpoint = None
    if endpoint is not None and endpoint.get("EndpointStatus") in _SERVING:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model_name = config["ProductionVariants"][0]["ModelName"]
        package_arn = package_of_model(sagemaker.describe_model(ModelName=model_name), model_name)
        source = "endpoint"
    else:
        package_arn = _latest_approved(sagemaker, settings)
        model_name = versioned_name(settings.endpoint_name, version_of_package(package_arn))
        _ensure_model(sagemaker, settings, model_name, package_arn)
        source = "registry"
    rules = settings.rules.thresholds(_operating_point(sagemaker, s3, package_arn))
    return ModelInService(
        model_name=model_name,
        model_version=version_of_package(package_arn),
        model_package_arn=package_arn,
        source=source,
        thresholds=rules,
    )


def package_of_model(model: Mapping[str, Any], name: str) -> str:
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    for container in containers:
        if container.get("ModelPackageName"):
            return str(container["ModelPackageName"])
    raise NoModelInService(f"model {name} in service was not created from a model package: it has no version")


def _latest_approved(sagemaker: Any, settings: ScoringSettings) -> str:
    arn = latest_approved_arn(sagemaker, settings.model_package_group)
    if arn is None:
        raise NoModelInService(
            f"endpoint {settings.endpoint_name} serves no model and group {settings.model_package_group} has no "
            "approved version: approve one (`cd4ml model approve`) before scoring"
        )
    return arn


def _ensure_model(sagemaker: Any, settings: ScoringSettings, name: str, package_arn: str) -> None:
    try:
        sagemaker.describe_model(ModelName=name)
        return
    except ClientError as error:
        if error_code(error) not in _MISSING:
            raise
    sagemaker.create_model(**scoring_model_request(settings, name, package_arn))


def scoring_model_request(settings: ScoringSettings, name: str, package_arn: str) -> dict[str, Any]:
    """CreateModel from the package for a scoring run, in the stack's VPC and isolation (`JobSecurity.secure_model`:
    a batch transform's network is its model's)."""
    request: dict[str, Any] = {
        "ModelName": name,
        "ExecutionRoleArn": settings.role_arn,
        "PrimaryContainer": {"ModelPackageName": package_arn},
        "Tags": [{"Key": "cd4ml:model_package_arn", "Value": package_arn}],
    }
    return settings.security.secure_model(request)


def _operating_point(sagemaker: Any, s3: Any, package_arn: str) -> float:
    uri = evaluation_uri_of(sagemaker.describe_model_package(ModelPackageName=package_arn))
    if uri is None:
        raise NoModelInService(f"{package_arn} has no evaluation (ModelQuality statistics): no operating point")
    bucket, key = parse_s3_uri(uri)
    return operating_point_of(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), uri)


def start_transform(sagemaker: Any, request: Mapping[str, Any]) -> str:
    """Create the transform job; its ARN. Throttling, quota and validation refusals become the errors the state
    machine retries or reports by name."""
    try:
        return str(sagemaker.create_transform_job(**request)["TransformJobArn"])
    except ClientError as error:
        code, message = error_code(error), error_message(error)
        instance = request["TransformResources"]["InstanceType"]
        if code in THROTTLING_CODES:
            raise JobThrottled(f"CreateTransformJob throttled: {message}") from None
        if code == "ResourceLimitExceeded":
            raise JobQuotaExceeded(
                f"no quota for {instance} in this account ({message}); request a Service Quotas increase for "
                f"'{instance} for transform job usage' or choose another TransformInstanceType"
            ) from None
        if code == "ValidationException":
            raise JobRequestRejected(f"{request['TransformJobName']}: {message}") from None
        raise


def write_scores(
    s3: Any, layout: RunLayout, dataset: DatasetRef, model: ModelInService, *, seconds: float | None = None
) -> dict[str, Any]:
    """Join the transform's answer to the orders by position, decide each, write the scores Parquet
    (`order_id, score, decision, model_version`) and the run's summary; returns the summary."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids_body = s3.get_object(Bucket=layout.bucket, Key=layout.key(f"{META}{ORDER_IDS_FILE}"))["Body"].read()
    ids = pq.read_table(io.BytesIO(ids_body))
    text = s3.get_object(Bucket=layout.bucket, Key=transform_output_key(layout))["Body"].read().decode("utf-8")
    scores, _ = parse_transform_output(text, ids.num_rows)
    decisions = decisions_of(scores, model.thresholds)
    table = pa.table(
        {
            ids.column_names[0]: ids.column(0),
            "score": pa.array(scores, pa.float64()),
            "decision": pa.array(decisions, pa.string()),
            "model_version": pa.array([model.model_version] * ids.num_rows, pa.int64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    key = scores_key(dataset)
    s3.put_object(Bucket=layout.bucket, Key=key, Body=sink.getvalue(), ContentType="application/x-parquet")
    document = summary(
        run_id=layout.run_id,
        dataset=dataset,
        scores_uri=f"s3://{layout.bucket}/{key}",
        model=model,
        decisions=decisions,
        scores=scores,
        seconds=seconds,
    )
    body = json.dumps(document, sort_keys=True, indent=2).encode("utf-8")
    s3.put_object(Bucket=layout.bucket, Key=layout.key(SUMMARY_FILE), Body=body, ContentType="application/json")
    return document
