"""The SageMaker Model Registry on the local cloud: versions, approvals and their events, the champion."""

import json
import time
from pathlib import Path

import pytest
from cd4ml_shared.aws.registry import latest_approved

from cd4ml.localcloud import LocalCloud

TEMPLATE = Path(__file__).parent / "stacks" / "registry" / "template.yaml"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


@pytest.fixture(scope="module")
def cloud():
    with LocalCloud.deployed(TEMPLATE) as cloud:
        yield cloud


def _register(cloud, status, auc):
    return cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=cloud.physical_id("FraudModels"),
        ModelApprovalStatus=status,
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {"ContentType": "application/json", "S3Uri": "s3://artifacts/evaluation.json"}
            }
        },
        CustomerMetadataProperties={"pr_auc": str(auc), "dataset_sha256": "ab" * 32},
    )["ModelPackageArn"]


def _events(cloud, expected, timeout=10.0):
    sqs = cloud.client("sqs")
    url = cloud.physical_id("PackageEvents")
    events, deadline = [], time.monotonic() + timeout
    while len(events) < expected and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            events.append(json.loads(message["Body"]))
    return events


def test_registration_and_approval_emit_model_package_events_and_move_the_champion(cloud):
    sagemaker = cloud.client("sagemaker")
    group = cloud.physical_id("FraudModels")
    first = _register(cloud, "Approved", 0.81)
    second = _register(cloud, "PendingManualApproval", 0.84)

    created = _events(cloud, 2)
    assert [(e["detail"]["ModelPackageVersion"], e["detail"]["ModelApprovalStatus"]) for e in created] == [
        (1, "Approved"),
        (2, "PendingManualApproval"),
    ]
    assert created[0]["source"] == "aws.sagemaker" and created[0]["resources"] == [first]
    assert created[0]["detail"]["ModelPackageGroupName"] == group
    assert isinstance(created[0]["detail"]["CreationTime"], int)  # epoch millis, as SageMaker's events carry
    assert latest_approved(sagemaker, group)["ModelPackageArn"] == first

    sagemaker.update_model_package(ModelPackageArn=second, ModelApprovalStatus="Approved")

    [approved] = _events(cloud, 1)
    assert approved["detail"]["ModelPackageArn"] == second
    assert approved["detail"]["ModelApprovalStatus"] == "Approved"
    champion = latest_approved(sagemaker, group)
    assert champion["ModelPackageArn"] == second
    # an approval must not wipe the lineage the package was registered with
    assert champion["CustomerMetadataProperties"] == {"pr_auc": "0.84", "dataset_sha256": "ab" * 32}
    assert champion["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://artifacts/evaluation.json"


def test_an_update_that_does_not_change_approval_emits_nothing(cloud):
    arn = _register(cloud, "PendingManualApproval", 0.5)
    _events(cloud, 1)
    cloud.client("sagemaker").update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"reviewed_by": "ops"}
    )
    assert _events(cloud, 1, timeout=2) == []
    described = cloud.client("sagemaker").describe_model_package(ModelPackageName=arn)
    assert described["CustomerMetadataProperties"] == {
        "pr_auc": "0.5",
        "dataset_sha256": "ab" * 32,
        "reviewed_by": "ops",
    }


def test_a_group_without_approved_versions_has_no_champion(cloud):
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="empty-group")
    assert latest_approved(sagemaker, "empty-group") is None
