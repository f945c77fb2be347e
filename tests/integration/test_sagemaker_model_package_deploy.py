"""A registered model deploys the standard way on the local cloud: CreateModel from a model package (by ARN, as
PrimaryContainer or Containers), an endpoint config, an endpoint that serves the package's container; a model
package that does not exist is refused at CreateModel."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

CODE = Path(__file__).parent / "fixtures" / "model_package" / "code"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
BUCKET = "registered-models"
GROUP = "fraud-models"


def model_archive(weights: list[float], bias: float) -> bytes:
    """A model.tar.gz as SageMaker training writes it: the weights, and the inference script under code/."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(CODE, arcname="code")
        data = json.dumps({"weights": weights, "bias": bias}).encode("utf-8")
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def register(cloud: LocalCloud, version: str, weights: list[float], bias: float) -> str:
    """Register a version in the group, as the training pipeline's register step does; its ARN."""
    key = f"models/{version}/model.tar.gz"
    cloud.client("s3").put_object(Bucket=BUCKET, Key=key, Body=model_archive(weights, bias))
    arn: str = cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataUrl": f"s3://{BUCKET}/{key}",
                    "Environment": {"PACKAGE_ONLY": "from-package", "BOTH": "from-package"},
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    return arn


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as cloud:
        cloud.client("s3").create_bucket(Bucket=BUCKET)
        cloud.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
        yield cloud


@pytest.fixture(scope="module")
def packages(cloud: LocalCloud) -> list[str]:
    return [register(cloud, "v1", [1.0, 2.0], 0.5), register(cloud, "v2", [10.0, 0.0], 0.0)]


def serve(cloud: LocalCloud, name: str, model: str, timeout: float = 30.0) -> dict[str, Any]:
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + timeout
    while True:
        description: dict[str, Any] = sagemaker.describe_endpoint(EndpointName=name)
        if description["EndpointStatus"] != "Creating":
            return description
        assert time.monotonic() < deadline, f"endpoint {name} still Creating"
        time.sleep(0.05)


def score(cloud: LocalCloud, endpoint: str, rows: str) -> dict[str, Any]:
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(EndpointName=endpoint, Body=rows, ContentType="text/csv")
    result: dict[str, Any] = json.loads(answer["Body"].read())
    return result


def test_a_model_created_from_a_package_as_primary_container_serves_the_packages_model(
    cloud: LocalCloud, packages: list[str]
) -> None:
    sagemaker = cloud.client("sagemaker")
    container = {"ModelPackageName": packages[0], "Environment": {"MODEL_ONLY": "from-model", "BOTH": "from-model"}}
    sagemaker.create_model(ModelName="champion-v1", ExecutionRoleArn=ROLE, PrimaryContainer=container)

    description = serve(cloud, "champion-primary", "champion-v1")

    assert description["EndpointStatus"] == "InService", description.get("FailureReason")
    assert description["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == IMAGE
    # DescribeModel shows the container as it was given, as AWS does
    assert sagemaker.describe_model(ModelName="champion-v1")["PrimaryContainer"]["ModelPackageName"] == packages[0]
    assert score(cloud, "champion-primary", "1,2\n0,0") == {
        "scores": [5.5, 0.5],
        # the package's environment, with the model's own merged over it
        "environment": {"PACKAGE_ONLY": "from-package", "MODEL_ONLY": "from-model", "BOTH": "from-model"},
    }


def test_a_model_created_from_a_package_in_containers_serves_that_version(
    cloud: LocalCloud, packages: list[str]
) -> None:
    cloud.client("sagemaker").create_model(
        ModelName="champion-v2", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": packages[1]}]
    )

    description = serve(cloud, "champion-containers", "champion-v2")

    assert description["EndpointStatus"] == "InService", description.get("FailureReason")
    assert score(cloud, "champion-containers", "1,2") == {
        "scores": [10.0],
        "environment": {"PACKAGE_ONLY": "from-package", "MODEL_ONLY": None, "BOTH": "from-package"},
    }


def test_an_unknown_model_package_is_refused_at_create_model(cloud: LocalCloud, packages: list[str]) -> None:
    missing = packages[0].rsplit("/", 1)[0] + "/99"
    with pytest.raises(ClientError) as refused:
        cloud.client("sagemaker").create_model(
            ModelName="ghost", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": missing}
        )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert missing in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        cloud.client("sagemaker").describe_model(ModelName="ghost")


def test_a_group_name_is_not_a_model_package(cloud: LocalCloud, packages: list[str]) -> None:
    with pytest.raises(ClientError) as refused:
        cloud.client("sagemaker").create_model(
            ModelName="latest", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": GROUP}]
        )

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "model package group" in refused.value.response["Error"]["Message"]


def test_a_transform_job_of_a_model_from_a_package_runs_the_packages_container(
    cloud: LocalCloud, packages: list[str]
) -> None:
    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    s3.put_object(Bucket=BUCKET, Key="scoring/day1/rows.csv", Body=b"1,2\n0,0\n")
    sagemaker.create_model(
        ModelName="batch-v1",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"ModelPackageName": packages[0], "Environment": {"MODEL_ONLY": "from-model"}},
    )
    sagemaker.create_transform_job(
        TransformJobName="batch-v1-day1",
        ModelName="batch-v1",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/scoring/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/scores", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )

    result = cloud.sagemaker_jobs.wait("batch-v1-day1", kind="transform")

    assert result["TransformJobStatus"] == "Completed", result.get("FailureReason")
    out = s3.get_object(Bucket=BUCKET, Key="scores/day1/rows.csv.out")["Body"].read().decode()
    environment = {"PACKAGE_ONLY": "from-package", "MODEL_ONLY": "from-model", "BOTH": "from-package"}
    # MultiRecord (the default strategy): both rows in one request
    assert [json.loads(line) for line in out.splitlines()] == [{"scores": [5.5, 0.5], "environment": environment}]
