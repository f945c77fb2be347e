"""The deployment's smoke test on the local cloud, with a real model: the training pipeline of template.yaml trains,
evaluates (writing the smoke rows) and registers a version; an endpoint created from that package runs the real
inference code and scores the smoke rows as the evaluation did; the same model served with its features in another
order fails the smoke test, though it answers 200 to every request."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cd4ml_shared.errors import SmokeTestFailed
from cd4ml_shared.s3_uri import parse_s3_uri
from quick_model import fast_training
from trained_model import DEV_APPROVED, describe_package, train

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
# Small, fast models (as test_training_pipeline.py); the gate's logic has its own tests.
PARAMETERS = {**DEV_APPROVED, **fast_training(num_round=40, max_depth=4, early_stopping_rounds=0)}


@dataclass(frozen=True)
class Context:
    function_name: str = "cd4ml-dev-SmokeTestFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:cd4ml-dev-SmokeTestFunction"
    aws_request_id: str = "0b9c3c0e-5a1d-4f3e-9a7b-5f1d2c3b4a59"


@pytest.fixture(scope="module")
def cloud(root: Path) -> Iterator[LocalCloud]:
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def registered(cloud: LocalCloud) -> dict[str, Any]:
    """A version the training pipeline trained, evaluated and registered, described."""
    return describe_package(cloud, train(cloud, seed=3))


@pytest.fixture(scope="module")
def smoke_test(cloud: LocalCloud) -> Iterator[ModuleType]:
    """functions/smoke_test/app.py loaded as Lambda loads it, its module-level clients bound to the local cloud."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**cloud.environment(), "POWERTOOLS_SERVICE_NAME": "smoke_test"}.items():
            patch.setenv(name, value)
        patch.setenv("POWERTOOLS_METRICS_NAMESPACE", "cd4ml")
        spec = importlib.util.spec_from_file_location("cd4ml_it_smoke_test", ROOT / "functions/smoke_test/app.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module


def serve(cloud: LocalCloud, name: str, container: dict[str, Any], capture_uri: str | None = None) -> None:
    """CreateModel, CreateEndpointConfig, CreateEndpoint, as the deployment workflow does; waits for InService."""
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    config: dict[str, Any] = {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
    }
    if capture_uri:
        config["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        }
    sagemaker.create_endpoint_config(**config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    cloud.sagemaker_endpoints.wait(name, timeout=60)
    description = sagemaker.describe_endpoint(EndpointName=name)
    assert description["EndpointStatus"] == "InService", description.get("FailureReason")


def captured_inference_ids(cloud: LocalCloud, bucket: str, prefix: str) -> list[str]:
    cloud.sagemaker_endpoints.flush()
    s3 = cloud.client("s3")
    ids = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        for line in s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().splitlines():
            ids.append(json.loads(line)["eventMetadata"].get("inferenceId"))
    return sorted(ids)


def test_the_endpoint_of_a_registered_version_scores_its_smoke_rows_as_the_evaluation_did(
    cloud: LocalCloud, registered: dict[str, Any], smoke_test: ModuleType
) -> None:
    bucket = cloud.physical_id("ArtifactsBucket")
    serve(
        cloud,
        "fraud-smoke-good",
        {"ModelPackageName": registered["ModelPackageArn"]},
        capture_uri=f"s3://{bucket}/capture",
    )

    result = smoke_test.handler(
        {"endpoint_name": "fraud-smoke-good", "model_package_arn": registered["ModelPackageArn"]}, Context()
    )

    assert result["passed"] is True and result["rows"] == 20
    assert result["max_abs_diff"] <= 1e-6
    # both requests (CSV rows, JSON instances) reached the model, tagged as smoke traffic in the capture
    tag = f"smoke-{Context.aws_request_id}"
    assert captured_inference_ids(cloud, bucket, "capture/fraud-smoke-good/") == [f"{tag}-1", f"{tag}-2"]


def with_features_reordered(cloud: LocalCloud, model_data_url: str) -> str:
    """The same model archive with two features of features.json swapped: a server that maps JSON names to the
    wrong columns, as a feature-order bug in a build would. Its URI."""
    s3 = cloud.client("s3")
    bucket, key = parse_s3_uri(model_data_url)
    packed = io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="r:gz") as original, tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in original.getmembers():
            data = original.extractfile(member).read() if member.isfile() else b""
            if member.name.lstrip("./") == "features.json":
                document = json.loads(data)
                names = document["features"]
                first, second = names.index("order_amount"), names.index("account_tenure_days")
                names[first], names[second] = names[second], names[first]
                data = json.dumps(document).encode()
                member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if member.isfile() else None)
    reordered = key.rsplit("/", 1)[0] + "/reordered/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=reordered, Body=buffer.getvalue())
    return f"s3://{bucket}/{reordered}"


def test_the_model_served_with_its_features_in_another_order_fails_the_smoke_test(
    cloud: LocalCloud, registered: dict[str, Any], smoke_test: ModuleType
) -> None:
    container = registered["InferenceSpecification"]["Containers"][0]
    serve(
        cloud,
        "fraud-smoke-reordered",
        {
            "Image": container["Image"],
            "ModelDataUrl": with_features_reordered(cloud, container["ModelDataUrl"]),
            "Environment": container["Environment"],
        },
    )
    # every request answers 200 with scores: only parity tells
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="fraud-smoke-reordered",
        Body=json.dumps({"instances": [{"order_amount": 10.0}]}),
        ContentType="application/json",
    )
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200

    with pytest.raises(SmokeTestFailed) as raised:
        smoke_test.handler(
            {"endpoint_name": "fraud-smoke-reordered", "model_package_arn": registered["ModelPackageArn"]}, Context()
        )

    message = str(raised.value)
    # CSV rows are positional and still agree; the JSON instances, by name, land in the swapped columns
    assert message.startswith("smoke test of endpoint fraud-smoke-reordered failed: row ")
    assert "for the application/json request, the evaluation" in message and "> 1e-06" in message
