"""A stack with a customer-managed KMS key, a VPC and network isolation, on the local cloud: the project's own
feature, training and transform requests and its model and endpoint-config requests, built with those settings, are
accepted and recorded, and the jobs and the endpoint run. Isolation is honoured where it changes what a container
needs: training gets its code from the `code` channel, and the model serves the code inside its model data even
though its package names a sourcedir that cannot be downloaded. (The key, the VPC and the isolation itself are not
enforced locally: a local process reaches the local S3 regardless.)"""

from __future__ import annotations

import io
import tarfile
from datetime import UTC, datetime

import pytest
from cd4ml_shared.aws.scoring import scoring_model_request
from cd4ml_shared.deployment import DeploymentSettings, endpoint_config_request, model_request
from cd4ml_shared.job_security import CODE_CHANNEL_SOURCEDIR, MODEL_CODE_DIRECTORY
from cd4ml_shared.jobs import JobSettings, features_request, scoring_features_request, training_request
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.scoring import ScoringSettings, transform_output_key, transform_request

from cd4ml.data import generate_orders
from cd4ml.data.orders import write_dataset
from cd4ml.localcloud import LocalCloud
from cd4ml.model_code import publish

pytestmark = pytest.mark.integration

BUCKET = "secure-artifacts"
ROLE = "arn:aws:iam::123456789012:role/sagemaker"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VPC = {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0a1b2c3d4e5f60718"]}
SECURITY = {
    "KMS_KEY_ID": KEY,
    "VPC_SUBNET_IDS": ",".join(VPC["Subnets"]),
    "VPC_SECURITY_GROUP_IDS": ",".join(VPC["SecurityGroupIds"]),
    "ENABLE_NETWORK_ISOLATION": "true",
}
JOBS = JobSettings.from_environment(
    {
        "ARTIFACTS_BUCKET": BUCKET,
        "SAGEMAKER_ROLE_ARN": ROLE,
        "CODE_VERSION": "secure",
        "TRAINING_IMAGE": IMAGE,
        "PROCESSING_IMAGE": IMAGE,
        "TRAINING_INSTANCE_TYPE": "ml.m5.xlarge",
        "USE_SPOT_TRAINING": "false",
        "HYPERPARAMETERS": '{"num_round": 20, "max_depth": 3, "early_stopping_rounds": 5}',
        **SECURITY,
    }
)
COMMON = {"ARTIFACTS_BUCKET": BUCKET, "SAGEMAKER_ROLE_ARN": ROLE, "MODEL_PACKAGE_GROUP": "secure-fraud", **SECURITY}
DEPLOYMENT = DeploymentSettings.from_environment(
    {
        **COMMON,
        "ENDPOINT_NAME": "secure-fraud",
        "INSTANCE_TYPE": "ml.m5.large",
        "INSTANCE_COUNT": "1",
        "CAPTURE_PERCENT": "100",
        "TRAFFIC_ROUTING": "CANARY",
        "TRAFFIC_STEP_PERCENT": "10",
        "BAKING_SECONDS": "1",
        "TERMINATION_WAIT_SECONDS": "0",
        "MAX_EXECUTION_SECONDS": "600",
    }
)
SCORING = ScoringSettings.from_environment({**COMMON, "ENDPOINT_NAME": "secure-fraud"})
LAYOUT = RunLayout(BUCKET, "orders-secure-1")
START = datetime(2026, 11, 1, tzinfo=UTC)
# What an isolated container could never download: if the model served the package's sourcedir, it would fail.
UNREACHABLE_SOURCEDIR = f"s3://{BUCKET}/code/not-published/sourcedir.tar.gz"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with LocalCloud() as cloud:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        publish(s3, BUCKET, JOBS.code_version)
        orders = tmp_path_factory.mktemp("orders") / "orders.csv"
        write_dataset(generate_orders(4_000, seed=3, start=START, days=14), orders)
        s3.put_object(Bucket=BUCKET, Key=LAYOUT.key("input/orders.csv"), Body=orders.read_bytes())
        yield cloud


def run_job(cloud: LocalCloud, kind: str, request: dict) -> dict:
    sagemaker = cloud.client("sagemaker")
    if kind == "processing":
        sagemaker.create_processing_job(**request)
        name = request["ProcessingJobName"]
    elif kind == "training":
        sagemaker.create_training_job(**request)
        name = request["TrainingJobName"]
    else:
        sagemaker.create_transform_job(**request)
        name = request["TransformJobName"]
    described = cloud.sagemaker_jobs.wait(name, kind, timeout=240)
    status = described.get("ProcessingJobStatus") or described.get("TrainingJobStatus")
    status = status or described.get("TransformJobStatus")
    assert status == "Completed", described.get("FailureReason") or described.get("ExitMessage")
    return described


@pytest.fixture(scope="module")
def features(cloud):
    request = features_request(JOBS, "secure-features-0", LAYOUT, LAYOUT.uri("input/orders.csv"))
    return run_job(cloud, "processing", request)


@pytest.fixture(scope="module")
def trained(cloud, features):
    return run_job(cloud, "training", training_request(JOBS, "secure-train-0", LAYOUT))


def test_a_processing_job_with_the_key_vpc_and_isolation_runs_and_records_them(cloud, features):
    assert features["ProcessingOutputConfig"]["KmsKeyId"] == KEY
    # moto 5.2.5's DescribeProcessingJob has no ProcessingResources: the request the job ran from has the volume key
    ran = cloud.sagemaker_jobs.job("secure-features-0", "processing").request
    assert ran["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KEY
    assert features["NetworkConfig"] == {
        "EnableInterContainerTrafficEncryption": True,
        "EnableNetworkIsolation": True,
        "VpcConfig": VPC,
    }


def test_an_isolated_training_job_takes_its_code_from_the_code_channel(cloud, trained):
    assert trained["EnableNetworkIsolation"] is True
    assert trained["VpcConfig"] == VPC
    assert trained["OutputDataConfig"]["KmsKeyId"] == KEY
    assert trained["ResourceConfig"]["VolumeKmsKeyId"] == KEY
    assert trained["HyperParameters"]["sagemaker_submit_directory"] == CODE_CHANNEL_SOURCEDIR
    assert "code" in [channel["ChannelName"] for channel in trained["InputDataConfig"]]


def test_the_trained_model_carries_its_serving_code(cloud, trained):
    bucket, key = trained["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        names = set(archive.getnames())
    assert {"xgboost-model.json", "code/inference.py", "code/cd4ml_model/inference.py"} <= names


@pytest.fixture(scope="module")
def package(cloud, trained):
    """The trained model registered with a sourcedir an isolated container could not fetch."""
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="secure-fraud")
    container = {
        "Image": IMAGE,
        "ModelDataUrl": trained["ModelArtifacts"]["S3ModelArtifacts"],
        "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": UNREACHABLE_SOURCEDIR},
    }
    return sagemaker.create_model_package(
        ModelPackageGroupName="secure-fraud",
        InferenceSpecification={
            "Containers": [container],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )["ModelPackageArn"]


@pytest.fixture(scope="module")
def scoring_features(cloud, features):
    """The orders' features as the transform's CSV (`scoring/features/features.csv`)."""
    return run_job(
        cloud, "processing", scoring_features_request(JOBS, "secure-scoring-0", LAYOUT, LAYOUT.uri("input/"))
    )


def test_an_isolated_batch_transform_scores_with_the_code_inside_the_model(cloud, package, scoring_features):
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(**scoring_model_request(SCORING, "secure-fraud-batch", package))
    model = sagemaker.describe_model(ModelName="secure-fraud-batch")
    assert model["VpcConfig"] == VPC  # moto 5.2.5 drops CreateModel's EnableNetworkIsolation from DescribeModel
    assert model["PrimaryContainer"]["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == MODEL_CODE_DIRECTORY

    request = transform_request(SCORING, "secure-batch-0", LAYOUT, "secure-fraud-batch", tags={})
    described = run_job(cloud, "transform", request)

    assert described["TransformOutput"]["KmsKeyId"] == KEY
    assert described["TransformResources"]["VolumeKmsKeyId"] == KEY
    answer = cloud.client("s3").get_object(Bucket=BUCKET, Key=transform_output_key(LAYOUT))["Body"].read().decode()
    lines = answer.splitlines()
    assert len(lines) == 4_000
    score, label = lines[0].split(",")
    assert 0.0 <= float(score) <= 1.0 and label in ("0", "1")


def test_an_isolated_endpoint_serves_the_code_inside_the_model(cloud, package, scoring_features):
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(**model_request(DEPLOYMENT, "secure-fraud-v1", package))
    sagemaker.create_endpoint_config(**endpoint_config_request(DEPLOYMENT, "secure-fraud-v1", "secure-fraud-v1"))
    config = sagemaker.describe_endpoint_config(EndpointConfigName="secure-fraud-v1")
    assert config["KmsKeyId"] == KEY and config["DataCaptureConfig"]["KmsKeyId"] == KEY

    sagemaker.create_endpoint(EndpointName="secure-fraud", EndpointConfigName="secure-fraud-v1")
    assert cloud.sagemaker_endpoints.wait("secure-fraud", timeout=120) == "InService", sagemaker.describe_endpoint(
        EndpointName="secure-fraud"
    ).get("FailureReason")
    features = cloud.client("s3").get_object(Bucket=BUCKET, Key=LAYOUT.key("scoring/features/features.csv"))
    row = features["Body"].read().decode().splitlines()[0]
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="secure-fraud", Body=row, ContentType="text/csv", Accept="text/csv"
    )
    score, _ = answer["Body"].read().decode().strip().split(",")
    assert 0.0 <= float(score) <= 1.0
    sagemaker.delete_endpoint(EndpointName="secure-fraud")
