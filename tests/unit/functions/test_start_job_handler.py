"""StartJobFunction: a waiting task's payload becomes a stored token and a SageMaker job; a refused Create*Job call
becomes the named error the state machine retries (JobThrottled) or fails the run with."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from cd4ml_shared.errors import UnsupportedImage
from moto_world import create_token_table

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
TABLE = "cd4ml-dev-TaskTokenTable"
ENVIRONMENT = {
    "TOKEN_TABLE": TABLE,
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/cd4ml-dev-SageMakerExecutionRole",
    "CODE_VERSION": "dev",
    "TRAINING_IMAGE": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "PROCESSING_IMAGE": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5",
    "TRAINING_INSTANCE_TYPE": "ml.g5.xlarge",
    "PROCESSING_INSTANCE_TYPE": "ml.m5.xlarge",
    "USE_SPOT_TRAINING": "true",
    "TRAINING_MAX_RUNTIME": "3600",
    "PROCESSING_MAX_RUNTIME": "3600",
    "HYPERPARAMETERS": "{}",
}


@pytest.fixture
def run(sample_event):
    return sample_event("training_pipeline_input.json")


@pytest.fixture
def world(aws):
    """The token table and the artifacts bucket with the `dev` model code published."""
    create_token_table(TABLE)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key="code/dev/sourcedir.tar.gz", Body=b"published")
    publish_image("sagemaker-xgboost", "3.0-5")
    return boto3.resource("dynamodb").Table(TABLE)


def publish_image(repository: str, tag: str) -> None:
    """An image ECR holds (moto looks repositories up by name, whatever registry id the caller names)."""
    ecr = boto3.client("ecr")
    ecr.create_repository(repositoryName=repository)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"})
    ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)


@pytest.fixture
def app(world, load_function):
    return load_function("start_job", ENVIRONMENT)


def task(run: dict, kind: str, **extra) -> dict:
    """The Payload of the BuildFeatures / Train / Evaluate task (statemachines/training_pipeline.asl.json)."""
    timeout = run["timeouts"]["training" if kind == "train" else "processing"]
    payload = {
        "token": f"token-of-{kind}",
        "kind": kind,
        "attempt": 0,
        "run_id": run["run_id"],
        "job_prefix": run["job_prefix"],
        "timeout": timeout,
    }
    return {**payload, **extra}


def refuse(app, operation: str, code: str, message: str) -> Stubber:
    stub = Stubber(app.sagemaker)
    stub.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=400)
    stub.activate()
    return stub


def test_the_training_task_stores_its_token_then_starts_the_job(app, world, run, context):
    result = app.handler(task(run, "train"), context)

    name = f"{run['job_prefix']}-train-0"
    assert result == {"job_name": name, "job_arn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"}
    item = world.get_item(Key={"job_name": name})["Item"]
    assert item["token"] == "token-of-train" and item["kind"] == "training" and item["run_id"] == run["run_id"]
    described = app.sagemaker.describe_training_job(TrainingJobName=name)
    assert described["HyperParameters"]["sagemaker_submit_directory"] == f"s3://{ARTIFACTS}/code/dev/sourcedir.tar.gz"


def test_the_feature_task_starts_a_processing_job_named_after_its_retry(app, world, run, context):
    payload = task(run, "features", attempt=2, dataset_uri=f"s3://{ARTIFACTS}/runs/{run['run_id']}/dataset/orders.csv")

    result = app.handler(payload, context)

    name = f"{run['job_prefix']}-features-2"
    assert result["job_name"] == name and result["job_arn"].endswith(f":processing-job/{name}")
    assert world.get_item(Key={"job_name": name})["Item"]["kind"] == "processing"


@pytest.mark.parametrize("code", ["ThrottlingException", "Throttling", "TooManyRequestsException"])
def test_a_throttled_create_call_is_job_throttled_which_the_task_retries(app, world, run, context, root, code):
    refuse(app, "create_training_job", code, "Rate exceeded")

    with pytest.raises(Exception) as raised:
        app.handler(task(run, "train"), context)

    assert type(raised.value).__name__ == "JobThrottled"
    assert str(raised.value) == "CreateJob throttled: Rate exceeded"
    assert "Item" not in world.get_item(Key={"job_name": f"{run['job_prefix']}-train-0"})  # no job, no token
    states = json.loads((root / "statemachines" / "training_pipeline.asl.json").read_text())["States"]
    for step in ("BuildFeatures", "Train", "Evaluate"):
        assert any("JobThrottled" in retry["ErrorEquals"] for retry in states[step]["Retry"]), step


def test_an_exhausted_instance_quota_is_job_quota_exceeded_naming_the_quota_to_raise(app, world, run, context):
    message = "The account-level service limit 'ml.g5.xlarge for spot training job usage' is 0 Instances"
    refuse(app, "create_training_job", "ResourceLimitExceeded", message)

    with pytest.raises(Exception) as raised:
        app.handler(task(run, "train"), context)

    assert type(raised.value).__name__ == "JobQuotaExceeded"
    assert str(raised.value) == (
        f"no quota for ml.g5.xlarge in this account ({message}); request a Service Quotas increase for "
        "'ml.g5.xlarge for spot training job usage' or choose another instance type parameter"
    )
    assert "Item" not in world.get_item(Key={"job_name": f"{run['job_prefix']}-train-0"})


def test_a_processing_quota_names_the_processing_instance_without_spot(app, run, context):
    refuse(app, "create_processing_job", "ResourceLimitExceeded", "limit 0")

    with pytest.raises(Exception) as raised:
        app.handler(task(run, "evaluate", model_uri=f"s3://{ARTIFACTS}/model.tar.gz"), context)

    assert type(raised.value).__name__ == "JobQuotaExceeded"
    assert "'ml.m5.xlarge for processing job usage'" in str(raised.value)


def test_an_invalid_request_is_job_request_rejected_with_the_job_name(app, world, run, context):
    refuse(app, "create_training_job", "ValidationException", "RoleArn is not valid")

    with pytest.raises(Exception) as raised:
        app.handler(task(run, "train"), context)

    assert type(raised.value).__name__ == "JobRequestRejected"
    assert str(raised.value) == f"{run['job_prefix']}-train-0: RoleArn is not valid"


def test_any_other_aws_error_reaches_the_state_machine_as_it_is_and_removes_the_token(app, world, run, context):
    refuse(app, "create_training_job", "AccessDeniedException", "not allowed")

    with pytest.raises(ClientError) as raised:
        app.handler(task(run, "train"), context)

    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "Item" not in world.get_item(Key={"job_name": f"{run['job_prefix']}-train-0"})


def test_unpublished_model_code_is_model_code_missing_naming_the_publish_command(app, world, run, context):
    boto3.client("s3").delete_object(Bucket=ARTIFACTS, Key="code/dev/sourcedir.tar.gz")

    with pytest.raises(Exception) as raised:
        app.handler(task(run, "train"), context)

    assert type(raised.value).__name__ == "ModelCodeMissing"
    assert str(raised.value) == (
        f"model code version 'dev' is not published: s3://{ARTIFACTS}/code/dev/sourcedir.tar.gz does not exist "
        f"(run `cd4ml model publish --bucket {ARTIFACTS} --version dev`)"
    )
    assert "Item" not in world.get_item(Key={"job_name": f"{run['job_prefix']}-train-0"})  # checked before storing


def test_an_unknown_kind_is_refused_before_anything_is_stored(app, world, run, context):
    with pytest.raises(ValueError, match="unknown job kind 'predict'"):
        app.handler(task(run, "predict"), context)
    assert world.scan()["Items"] == []


@pytest.mark.parametrize(
    ("image", "failure"),
    [
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:9.9-9", "ImageNotFound"),
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/no-such-repository:1", "RepositoryNotFoundException"),
    ],
)
def test_an_image_ecr_does_not_hold_fails_the_job_start_before_anything_is_created(
    world, load_function, run, context, image, failure
):
    app = load_function("start_job", {**ENVIRONMENT, "TRAINING_IMAGE": image})

    dataset = f"s3://{ARTIFACTS}/runs/{run['run_id']}/dataset/orders.csv"
    with pytest.raises(UnsupportedImage) as refused:
        app.handler(task(run, "features", dataset_uri=dataset), context)

    assert str(refused.value).startswith(f"TrainingImageUri {image!r}: {failure}")
    assert "ProcessingImageUri" not in str(refused.value)  # the processing image is there
    assert boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []
    assert world.scan()["Items"] == []
