"""`cd4ml model list | approve | reject` on moto's registry: the group from the stack, versions as a person reviews
them, what serves (the deployment's mark, confirmed by the endpoint), and decisions that refuse what they must."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from cd4ml_shared.registry import Lineage, model_package_request
from moto import mock_aws

from cd4ml import model_registry as registry
from cd4ml.cli import main
from cd4ml.localcloud.sagemaker import registry as sagemaker_registry

REGION = "us-east-1"
STACK = "cd4ml-dev"  # samconfig.toml's dev stack
GROUP = f"{STACK}-fraud"
DEC_1_10H = 1796119200.0  # 2026-12-01T10:00:00Z in epoch seconds
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
STACK_TEMPLATE = json.dumps(
    {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ModelPackageGroupName": {"Value": GROUP}},
    }
)


def _lineage(run_id: str) -> Lineage:
    return Lineage(
        run_id=run_id,
        execution_arn=f"arn:aws:states:{REGION}:123456789012:execution:pipeline:{run_id}",
        dataset_uri="s3://raw/datasets/orders/2026-11-30/orders.csv",
        dataset_version="v1",
        dataset_sha256="ab" * 32,
        dataset_rows=1000,
        code_version="dev",
        code_sha256="cd" * 32,
        training_job_arn=f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{run_id}",
        hyperparameters={"max_depth": "6"},
        quality_report_uri=f"s3://artifacts/runs/{run_id}/quality.json",
        evaluation_uri=f"s3://artifacts/runs/{run_id}/evaluation.json",
    )


def register(sagemaker: Any, run_id: str, pr_auc: float, group: str = GROUP, status: str = "Pending") -> str:
    """A version as `register_model` makes it."""
    request = model_package_request(
        group_name=group,
        run_id=run_id,
        image=IMAGE,
        model_data_url=f"s3://artifacts/runs/{run_id}/model.tar.gz",
        sourcedir_uri="s3://artifacts/code/dev/sourcedir.tar.gz",
        evaluation_uri=f"s3://artifacts/runs/{run_id}/evaluation.json",
        quality_report_uri=f"s3://artifacts/runs/{run_id}/quality.json",
        approval="Approved" if status == "Approved" else "PendingManualApproval",
        lineage=_lineage(run_id),
        metrics={"pr_auc": pr_auc, "auc": 0.9, "f1": 0.5, "brier": 0.01},
    )
    arn: str = sagemaker.create_model_package(**request)["ModelPackageArn"]
    return arn


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    # AWS's update semantics (plain moto wipes the status and metadata an update does not mention)
    sagemaker_registry.install()
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        boto3.client("cloudformation", region_name=REGION).create_stack(StackName=STACK, TemplateBody=STACK_TEMPLATE)
        yield {
            "sagemaker": sagemaker,
            "sts": boto3.client("sts", region_name=REGION),
            "v1": register(sagemaker, "orders-2026-11-30-aaaa", 0.71, status="Approved"),
            "v2": register(sagemaker, "orders-2026-12-01-bbbb", 0.74),
        }


def deploy(sagemaker: Any, package: str, endpoint: str = "cd4ml-dev-fraud", *, mark: bool = True) -> None:
    """What the deployment workflow leaves: a model from the package behind the endpoint, and its mark."""
    name = package.rsplit("/", 2)[-2] + "-v" + package.rsplit("/", 1)[-1]
    sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/sm",
        PrimaryContainer={"ModelPackageName": package},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "live", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    serve(sagemaker, endpoint, name)
    if mark:
        sagemaker.update_model_package(
            ModelPackageArn=package,
            # as record_deployment marks it: epoch seconds (v1 at 10:01, v2 at 10:02 on 2026-12-01)
            CustomerMetadataProperties={
                "cd4ml:deployed_at": str(DEC_1_10H + 60 * int(name[-1])),
                "cd4ml:endpoint": endpoint,
            },
        )


def serve(sagemaker: Any, endpoint: str, config: str) -> None:
    """Point `endpoint` at `config` (moto has no UpdateEndpoint: the endpoint is made again)."""
    if sagemaker.list_endpoints(NameContains=endpoint)["Endpoints"]:
        sagemaker.delete_endpoint(EndpointName=endpoint)
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)


# ---- the group ---------------------------------------------------------------------------------------------------
def test_the_group_comes_from_the_stacks_output(aws: dict[str, Any]) -> None:
    outputs = registry.stack_outputs(boto3.client("cloudformation", region_name=REGION), STACK)
    assert registry.group_of_stack(outputs, STACK) == GROUP
    assert registry.endpoint_of_stack({**outputs, "FraudEndpointName": "ep"}) == "ep"
    assert registry.endpoint_of_stack(outputs) is None


def test_an_unknown_stack_or_one_without_the_output_is_refused_by_name(aws: dict[str, Any]) -> None:
    with pytest.raises(registry.RegistryRefusal, match="stack 'cd4ml-nope' does not exist"):
        registry.stack_outputs(boto3.client("cloudformation", region_name=REGION), "cd4ml-nope")
    with pytest.raises(registry.RegistryRefusal, match="has no output ModelPackageGroupName"):
        registry.group_of_stack({"Other": "x"}, STACK)


# ---- list --------------------------------------------------------------------------------------------------------
def test_versions_are_listed_newest_first_with_metrics_and_run(aws: dict[str, Any]) -> None:
    found = registry.listing(aws["sagemaker"], GROUP)
    assert [(v.version, v.status) for v in found.versions] == [(2, "PendingManualApproval"), (1, "Approved")]
    assert found.versions[0].metrics == {"auc": 0.9, "f1": 0.5, "pr_auc": 0.74}
    assert found.versions[0].run_id == "orders-2026-12-01-bbbb"
    assert not any(v.in_service for v in found.versions)


def test_metrics_in_metadata_win_over_the_description() -> None:
    package = {"ModelPackageDescription": "run r: auc 0.9000, pr_auc 0.8000", "CustomerMetadataProperties": {}}
    assert registry.headline_metrics(package) == {"auc": 0.9, "pr_auc": 0.8}
    package["CustomerMetadataProperties"] = {"metric:pr_auc": "0.81", "cd4ml:run_id": "r"}
    assert registry.headline_metrics(package) == {"pr_auc": 0.81}
    assert registry.headline_metrics({"ModelPackageDescription": "by hand"}) == {}


def test_the_deployed_mark_says_what_serves_and_the_endpoint_confirms_it(aws: dict[str, Any]) -> None:
    sagemaker = aws["sagemaker"]
    deploy(sagemaker, aws["v1"])
    deploy(sagemaker, aws["v2"])
    found = registry.listing(sagemaker, GROUP, endpoint="cd4ml-dev-fraud")
    assert [(v.version, v.deployed_at) for v in found.versions if v.in_service] == [(2, "2026-12-01T10:02:00+00:00")]
    assert found.serving is not None and found.serving.versions == [2]
    assert found.serving.endpoint_config == "cd4ml-dev-fraud-v2"
    assert found.warnings == []


def test_the_newest_mark_wins_by_time_not_by_its_text(aws: dict[str, Any]) -> None:
    mark = {"cd4ml:endpoint": "ep"}
    aws["sagemaker"].update_model_package(
        ModelPackageArn=aws["v1"], CustomerMetadataProperties={**mark, "cd4ml:deployed_at": str(DEC_1_10H)}
    )
    aws["sagemaker"].update_model_package(  # 2001: "9..." sorts after "1..." as text
        ModelPackageArn=aws["v2"], CustomerMetadataProperties={**mark, "cd4ml:deployed_at": "999999999.0"}
    )
    found = registry.listing(aws["sagemaker"], GROUP)
    assert [(v.version, v.deployed_at) for v in found.versions if v.in_service] == [(1, "2026-12-01T10:00:00+00:00")]
    assert registry.deployed_instant("2026-12-01T10:00:00") == registry.deployed_instant(str(DEC_1_10H))
    assert registry.deployed_instant("yesterday") is None


def test_a_mark_the_endpoint_contradicts_is_overruled_with_a_warning(aws: dict[str, Any]) -> None:
    sagemaker = aws["sagemaker"]
    deploy(sagemaker, aws["v1"])
    deploy(sagemaker, aws["v2"], mark=False)
    # a silent rollback: v2 marked, the endpoint back on v1's config
    sagemaker.update_model_package(
        ModelPackageArn=aws["v2"],
        CustomerMetadataProperties={"deployed_at": "2026-12-01T11:00:00Z", "endpoint": "cd4ml-dev-fraud"},
    )
    serve(sagemaker, "cd4ml-dev-fraud", "cd4ml-dev-fraud-v1")
    found = registry.listing(sagemaker, GROUP, endpoint="cd4ml-dev-fraud")
    assert [v.version for v in found.versions if v.in_service] == [1]
    assert found.warnings == [
        "v2 is marked deployed to cd4ml-dev-fraud, but the endpoint runs v1 (config cd4ml-dev-fraud-v1): "
        "the endpoint is what serves"
    ]
    # without an endpoint to ask, the mark is all there is
    assert [v.version for v in registry.listing(sagemaker, GROUP).versions if v.in_service] == [2]


def test_a_missing_endpoint_means_nothing_serves(aws: dict[str, Any]) -> None:
    aws["sagemaker"].update_model_package(
        ModelPackageArn=aws["v1"], CustomerMetadataProperties={"deployed_at": "2026-12-01", "endpoint": "gone"}
    )
    found = registry.listing(aws["sagemaker"], GROUP, endpoint="gone")
    assert not any(v.in_service for v in found.versions)
    assert found.warnings == [f"endpoint gone does not exist: no version of {GROUP} is in service there"]


def test_the_table_is_aligned_and_says_what_serves() -> None:
    common: dict[str, Any] = {"arn": "arn", "approval_description": None, "created": "2026-12-01T10:00:00+00:00"}
    found = registry.Listing(
        group=GROUP,
        versions=[
            registry.ModelVersion(
                version=10,
                status="PendingManualApproval",
                metrics={"pr_auc": 0.74, "auc": 0.9},
                run_id="run-b",
                deployed_at=None,
                marked_endpoint=None,
                **common,
            ),
            registry.ModelVersion(
                version=9,
                status="Approved",
                metrics={"pr_auc": 0.7},
                run_id=None,
                deployed_at="2026-12-01T09:00:00Z",
                marked_endpoint="ep",
                in_service=True,
                **common,
            ),
        ],
    )
    assert registry.listing_table(found).splitlines() == [
        f"Model package group {GROUP}: 2 version(s)",
        "VERSION  STATUS                 CREATED                    PR_AUC  AUC     RUN    IN SERVICE",
        "10       PendingManualApproval  2026-12-01T10:00:00+00:00  0.7400  0.9000  run-b",
        "9        Approved               2026-12-01T10:00:00+00:00  0.7000  -       -      "
        "yes (ep, since 2026-12-01T09:00:00Z)",
    ]
    assert json.loads(registry.listing_json(found))["versions"][1]["in_service"] is True


# ---- approve / reject --------------------------------------------------------------------------------------------
def test_approving_by_version_records_who_and_why(aws: dict[str, Any]) -> None:
    outcome = registry.decide(aws["sagemaker"], aws["sts"], GROUP, "2", "Approved", "  shadow run clean ")
    assert (outcome.version, outcome.previous_status, outcome.status, outcome.changed) == (
        2,
        "PendingManualApproval",
        "Approved",
        True,
    )
    described = aws["sagemaker"].describe_model_package(ModelPackageName=aws["v2"])
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "Approved by arn:aws:sts::123456789012:user/moto: shadow run clean"


def test_approving_an_approved_version_changes_nothing(aws: dict[str, Any]) -> None:
    outcome = registry.decide(aws["sagemaker"], aws["sts"], GROUP, aws["v1"], "Approved", None)
    assert not outcome.changed and outcome.status == "Approved"
    assert "already Approved: nothing changed" in registry.outcome_text(outcome, GROUP)
    assert "ApprovalDescription" not in aws["sagemaker"].describe_model_package(ModelPackageName=aws["v1"])


def test_rejecting_by_arn_needs_a_reason(aws: dict[str, Any]) -> None:
    with pytest.raises(registry.RegistryRefusal, match="a rejection needs --reason"):
        registry.decide(aws["sagemaker"], aws["sts"], GROUP, aws["v2"], "Rejected", " ")
    registry.decide(aws["sagemaker"], aws["sts"], GROUP, aws["v2"], "Rejected", "recall too low on new merchants")
    described = aws["sagemaker"].describe_model_package(ModelPackageName=aws["v2"])
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"].endswith(": recall too low on new merchants")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("7", f"{GROUP} has no version 7"),
        (f"arn:aws:sagemaker:{REGION}:123456789012:model-package/{GROUP}/7", "does not exist"),
        ("latest", "neither a version number nor a model package ARN"),
    ],
)
def test_unknown_versions_are_refused(aws: dict[str, Any], target: str, message: str) -> None:
    with pytest.raises(registry.RegistryRefusal, match=message):
        registry.decide(aws["sagemaker"], aws["sts"], GROUP, target, "Approved", None)


def test_a_version_of_another_group_is_refused(aws: dict[str, Any]) -> None:
    aws["sagemaker"].create_model_package_group(ModelPackageGroupName="cd4ml-prod-fraud")
    foreign = register(aws["sagemaker"], "orders-prod-cccc", 0.8, group="cd4ml-prod-fraud")
    with pytest.raises(registry.RegistryRefusal, match=f"version 1 of cd4ml-prod-fraud, not of {GROUP}"):
        registry.decide(aws["sagemaker"], aws["sts"], GROUP, foreign, "Approved", None)
    assert aws["sagemaker"].describe_model_package(ModelPackageName=foreign)["ModelApprovalStatus"] == (
        "PendingManualApproval"
    )


def test_an_unknown_group_is_refused(aws: dict[str, Any]) -> None:
    with pytest.raises(registry.RegistryRefusal, match="model package group 'nope' does not exist"):
        registry.listing(aws["sagemaker"], "nope")


# ---- the commands ------------------------------------------------------------------------------------------------
def test_the_commands_find_the_group_from_samconfig_and_exit_2_on_a_refusal(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, root: Any
) -> None:
    monkeypatch.chdir(root)  # the project's samconfig.toml: dev is cd4ml-dev
    assert main(["model", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["group"] == GROUP and [v["version"] for v in listed["versions"]] == [2, 1]

    assert main(["model", "reject", "2"]) == 2
    assert "error: a rejection needs --reason" in capsys.readouterr().err
    assert main(["model", "approve", "2", "--group", GROUP, "--reason", "ok"]) == 0
    assert f"{GROUP} v2: PendingManualApproval -> Approved" in capsys.readouterr().out
    assert main(["model", "approve", "2", "--stack-name", "cd4ml-nope"]) == 2
    assert "stack 'cd4ml-nope' does not exist" in capsys.readouterr().err
    assert main(["model", "list", "--config-file", "no-such.toml"]) == 2
    assert "no-such.toml: no such SAM configuration file" in capsys.readouterr().err
