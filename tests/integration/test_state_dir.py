"""`LocalCloud(state_dir=...)`: the stack's objects (every version), table items and model registry survive a stop
and a later start + deploy of the same stack, with the same version ids, package ARNs and version numbers, and
putting them back starts no pipeline run; another stack's state is refused before anything is deployed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cd4ml_shared.aws.registry import latest_approved

from cd4ml.localcloud import LocalCloud, LocalCloudError, StateError

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).parent / "stacks" / "state" / "template.yaml"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
DATASET = "datasets/orders/2026-11-25/orders.csv"
PROFILE = "reference/orders/profile.json"


def register(cloud: LocalCloud, auc: float) -> str:
    arn: str = cloud.client("sagemaker").create_model_package(
        ModelPackageGroupName=cloud.physical_id("Models"),
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": f"s3://{cloud.physical_id('ArtifactsBucket')}/m.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        CustomerMetadataProperties={"pr_auc": str(auc)},
    )["ModelPackageArn"]
    return arn


def first_life(state_dir: Path) -> dict[str, Any]:
    """Use the stack as a user would, then stop cleanly; what was made, as the API described it then."""
    with LocalCloud.deployed(TEMPLATE, state_dir=state_dir) as cloud:
        s3, data = cloud.client("s3"), cloud.physical_id("DataBucket")
        versions = [
            s3.put_object(Bucket=data, Key=DATASET, Body=body, ContentType="text/csv", Metadata={"rows": rows})[
                "VersionId"
            ]
            for body, rows in ((b"id,amount\n1,10\n", "1"), (b"id,amount\n1,10\n2,20\n", "2"))
        ]
        profile = json.dumps({"columns": {"amount": {"mean": 15.0}}}).encode()
        s3.put_object(Bucket=cloud.physical_id("ArtifactsBucket"), Key=PROFILE, Body=profile)
        table = cloud.physical_id("TokensTable")
        cloud.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": "job-1"}, "token": {"S": "t-1"}})
        sagemaker = cloud.client("sagemaker")
        packages = [register(cloud, 0.81), register(cloud, 0.84)]
        sagemaker.update_model_package(ModelPackageArn=packages[1], ModelApprovalStatus="Approved")
        assert len(cloud.wait_for_executions("Pipeline", count=2, timeout=30)) == 2  # the uploads started runs
        described = [sagemaker.describe_model_package(ModelPackageName=arn) for arn in packages]
    for description in described:
        description.pop("ResponseMetadata")
    return {"versions": versions, "profile": profile, "packages": packages, "described": described}


def test_the_stack_state_survives_a_restart_without_starting_pipeline_runs(tmp_path: Path) -> None:
    made = first_life(tmp_path / "state")

    with LocalCloud.deployed(TEMPLATE, state_dir=tmp_path / "state") as cloud:
        cloud.wait_idle(10)
        assert cloud.executions("Pipeline") == []  # restoring the datasets started nothing
        assert [d for d in cloud.router.deliveries if d.source == "aws.s3"] == []
        s3, data = cloud.client("s3"), cloud.physical_id("DataBucket")
        versions = s3.list_object_versions(Bucket=data, Prefix=DATASET)["Versions"]
        assert sorted(v["VersionId"] for v in versions) == sorted(made["versions"])
        latest = s3.get_object(Bucket=data, Key=DATASET)
        assert latest["VersionId"] == made["versions"][1]
        assert (latest["Body"].read(), latest["ContentType"], latest["Metadata"]) == (
            b"id,amount\n1,10\n2,20\n",
            "text/csv",
            {"rows": "2"},
        )
        reference = s3.get_object(Bucket=cloud.physical_id("ArtifactsBucket"), Key=PROFILE)["Body"].read()
        assert reference == made["profile"]
        items = cloud.client("dynamodb").scan(TableName=cloud.physical_id("TokensTable"))["Items"]
        assert items == [{"pk": {"S": "job-1"}, "token": {"S": "t-1"}}]
        sagemaker = cloud.client("sagemaker")
        described = [sagemaker.describe_model_package(ModelPackageName=arn) for arn in made["packages"]]
        for description in described:
            description.pop("ResponseMetadata")
        assert described == made["described"]
        assert latest_approved(sagemaker, cloud.physical_id("Models"))["ModelPackageArn"] == made["packages"][1]

        # the restored cloud is live: a new upload starts a run, a new version continues the numbering
        s3.put_object(Bucket=data, Key="datasets/orders/2026-11-26/orders.csv", Body=b"id,amount\n")
        assert len(cloud.wait_for_executions("Pipeline", count=1, timeout=30)) == 1
        assert register(cloud, 0.9).endswith("/3")


def test_a_state_dir_of_another_stack_is_refused_before_anything_is_deployed(tmp_path: Path) -> None:
    with LocalCloud.deployed(TEMPLATE, state_dir=tmp_path / "state", stack_name="first"):
        pass

    with LocalCloud(state_dir=tmp_path / "state") as cloud:
        with pytest.raises(StateError, match="stack 'first', not 'second'"):
            cloud.deploy(TEMPLATE, stack_name="second")
        assert cloud.stacks == {}
        assert cloud.client("s3").list_buckets()["Buckets"] == []


def test_a_state_dir_keeps_one_stack(tmp_path: Path) -> None:
    with (
        LocalCloud.deployed(TEMPLATE, state_dir=tmp_path / "state", stack_name="first") as cloud,
        pytest.raises(LocalCloudError, match="keeps one stack"),
    ):
        cloud.deploy(TEMPLATE, stack_name="second")
