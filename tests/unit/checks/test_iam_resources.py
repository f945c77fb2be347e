"""Least privilege on what SAM makes of the template: no Allow statement grants `Resource: "*"` for an action that
supports resource-level permissions; the few that AWS documents without resource types are listed below."""

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud.deploy.template import load_template, transform_template

REGION = "us-east-1"
SAR = "https://docs.aws.amazon.com/service-authorization/latest/reference"

# (logical id of the role or policy, action) -> why "*" is what AWS demands. Each action here has an empty
# "Resource types" column in the Service Authorization Reference page named in the reason.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("SageMakerExecutionRole", "cloudwatch:PutMetricData"): (
        f"no resource types, only the cloudwatch:namespace condition (kept) ({SAR}/list_amazoncloudwatch.html)"
    ),
    ("SageMakerExecutionRole", "ecr:GetAuthorizationToken"): (
        f"an account-wide token, no resource types ({SAR}/list_amazonelasticcontainerregistry.html)"
    ),
    **{
        ("SageMakerExecutionRole", f"ec2:{action}"): (
            f"Describe action without resource types, granted only with JobSubnetIds ({SAR}/list_amazonec2.html)"
        )
        for action in (
            "DescribeNetworkInterfaces",
            "DescribeVpcs",
            "DescribeDhcpOptions",
            "DescribeSubnets",
            "DescribeSecurityGroups",
        )
    },
    ("ScoringModelFunctionRole", "sagemaker:ListModelPackages"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("RequestRetrainingFunctionRole", "sagemaker:ListModelPackages"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("StartDeploymentFunctionRole", "sagemaker:ListModelPackages"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("RecordOutcomeFunctionRole", "sagemaker:ListTrainingJobs"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("RecordOutcomeFunctionRole", "sagemaker:ListProcessingJobs"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("RecordScoringFunctionRole", "sagemaker:ListProcessingJobs"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("RecordScoringFunctionRole", "sagemaker:ListTransformJobs"): (
        f"List action without resource types ({SAR}/list_amazonsagemaker.html)"
    ),
    ("DeployModelFunctionRole", "application-autoscaling:DescribeScalableTargets"): (
        f"Read action without resource types ({SAR}/list_awsapplicationautoscaling.html)"
    ),
    ("DeployModelFunctionRole", "application-autoscaling:DescribeScalingPolicies"): (
        f"Read action without resource types ({SAR}/list_awsapplicationautoscaling.html)"
    ),
}

ENDPOINT_ARN = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/${AWS::StackName}-fraud"
POLICY_TYPES = ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


@pytest.fixture(scope="module")
def resources(root: Path) -> dict[str, Any]:
    return transform_template(load_template(root / "template.yaml"), {}, root, REGION).resources


def statements(node: Any) -> Iterator[Mapping[str, Any]]:
    """The statements of a policy document's `Statement`, through lists and both branches of an `Fn::If`."""
    if isinstance(node, list):
        for item in node:
            yield from statements(item)
    elif isinstance(node, Mapping) and "Fn::If" in node:
        for branch in node["Fn::If"][1:]:
            yield from statements(branch)
    elif isinstance(node, Mapping):
        yield node


def policy_documents(resources: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(logical id of the role or policy, document) for every inline role policy and IAM policy resource."""
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in statements(properties.get("Policies") or []):  # a conditional policy: both branches
                if "PolicyDocument" in policy:
                    yield logical_id, policy["PolicyDocument"]
        elif resource["Type"] in POLICY_TYPES:
            yield logical_id, properties["PolicyDocument"]


def wildcard_grants(resources: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(logical id, action) of each action an Allow statement grants on every resource (`"*"` alone in Resource)."""
    found: list[tuple[str, str]] = []
    for logical_id, document in policy_documents(resources):
        for statement in statements(document.get("Statement")):
            if statement.get("Effect") != "Allow":
                continue
            granted = statement.get("Resource")
            if "*" not in (granted if isinstance(granted, list) else [granted]):
                continue
            actions = statement["Action"]
            found += [(logical_id, str(action)) for action in (actions if isinstance(actions, list) else [actions])]
    return found


def test_only_actions_without_resource_types_are_granted_on_every_resource(resources: dict[str, Any]) -> None:
    grants = wildcard_grants(resources)
    assert [grant for grant in grants if grant not in EXCEPTIONS] == []
    # an exception the template no longer needs is dropped, so the table stays the list of what is granted
    assert sorted(set(EXCEPTIONS) - set(grants)) == []


def test_the_scan_reaches_roles_and_policies_and_the_scoped_statements_are_scoped(resources: dict[str, Any]) -> None:
    documents = dict(policy_documents(resources))
    assert {"SageMakerExecutionRole", "DeployModelFunctionRole", "MonitorWindowFunctionRole"} <= set(documents)
    # the roles that once read SageMaker with "*" now name this stack's endpoint, configs, models and packages
    describing = [
        statement
        for logical_id, document in policy_documents(resources)
        if logical_id in ("MonitorWindowFunctionRole", "ScoringModelFunctionRole")
        for statement in statements(document["Statement"])
        if "sagemaker:DescribeEndpoint" in (statement.get("Action") or [])
    ]
    assert len(describing) == 2
    for statement in describing:
        assert statement["Resource"][0] == {"Fn::Sub": ENDPOINT_ARN}


def test_a_wildcard_grant_is_found_in_a_role_a_policy_and_either_branch_of_a_condition() -> None:
    planted: dict[str, Any] = {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Policies": [
                    {
                        "PolicyName": "p",
                        "PolicyDocument": {
                            "Statement": [
                                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
                                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b"},
                                {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
                            ]
                        },
                    }
                ]
            },
        },
        "Policy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "PolicyDocument": {
                    "Statement": [
                        {
                            "Fn::If": [
                                "IsProd",
                                {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": ["arn:aws:sqs:q", "*"]},
                                {"Ref": "AWS::NoValue"},
                            ]
                        }
                    ]
                }
            },
        },
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
    }
    assert wildcard_grants(planted) == [
        ("Role", "s3:GetObject"),
        ("Role", "s3:PutObject"),
        ("Policy", "sqs:SendMessage"),
    ]
