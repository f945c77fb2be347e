"""RegisterModelFunction: a challenger that passed the gate becomes a model package version carrying its lineage;
a retried task finds the version it already registered instead of registering twice."""

import json

import boto3
import pytest
from cd4ml_shared.callbacks import job_of, success_output

GROUP = "cd4ml-dev-fraud"
ARTIFACTS = "cd4ml-dev-artifactsbucket-example"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.0-5"
CODE_SHA256 = "c0de" * 16
ENVIRONMENT = {
    "MODEL_PACKAGE_GROUP": GROUP,
    "MODEL_APPROVAL_STATUS": "PendingManualApproval",
    "ARTIFACTS_BUCKET": ARTIFACTS,
    "CODE_VERSION": "dev",
    "INFERENCE_IMAGE": IMAGE,
}


@pytest.fixture
def sagemaker(aws):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    s3.put_object(Bucket=ARTIFACTS, Key="code/dev/manifest.json", Body=json.dumps({"sha256": CODE_SHA256}).encode())
    s3.put_object(Bucket=ARTIFACTS, Key="code/dev/sourcedir.tar.gz", Body=b"published")  # what the model serves with
    client = boto3.client("sagemaker")
    client.create_model_package_group(ModelPackageGroupName=GROUP)
    return client


@pytest.fixture
def app(sagemaker, load_function):
    return load_function("register_model", ENVIRONMENT)


@pytest.fixture
def register_input(sample_event):
    """The Register task's input (its Parameters in the ASL): the run's dataset and the earlier tasks' results."""
    run = sample_event("training_pipeline_input.json")
    training_event = sample_event("sagemaker_training_job_completed.json")
    kind, _, _ = job_of(training_event["detail-type"], training_event["detail"])
    evaluation_uri = f"s3://{ARTIFACTS}/runs/{run['run_id']}/evaluation/evaluation.json"
    return {
        "run_id": run["run_id"],
        "execution_arn": f"arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:{run['run_id']}",
        "dataset": run["dataset"],
        "validation": {
            "passed": True,
            "sha256": "da7a" * 16,
            "rows": 20_000,
            "run_report_uri": f"s3://{ARTIFACTS}/runs/{run['run_id']}/quality.json",
        },
        "training": success_output(kind, training_event["detail"]),
        "gate": {"passed": True, "evaluation_uri": evaluation_uri, "metrics": {"pr_auc": 0.41, "auc": 0.93}},
    }


def test_a_passing_challenger_is_registered_with_its_lineage(app, sagemaker, register_input, context):
    result = app.handler(register_input, context)

    assert result == {
        "model_package_arn": f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/1",
        "version": 1,
        "approval_status": "PendingManualApproval",
    }
    package = sagemaker.describe_model_package(ModelPackageName=result["model_package_arn"])
    lineage = package["CustomerMetadataProperties"]
    assert lineage["cd4ml:run_id"] == register_input["run_id"]
    assert lineage["cd4ml:dataset_uri"] == "s3://cd4ml-dev-rawdatabucket-example/datasets/orders/2026-11-25/orders.csv"
    assert lineage["cd4ml:dataset_version"] == register_input["dataset"]["version_id"]
    assert lineage["cd4ml:code_version"] == "dev" and lineage["cd4ml:code_sha256"] == CODE_SHA256
    assert lineage["cd4ml:training_job_arn"] == register_input["training"]["job_arn"]
    assert lineage["hp:sagemaker_program"] == "train.py" and lineage["cd4ml:dataset_rows"] == "20000"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["Image"] == IMAGE and container["ModelDataUrl"] == register_input["training"]["model_uri"]
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == f"s3://{ARTIFACTS}/code/dev/sourcedir.tar.gz"


def test_a_retried_task_returns_the_version_it_already_registered(app, sagemaker, register_input, context):
    first = app.handler(register_input, context)

    again = app.handler(register_input, context)

    assert again == first
    assert len(sagemaker.list_model_packages(ModelPackageGroupName=GROUP)["ModelPackageSummaryList"]) == 1


def test_an_unversioned_dataset_is_traced_by_its_etag(app, sagemaker, register_input, context):
    register_input["dataset"]["version_id"] = None

    result = app.handler(register_input, context)

    lineage = sagemaker.describe_model_package(ModelPackageName=result["model_package_arn"])
    assert lineage["CustomerMetadataProperties"]["cd4ml:dataset_version"] == register_input["dataset"]["etag"]


def test_an_approval_status_the_registry_does_not_know_fails_at_cold_start(sagemaker, load_function):
    with pytest.raises(Exception) as raised:
        load_function("register_model", {**ENVIRONMENT, "MODEL_APPROVAL_STATUS": "Rejected"})

    assert type(raised.value).__name__ == "SettingsError"
    assert "MODEL_APPROVAL_STATUS must be one of Approved, PendingManualApproval" in str(raised.value)
