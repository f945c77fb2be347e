"""Failures a person can act on: registration names the published code file that is missing, and a run whose
notification could not be published is recorded as such and ends in `NotificationFailed` instead of in silence."""

import json

import boto3
import pytest
from cd4ml_shared.errors import ModelCodeMissing, NotificationFailed, UnsupportedImage
from cd4ml_shared.images import image_problem
from moto_world import create_token_table

ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline"


@pytest.fixture
def register_input(sample_event):
    """The Register task's Parameters for the sample run, its training result from the sample job event."""
    run = sample_event("training_pipeline_input.json")
    detail = sample_event("sagemaker_training_job_completed.json")["detail"]
    return {
        "run_id": run["run_id"],
        "execution_arn": STATE_MACHINE.replace(":stateMachine:", ":execution:") + f":{run['run_id']}",
        "dataset": run["dataset"],
        "validation": {"passed": True, "sha256": "da7a" * 16, "rows": 20_000, "run_report_uri": "s3://a/q.json"},
        "training": {
            "job_arn": detail["TrainingJobArn"],
            "model_uri": detail["ModelArtifacts"]["S3ModelArtifacts"],
            "hyperparameters": detail["HyperParameters"],
        },
        "gate": {"passed": True, "evaluation_uri": "s3://a/evaluation.json", "metrics": {"pr_auc": 0.41}},
    }


@pytest.fixture
def register(aws, load_function):
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName="cd4ml-dev-fraud")
    environment = {
        "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",
        "MODEL_APPROVAL_STATUS": "Approved",
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "CODE_VERSION": "dev",
        "INFERENCE_IMAGE": IMAGE,
    }
    return load_function("register_model", environment)


@pytest.mark.parametrize(
    ("published", "missing"),
    [({}, "code/dev/sourcedir.tar.gz"), ({"code/dev/sourcedir.tar.gz": b"code"}, "code/dev/manifest.json")],
)
def test_registration_names_the_code_file_that_is_not_published(register, register_input, context, published, missing):
    for key, body in published.items():
        boto3.client("s3").put_object(Bucket=ARTIFACTS, Key=key, Body=body)

    with pytest.raises(ModelCodeMissing) as raised:
        register.handler(register_input, context)

    message = str(raised.value)
    assert f"s3://{ARTIFACTS}/{missing} does not exist" in message
    assert f"cd4ml model publish --bucket {ARTIFACTS} --version dev" in message
    assert (
        boto3.client("sagemaker").list_model_packages(ModelPackageGroupName="cd4ml-dev-fraud")[
            "ModelPackageSummaryList"
        ]
        == []
    )


@pytest.fixture
def record_outcome(aws, load_function):
    boto3.client("s3").create_bucket(Bucket=ARTIFACTS)
    # a topic that is not there: publishing fails as it does when the topic is deleted or its key is disabled
    environment = {
        "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:cd4ml-dev-deleted-topic",
        "STATE_MACHINE_ARN": STATE_MACHINE,
        "JOB_NAME_PREFIX": "cd4ml-1a2b3c4d",
    }
    return load_function("record_outcome", environment)


def test_a_notification_that_cannot_be_published_fails_the_run_after_its_outcome_is_recorded(
    record_outcome, register_input, sample_event, context
):
    run = sample_event("training_pipeline_input.json")
    registration = {"model_package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1", "version": 1}
    state = {**run, "validation": register_input["validation"], "registration": registration}
    event = {"status": "succeeded", "state": state, "execution_arn": register_input["execution_arn"]}

    with pytest.raises(NotificationFailed, match=r"nobody was told: publishing to arn:aws:sns:.*deleted-topic"):
        record_outcome.handler(event, context)

    body = boto3.client("s3").get_object(Bucket=ARTIFACTS, Key=f"runs/{run['run_id']}/outcome.json")["Body"].read()
    outcome = json.loads(body)
    assert outcome["status"] == "succeeded" and outcome["model_package_arn"] == registration["model_package_arn"]
    assert "NotFound" in outcome["notification_error"]
    boto3.client("s3").head_object(Bucket=ARTIFACTS, Key=f"runs/{run['run_id']}/report.html")


TOKENS = "cd4ml-dev-TaskTokenTable"


@pytest.fixture
def start_job(aws, load_function):
    """StartJobFunction with the code published and a training image from another region than the jobs'."""
    create_token_table(TOKENS)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key="code/dev/sourcedir.tar.gz", Body=b"published")
    environment = {
        "TOKEN_TABLE": TOKENS,
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/cd4ml-dev-SageMakerExecutionRole",
        "CODE_VERSION": "dev",
        "TRAINING_IMAGE": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:3.0-5",
        "PROCESSING_IMAGE": IMAGE,
    }
    return load_function("start_job", environment)


def test_a_training_image_that_cannot_run_fails_the_first_job_before_it_starts(start_job, sample_event, context):
    run = sample_event("training_pipeline_input.json")
    features = {
        "token": "token-of-features",
        "kind": "features",
        "attempt": 0,
        "run_id": run["run_id"],
        "job_prefix": run["job_prefix"],
        "timeout": run["timeouts"]["processing"],
        "dataset_uri": f"s3://{ARTIFACTS}/runs/{run['run_id']}/dataset/orders.csv",
    }

    with pytest.raises(
        UnsupportedImage, match=r"^TrainingImageUri '141502667606\.dkr\.ecr\.eu-west-1.*' is in eu-west-1"
    ):
        start_job.handler(features, context)

    assert boto3.client("sagemaker").list_processing_jobs()["ProcessingJobSummaries"] == []
    assert boto3.resource("dynamodb").Table(TOKENS).scan()["Items"] == []


def test_an_image_that_is_not_from_ecr_is_named_with_what_sagemaker_needs():
    assert image_problem("ProcessingImageUri", "python:3.11-slim", "us-east-1") == (
        "ProcessingImageUri 'python:3.11-slim' is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/"
        "<repository>:<tag>): SageMaker runs jobs only from ECR images"
    )
    assert image_problem("TrainingImageUri", IMAGE, "us-east-1") is None
    digest = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team/cd4ml-model@sha256:" + "a" * 64
    assert image_problem("TrainingImageUri", digest, "us-east-1") is None


@pytest.mark.parametrize(
    "image, region",
    [
        ("450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:3.0-5", "cn-north-1"),
        ("833128469047.dkr.ecr.us-iso-east-1.c2s.ic.gov/sagemaker-xgboost:3.0-5", "us-iso-east-1"),
    ],
)
def test_the_framework_image_of_every_partition_is_an_ecr_image(image, region):
    assert image_problem("TrainingImageUri", image, region) is None
    assert "leave the parameter empty" in (image_problem("TrainingImageUri", image, "eu-west-1") or "")
