"""The state format of `LocalCloud(state_dir=...)`: a snapshot round-trips S3 versions, DynamoDB items and the model
registry through moto's backends; another stack's state, another format version or a damaged snapshot is refused;
a failed save leaves the last complete snapshot current."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cd4ml.localcloud.deploy.base import DeployedResource, Stack
from cd4ml.localcloud.state import CURRENT, VERSION, Backends, StateDir, StateError

ACCOUNT, REGION = "123456789012", "us-east-1"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def stack(name: str = "cd4ml") -> Stack:
    result = Stack(name, REGION, {})
    result.resources = {
        "Raw": DeployedResource("Raw", "AWS::S3::Bucket", f"{name}-raw", f"{name}-raw"),
        "Tokens": DeployedResource("Tokens", "AWS::DynamoDB::Table", f"{name}-tokens", f"{name}-tokens"),
    }
    return result


def create_resources(name: str = "cd4ml") -> None:
    """What deploying the stack creates: an empty versioned bucket, an empty table, the registry group."""
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=f"{name}-raw")
    boto3.client("s3", region_name=REGION).put_bucket_versioning(
        Bucket=f"{name}-raw", VersioningConfiguration={"Status": "Enabled"}
    )
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=f"{name}-tokens",
        KeySchema=[{"AttributeName": "job", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("sagemaker", region_name=REGION).create_model_package_group(ModelPackageGroupName=f"{name}-fraud")


def backends() -> Backends:
    return Backends.of(ACCOUNT, REGION, boto3.client("dynamodb", region_name=REGION))


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def reset_moto() -> None:
    """A restart: moto's backends emptied, as LocalCloud.stop leaves them."""
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()


def populate() -> dict[str, Any]:
    s3 = boto3.client("s3", region_name=REGION)
    first = s3.put_object(Bucket="cd4ml-raw", Key="datasets/orders/a.csv", Body=b"v1", ContentType="text/csv")
    second = s3.put_object(
        Bucket="cd4ml-raw",
        Key="datasets/orders/a.csv",
        Body=b"v2",
        ContentType="text/csv",
        Metadata={"dataset": "orders"},
        Tagging="stage=raw",
    )
    checked = s3.put_object(Bucket="cd4ml-raw", Key="model.tar.gz", Body=b"weights", ChecksumAlgorithm="SHA256")
    s3.put_object(Bucket="cd4ml-raw", Key="gone.txt", Body=b"x")
    s3.delete_object(Bucket="cd4ml-raw", Key="gone.txt")
    boto3.client("dynamodb", region_name=REGION).put_item(
        TableName="cd4ml-tokens", Item={"job": {"S": "train-1"}, "token": {"B": b"\x00\xff"}, "n": {"N": "3"}}
    )
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    packages = [
        sagemaker.create_model_package(
            ModelPackageGroupName="cd4ml-fraud",
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://cd4ml-raw/models/{n}/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            CustomerMetadataProperties={"pr_auc": str(0.8 + n / 100)},
        )["ModelPackageArn"]
        for n in (1, 2)
    ]
    sagemaker.update_model_package(ModelPackageArn=packages[1], ModelApprovalStatus="Approved")
    return {
        "versions": [first["VersionId"], second["VersionId"]],
        "packages": packages,
        "checksum": checked["ChecksumSHA256"],
    }


def test_a_snapshot_round_trips_objects_items_and_the_registry(aws: None, tmp_path: Path) -> None:
    create_resources()
    made = populate()
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    before = [sagemaker.describe_model_package(ModelPackageName=arn) for arn in made["packages"]]
    StateDir(tmp_path).save(stack(), backends(), ACCOUNT, REGION)

    reset_moto()
    create_resources()
    snapshot = StateDir(tmp_path).load("cd4ml", REGION)
    assert snapshot is not None
    counts = snapshot.restore(stack(), backends())

    assert counts == {"objects": 5, "items": 1, "model_package_groups": 1, "model_packages": 2}
    s3 = boto3.client("s3", region_name=REGION)
    versions = s3.list_object_versions(Bucket="cd4ml-raw", Prefix="datasets/")["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted(made["versions"])
    latest = s3.get_object(Bucket="cd4ml-raw", Key="datasets/orders/a.csv")
    assert (latest["Body"].read(), latest["VersionId"]) == (b"v2", made["versions"][1])
    assert (latest["ContentType"], latest["Metadata"]) == ("text/csv", {"dataset": "orders"})
    old = s3.get_object(Bucket="cd4ml-raw", Key="datasets/orders/a.csv", VersionId=made["versions"][0])
    assert old["Body"].read() == b"v1"
    tags = s3.get_object_tagging(Bucket="cd4ml-raw", Key="datasets/orders/a.csv")["TagSet"]
    assert tags == [{"Key": "stage", "Value": "raw"}]
    head = s3.head_object(Bucket="cd4ml-raw", Key="model.tar.gz", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == made["checksum"]
    with pytest.raises(s3.exceptions.NoSuchKey):  # the delete marker is back on top
        s3.get_object(Bucket="cd4ml-raw", Key="gone.txt")
    [item] = boto3.client("dynamodb", region_name=REGION).scan(TableName="cd4ml-tokens")["Items"]
    assert item == {"job": {"S": "train-1"}, "token": {"B": b"\x00\xff"}, "n": {"N": "3"}}
    after = [sagemaker.describe_model_package(ModelPackageName=arn) for arn in made["packages"]]
    for answer in before + after:
        answer.pop("ResponseMetadata")
    assert after == before  # same ARNs, versions, approval, metadata, creation times
    listed = sagemaker.list_model_packages(ModelPackageGroupName="cd4ml-fraud", ModelApprovalStatus="Approved")
    assert [p["ModelPackageArn"] for p in listed["ModelPackageSummaryList"]] == [made["packages"][1]]
    # the next registration continues the numbering
    third = sagemaker.create_model_package(
        ModelPackageGroupName="cd4ml-fraud",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    assert third.endswith("/cd4ml-fraud/3")


def test_nothing_saved_yet_restores_nothing(tmp_path: Path) -> None:
    assert StateDir(tmp_path / "new").load("cd4ml", REGION) is None


def test_another_stacks_state_is_refused(aws: None, tmp_path: Path) -> None:
    create_resources("other")
    StateDir(tmp_path).save(stack("other"), backends(), ACCOUNT, REGION)

    with pytest.raises(StateError, match="stack 'other', not 'cd4ml'"):
        StateDir(tmp_path).load("cd4ml", REGION)


def test_a_state_of_another_region_is_refused(aws: None, tmp_path: Path) -> None:
    create_resources()
    StateDir(tmp_path).save(stack(), backends(), ACCOUNT, REGION)

    with pytest.raises(StateError, match="region 'us-east-1', not 'eu-west-1'"):
        StateDir(tmp_path).load("cd4ml", "eu-west-1")


def test_a_snapshot_that_lost_an_object_body_is_refused_before_anything_is_restored(aws: None, tmp_path: Path) -> None:
    create_resources()
    populate()
    snapshot_dir = StateDir(tmp_path).save(stack(), backends(), ACCOUNT, REGION)
    next((snapshot_dir / "objects").iterdir()).unlink()
    reset_moto()
    create_resources()
    snapshot = StateDir(tmp_path).load("cd4ml", REGION)
    assert snapshot is not None

    with pytest.raises(StateError, match="lacks the bodies of s3://cd4ml-raw/"):
        snapshot.restore(stack(), backends())
    assert boto3.client("dynamodb", region_name=REGION).scan(TableName="cd4ml-tokens")["Items"] == []


def test_another_format_version_is_refused(aws: None, tmp_path: Path) -> None:
    create_resources()
    snapshot = StateDir(tmp_path).save(stack(), backends(), ACCOUNT, REGION)
    document = json.loads((snapshot / "state.json").read_text())
    document["version"] = VERSION + 1
    (snapshot / "state.json").write_text(json.dumps(document))

    with pytest.raises(StateError, match=f"format version {VERSION + 1}"):
        StateDir(tmp_path).load("cd4ml", REGION)


def test_a_state_whose_bucket_the_stack_no_longer_has_is_refused(aws: None, tmp_path: Path) -> None:
    create_resources()
    populate()
    StateDir(tmp_path).save(stack(), backends(), ACCOUNT, REGION)
    reset_moto()
    create_resources()
    smaller = stack()
    del smaller.resources["Raw"]
    snapshot = StateDir(tmp_path).load("cd4ml", REGION)
    assert snapshot is not None

    with pytest.raises(StateError, match="no longer has cd4ml-raw"):
        snapshot.restore(smaller, backends())


def test_a_failed_save_leaves_the_last_complete_snapshot_current(aws: None, tmp_path: Path) -> None:
    create_resources()
    populate()
    state = StateDir(tmp_path)
    first = state.save(stack(), backends(), ACCOUNT, REGION)

    broken = Backends(backends().s3, None, backends().dynamodb)  # the registry cannot be read: the save fails midway
    with pytest.raises(AttributeError):
        state.save(stack(), broken, ACCOUNT, REGION)

    assert (tmp_path / CURRENT).read_text() == first.name
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [first.name]  # the half-written one is gone
    assert state.load("cd4ml", REGION) is not None


def test_a_current_that_names_no_snapshot_is_refused(tmp_path: Path) -> None:
    (tmp_path / CURRENT).write_text("snapshot-gone")

    with pytest.raises(StateError, match="snapshot-gone cannot be read"):
        StateDir(tmp_path).load("cd4ml", REGION)
