"""The CI bootstrap created through CloudFormation's API on the local cloud, as a user creates it once per account
(`aws cloudformation deploy` is CreateChangeSet/CreateStack): moto's CloudFormation builds it, not the local cloud's
deployer, which only knows the app's resource types. moto 5.2.5 creates the two roles (trust and inline policies
resolved) and the bucket with its encryption; it skips AWS::IAM::OIDCProvider and AWS::S3::BucketPolicy and applies
none of the bucket's other settings, which tests/unit/checks/test_bootstrap_template.py proves on the template.
`aws cloudformation deploy` (a change set) creates the same stack there, but moto answers it without outputs and
does not apply a later change set to the roles, hence CreateStack here."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud import LocalCloud

pytestmark = [
    pytest.mark.integration,
    # what moto's CloudFormation does not create (see above); CloudFormation itself does
    pytest.mark.filterwarnings("ignore:Tried to parse AWS..S3..BucketPolicy :UserWarning"),
]

STACK = "cd4ml-ci-bootstrap"
ACCOUNT = "123456789012"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
# a staging account: its deploy role serves the `staging` environment's jobs only; the account has the provider
PARAMETERS = {
    "GitHubOrg": "acme",
    "GitHubRepo": "fraud-model",
    "GitHubEnvironments": "staging",
    "CreateOidcProvider": "false",
}


@pytest.fixture(scope="module")
def cloud(root: Path) -> Iterator[LocalCloud]:
    with LocalCloud() as cloud:
        cfn = cloud.client("cloudformation")
        cfn.create_stack(
            StackName=STACK,
            TemplateBody=(root / "ci" / "bootstrap.yaml").read_text(),
            Capabilities=["CAPABILITY_NAMED_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in PARAMETERS.items()],
        )
        cfn.get_waiter("stack_create_complete").wait(StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        yield cloud


@pytest.fixture(scope="module")
def outputs(cloud: LocalCloud) -> dict[str, str]:
    [stack] = cloud.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_the_outputs_a_user_pastes_into_github_name_the_roles_and_bucket_that_exist(cloud, outputs):
    iam, s3 = cloud.client("iam"), cloud.client("s3")

    assert set(outputs) == {"DeployRoleArn", "CloudFormationExecutionRoleArn", "ArtifactsBucketName", "OidcProviderArn"}
    assert outputs["DeployRoleArn"] == iam.get_role(RoleName=f"{STACK}-github-deploy")["Role"]["Arn"]
    assert outputs["CloudFormationExecutionRoleArn"] == iam.get_role(RoleName=f"{STACK}-cfn-exec")["Role"]["Arn"]
    assert outputs["ArtifactsBucketName"].startswith(f"{STACK}-artifactsbucket-")
    s3.head_bucket(Bucket=outputs["ArtifactsBucketName"])
    assert outputs["OidcProviderArn"] == PROVIDER_ARN  # the account's own, built from its id


def test_the_deploy_role_trusts_the_staging_environment_of_the_repository_only(cloud):
    role = cloud.client("iam").get_role(RoleName=f"{STACK}-github-deploy")["Role"]
    [statement] = role["AssumeRolePolicyDocument"]["Statement"]
    condition = statement["Condition"]["StringEquals"]
    # moto leaves an AWS::NoValue in a list as null where CloudFormation drops it (the unused environment slots)
    subjects = [s for s in condition["token.actions.githubusercontent.com:sub"] if s is not None]

    assert statement["Principal"] == {"Federated": PROVIDER_ARN}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert subjects == ["repo:acme/fraud-model:environment:staging"]
    assert role["MaxSessionDuration"] == 7200


def test_only_cloudformation_of_the_account_assumes_the_execution_role(cloud):
    iam = cloud.client("iam")
    role = iam.get_role(RoleName=f"{STACK}-cfn-exec")["Role"]

    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Sid": "CloudFormationOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    assert iam.list_role_policies(RoleName=f"{STACK}-cfn-exec")["PolicyNames"] == ["app-resources"]
    assert iam.list_role_policies(RoleName=f"{STACK}-github-deploy")["PolicyNames"] == ["sam-deploy", "smoke-test"]


def test_the_artifacts_bucket_encrypts_with_kms_by_default(cloud, outputs):
    encryption: dict[str, Any] = cloud.client("s3").get_bucket_encryption(Bucket=outputs["ArtifactsBucketName"])
    [rule] = encryption["ServerSideEncryptionConfiguration"]["Rules"]

    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
