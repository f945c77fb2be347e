"""Which model a scoring run uses, against a SageMaker that answers like AWS: the endpoint's config's model while
the endpoint serves (its version read from the model's package), else the newest approved version's model, created
once under the deployment workflow's name; neither is `NoModelInService`, naming what to do."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cd4ml_shared.aws.scoring import model_in_service
from cd4ml_shared.scoring import NoModelInService, ScoringSettings

GROUP = "cd4ml-dev-fraud"
PACKAGE = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/"
SETTINGS = ScoringSettings.from_environment(
    {
        "ARTIFACTS_BUCKET": "artifacts",
        "ENDPOINT_NAME": "cd4ml-dev-fraud",
        "MODEL_PACKAGE_GROUP": GROUP,
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sm",
        "REVIEW_BELOW": "0.5",
        "DECLINE_ABOVE": "0",
    }
)
EVALUATION = {"binary_classification_metrics": {"threshold": {"value": 0.4}}}


def missing(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "ValidationException", "Message": "Could not find"}}, operation)


class SageMaker:
    """Answers the calls model_in_service makes, from plain dictionaries (keyword names as boto3 spells them)."""

    def __init__(self, endpoint: dict[str, Any] | None, approved: list[int]) -> None:
        self.endpoint = endpoint
        self.approved = approved
        self.models: dict[str, dict[str, Any]] = {
            "cd4ml-dev-fraud-v2": {"PrimaryContainer": {"ModelPackageName": PACKAGE + "2"}}
        }
        self.created: list[dict[str, Any]] = []

    def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:
        if self.endpoint is None:
            raise missing("DescribeEndpoint")
        return self.endpoint

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:
        return {"ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": EndpointConfigName}]}

    def describe_model(self, ModelName: str) -> dict[str, Any]:
        if ModelName not in self.models:
            raise missing("DescribeModel")
        return self.models[ModelName]

    def create_model(self, **request: Any) -> dict[str, Any]:
        self.created.append(request)
        self.models[request["ModelName"]] = {"PrimaryContainer": request["PrimaryContainer"]}
        return {"ModelArn": "arn:model"}

    def list_model_packages(self, **request: Any) -> dict[str, Any]:
        assert request["ModelApprovalStatus"] == "Approved" and request["SortOrder"] == "Descending"
        newest = sorted(self.approved, reverse=True)[: request["MaxResults"]]
        return {"ModelPackageSummaryList": [{"ModelPackageArn": PACKAGE + str(v)} for v in newest]}

    def describe_model_package(self, ModelPackageName: str) -> dict[str, Any]:
        uri = f"s3://artifacts/runs/r/evaluation/{ModelPackageName.rsplit('/', 1)[-1]}/evaluation.json"
        return {"ModelMetrics": {"ModelQuality": {"Statistics": {"S3Uri": uri}}}}


class S3:
    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(json.dumps(EVALUATION).encode())}


def test_the_endpoints_model_is_used_while_it_serves():
    sagemaker = SageMaker({"EndpointStatus": "InService", "EndpointConfigName": "cd4ml-dev-fraud-v2"}, [2, 3])

    model = model_in_service(sagemaker, S3(), SETTINGS)

    assert (model.model_name, model.model_version, model.source) == ("cd4ml-dev-fraud-v2", 2, "endpoint")
    assert model.thresholds.operating_point == 0.4 and model.thresholds.review == pytest.approx(0.2)
    assert sagemaker.created == []  # version 3 is approved but not in service: not used


def test_without_an_endpoint_the_newest_approved_version_is_used_and_its_model_made_once():
    sagemaker = SageMaker(None, [1, 3, 2])

    first = model_in_service(sagemaker, S3(), SETTINGS)
    again = model_in_service(sagemaker, S3(), SETTINGS)

    assert (first.model_name, first.model_version, first.source) == ("cd4ml-dev-fraud-v3", 3, "registry")
    assert again == first
    (created,) = sagemaker.created
    assert created["PrimaryContainer"] == {"ModelPackageName": PACKAGE + "3"}
    assert created["ExecutionRoleArn"] == "arn:aws:iam::123456789012:role/sm"


def test_a_failed_endpoint_is_not_in_service():
    sagemaker = SageMaker({"EndpointStatus": "Failed", "EndpointConfigName": "cd4ml-dev-fraud-v2"}, [1])

    assert model_in_service(sagemaker, S3(), SETTINGS).source == "registry"


def test_no_endpoint_and_no_approved_version_is_no_model_in_service():
    with pytest.raises(NoModelInService, match="has no approved version: approve one"):
        model_in_service(SageMaker(None, []), S3(), SETTINGS)
