"""The CI bootstrap (ci/bootstrap.yaml), resolved as CloudFormation would resolve it: GitHub reaches the deploy role
only from this repository's environments, the deploy role only runs change sets as the execution role and the smoke
test, nothing is granted on "*" but what IAM authorises nowhere else, the artifacts bucket is encrypted, private and
TLS-only, and the execution role can create every resource of what SAM makes of template.yaml."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import cfnlint.data.AdditionalSpecs
import pytest
from cfnlint.helpers import load_resource
from resolved_template import ref_value
from test_iam_resources import SAR, policy_documents, wildcard_grants

from cd4ml.localcloud.deploy.intrinsics import NO_VALUE, Resolver
from cd4ml.localcloud.deploy.template import load_template, transform_template

ACCOUNT, REGION = "123456789012", "us-east-1"
BOOTSTRAP_STACK = "cd4ml-ci-bootstrap"  # the name docs give it: it starts with the app's prefix, on purpose
BOOTSTRAP_STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{BOOTSTRAP_STACK}/0c4e2a10-5d6e-11ef-8f0e-0a1b2c3d4e5f"
)
APP_STACK = "cd4ml-staging"  # samconfig.toml's staging stack
SUFFIX = "1A2B3C4D5E6F"  # what CloudFormation appends to the names it generates
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ARTIFACTS_BUCKET = f"{BOOTSTRAP_STACK}-artifactsbucket-{SUFFIX.lower()}"
GITHUB = {"GitHubOrg": "acme", "GitHubRepo": "fraud-model"}
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EVERY_OPTION = {
    **GITHUB,
    "GitHubBranch": "main",
    "PermissionsBoundaryArn": f"arn:aws:iam::{ACCOUNT}:policy/app-boundary",
    "KmsKeyArn": KEY_ARN,
    "AccessLogBucketName": "acme-s3-access-logs",
}
SAM_TRANSFORM_ARN = f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31"

# (logical id of the role, action) -> why "*" is what AWS demands (an empty "Resource types" column in the page named).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("GitHubDeployRole", "sagemaker:ListModelPackages"): (
        "the group is a request parameter; granted on '*' as template.yaml's roles are"
        f" ({SAR}/list_amazonsagemaker.html)"
    ),
    ("CloudFormationExecutionRole", "lambda:CreateEventSourceMapping"): (
        f"no resource types; the function is pinned by the lambda:FunctionArn condition ({SAR}/list_awslambda.html)"
    ),
    ("CloudFormationExecutionRole", "kms:CreateKey"): (
        "no resource types: a key's ARN is drawn by KMS; later actions need the stack's tag"
        f" ({SAR}/list_awskeymanagementservice.html)"
    ),
    ("CloudFormationExecutionRole", "kinesis:UpdateShardCount"): (
        f"no resource types: a changed GroundTruthShardCount ({SAR}/list_amazonkinesis.html)"
    ),
    ("CloudFormationExecutionRole", "kinesis:UpdateStreamMode"): (
        f"no resource types: a changed stream mode ({SAR}/list_amazonkinesis.html)"
    ),
    **{
        ("CloudFormationExecutionRole", f"logs:{action}"): (
            f"no resource types: CloudFormation reads log groups back, the HTTP API's stage sets up its vended access"
            f" logs with the caller's permissions ({SAR}/list_amazoncloudwatchlogs.html)"
        )
        for action in (
            "DescribeLogGroups",
            "CreateLogDelivery",
            "GetLogDelivery",
            "UpdateLogDelivery",
            "DeleteLogDelivery",
            "ListLogDeliveries",
            "PutResourcePolicy",
            "DescribeResourcePolicies",
        )
    },
}

# What CloudFormation calls first to create a resource of each type of the transformed app template, and the ARN
# IAM checks it on (None: the ARN is not the resource's own, e.g. a policy attached to something else). A type that
# template.yaml starts using fails test_the_execution_role_can_create_every_resource_of_the_app_template until it is
# granted in ci/bootstrap.yaml and named here.
CREATE_ACTIONS: dict[str, tuple[str, str | None]] = {
    "AWS::S3::Bucket": ("s3:CreateBucket", "arn:aws:s3:::{name}"),
    "AWS::S3::BucketPolicy": ("s3:PutBucketPolicy", None),
    "AWS::Lambda::Function": ("lambda:CreateFunction", "arn:aws:lambda:{region}:{account}:function:{name}"),
    "AWS::Lambda::Permission": ("lambda:AddPermission", None),
    "AWS::Lambda::EventSourceMapping": ("lambda:CreateEventSourceMapping", None),
    "AWS::Lambda::LayerVersion": ("lambda:PublishLayerVersion", "arn:aws:lambda:{region}:{account}:layer:{name}"),
    "AWS::Lambda::EventInvokeConfig": ("lambda:PutFunctionEventInvokeConfig", None),
    "AWS::Lambda::Version": ("lambda:PublishVersion", None),
    "AWS::Lambda::Alias": ("lambda:CreateAlias", None),
    "AWS::IAM::Role": ("iam:CreateRole", "arn:aws:iam::{account}:role/{name}"),
    "AWS::IAM::Policy": ("iam:PutRolePolicy", None),
    "AWS::IAM::ManagedPolicy": ("iam:CreatePolicy", "arn:aws:iam::{account}:policy/{name}"),
    "AWS::StepFunctions::StateMachine": (
        "states:CreateStateMachine",
        "arn:aws:states:{region}:{account}:stateMachine:{name}",
    ),
    "AWS::Events::Rule": ("events:PutRule", "arn:aws:events:{region}:{account}:rule/{name}"),
    "AWS::SQS::Queue": ("sqs:CreateQueue", "arn:aws:sqs:{region}:{account}:{name}"),
    "AWS::SQS::QueuePolicy": ("sqs:SetQueueAttributes", None),
    "AWS::SNS::Topic": ("sns:CreateTopic", "arn:aws:sns:{region}:{account}:{name}"),
    "AWS::SNS::Subscription": ("sns:Subscribe", None),
    "AWS::SNS::TopicPolicy": ("sns:SetTopicAttributes", None),
    "AWS::Kinesis::Stream": ("kinesis:CreateStream", "arn:aws:kinesis:{region}:{account}:stream/{name}"),
    "AWS::DynamoDB::Table": ("dynamodb:CreateTable", "arn:aws:dynamodb:{region}:{account}:table/{name}"),
    "AWS::SageMaker::ModelPackageGroup": (
        "sagemaker:CreateModelPackageGroup",
        "arn:aws:sagemaker:{region}:{account}:model-package-group/{name}",
    ),
    "AWS::CloudWatch::Alarm": ("cloudwatch:PutMetricAlarm", "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    "AWS::CloudWatch::Dashboard": ("cloudwatch:PutDashboard", "arn:aws:cloudwatch::{account}:dashboard/{name}"),
    "AWS::ApiGatewayV2::Api": ("apigateway:POST", "arn:aws:apigateway:{region}::/apis"),
    "AWS::ApiGatewayV2::Stage": ("apigateway:POST", "arn:aws:apigateway:{region}::/apis/a1b2c3d4e5/stages"),
    "AWS::Logs::LogGroup": ("logs:CreateLogGroup", "arn:aws:logs:{region}:{account}:log-group:{name}"),
    "AWS::KMS::Key": ("kms:CreateKey", None),
}
# the property a template may name a resource with; without it CloudFormation names it <stack>-<logical id>-<suffix>
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Events::Rule": "Name",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SageMaker::ModelPackageGroup": "ModelPackageGroupName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
    "AWS::Logs::LogGroup": "LogGroupName",
}
LOWER_CASE_NAMES = {"AWS::S3::Bucket", "AWS::SageMaker::ModelPackageGroup"}  # as S3 and SageMaker write them


@pytest.fixture(scope="module")
def bootstrap(root: Path) -> dict[str, Any]:
    return load_template(root / "ci" / "bootstrap.yaml")


@pytest.fixture(scope="module")
def app(root: Path) -> dict[str, Any]:
    """What SAM makes of template.yaml, every resource resolved for the staging stack (parameters at defaults)."""
    transformed = transform_template(load_template(root / "template.yaml"), {}, root, REGION)
    return resolve_app(transformed.resources, transformed.parameters, transformed.conditions, transformed.mappings)


def deploy(template: Mapping[str, Any], **parameters: str) -> dict[str, Any]:
    """The bootstrap's resources as CloudFormation creates them for these parameters (the others at defaults): those
    whose Condition is false left out, a Ref or GetAtt to one of them an error."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()} | parameters
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::StackName": BOOTSTRAP_STACK,
        "AWS::StackId": BOOTSTRAP_STACK_ID,
        "AWS::URLSuffix": "amazonaws.com",
    }
    resources = template["Resources"]
    physical = {"GitHubOidcProvider": PROVIDER_ARN, "ArtifactsBucket": ARTIFACTS_BUCKET}  # what Ref answers

    def created(logical_id: str) -> None:
        condition = resources[logical_id].get("Condition")
        if condition and not resolver.condition(condition):
            raise AssertionError(f"{logical_id} is referred to, but not created with {parameters}")

    def ref(name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in values:
            return values[name]
        created(name)
        return physical[name]

    def get_att(logical_id: str, attribute: str) -> str:
        created(logical_id)
        assert attribute == "Arn", f"{logical_id}.{attribute}"
        if logical_id == "ArtifactsBucket":
            return f"arn:aws:s3:::{ARTIFACTS_BUCKET}"
        return f"arn:aws:iam::{ACCOUNT}:role/{resolver.resolve(resources[logical_id]['Properties']['RoleName'])}"

    resolver = Resolver(ref, get_att, template["Conditions"], {}, REGION)
    return {
        logical_id: {"Type": resource["Type"], "Properties": resolver.resolve(resource["Properties"])}
        for logical_id, resource in resources.items()
        if not resource.get("Condition") or resolver.condition(resource["Condition"])
    }


def name_of(logical_id: str, kind: str, name: Any) -> str:
    """The resource's name: the one its template gives (resolved), else the one CloudFormation generates."""
    if not isinstance(name, str):
        name = f"{APP_STACK}-{logical_id}-{SUFFIX}"
    return name.lower() if kind in LOWER_CASE_NAMES else name


def own_arn(logical_id: str, resource: Mapping[str, Any]) -> str | None:
    """The ARN IAM checks the resource's create action on (of a resolved resource); None where it is not its own."""
    kind = resource["Type"]
    name = name_of(logical_id, kind, resource.get("Properties", {}).get(NAME_PROPERTY.get(kind, "")))
    _, arn = CREATE_ACTIONS.get(kind, ("", None))
    return arn.format(region=REGION, account=ACCOUNT, name=name) if arn else None


def resolve_app(
    resources: dict[str, Any], parameters: dict[str, Any], conditions: dict[str, Any], mappings: dict[str, Any]
) -> dict[str, Any]:
    """Every resource (whatever its Condition: prod's are checked too) resolved for APP_STACK, parameters at their
    defaults; a Ref or GetAtt Arn of another resource answers its name or ARN (a log group is named after its
    function), anything else its logical id."""
    values = {name: str(spec.get("Default", "")) for name, spec in parameters.items()}
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::StackName": APP_STACK}
    pseudo |= {
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/x/y",
    }

    def named(logical_id: str) -> dict[str, Any]:
        resource = resources[logical_id]
        name = (resource.get("Properties") or {}).get(NAME_PROPERTY.get(resource["Type"], ""))
        return {
            "Type": resource["Type"],
            "Properties": {} if name is None else {NAME_PROPERTY[resource["Type"]]: resolver.resolve(name)},
        }

    def ref(name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in values:
            return ref_value(parameters[name], values[name])
        kind = resources[name]["Type"]
        if kind == "AWS::Lambda::LayerVersion":
            return f"{own_arn(name, named(name))}:1"  # a layer version's Ref is its ARN
        return (
            name_of(name, kind, named(name)["Properties"].get(NAME_PROPERTY[kind])) if kind in NAME_PROPERTY else name
        )

    def get_att(logical_id: str, attribute: str) -> Any:
        return (attribute == "Arn" and own_arn(logical_id, named(logical_id))) or f"{logical_id}.{attribute}"

    resolver = Resolver(ref, get_att, conditions, mappings, REGION)
    return {
        k: {"Type": r["Type"], "Properties": resolver.resolve(r.get("Properties") or {})} for k, r in resources.items()
    }


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(resources: Mapping[str, Any], role: str) -> list[Mapping[str, Any]]:
    return [
        statement
        for logical_id, document in policy_documents(resources)
        if logical_id == role
        for statement in document["Statement"]
    ]


def allowed(statements: list[Mapping[str, Any]], action: str, arn: str) -> bool:
    """Whether the statements allow `action` on `arn` (IAM's wildcards; conditions assumed met), and no Deny hits."""

    def hits(statement: Mapping[str, Any]) -> bool:
        actions = [a.lower() for a in listed(statement["Action"])]
        return any(fnmatch.fnmatchcase(action.lower(), a) for a in actions) and any(
            fnmatch.fnmatchcase(arn, pattern) for pattern in listed(statement["Resource"])
        )

    return any(s["Effect"] == "Allow" and hits(s) for s in statements) and not any(
        s["Effect"] == "Deny" and hits(s) for s in statements
    )


def passed_roles(resource: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(service principal, role ARN) of each role CloudFormation hands a service when it creates the resource."""
    kind, properties = resource["Type"], resource["Properties"]
    if kind == "AWS::Lambda::Function":
        yield "lambda.amazonaws.com", properties["Role"]
    elif kind == "AWS::StepFunctions::StateMachine":
        yield "states.amazonaws.com", properties["RoleArn"]
    elif kind == "AWS::Events::Rule":
        yield from (("events.amazonaws.com", t["RoleArn"]) for t in properties.get("Targets", []) if "RoleArn" in t)
    elif kind == "AWS::Scheduler::Schedule":
        yield "scheduler.amazonaws.com", properties["Target"]["RoleArn"]


def uncovered(app: Mapping[str, Any], execution: list[Mapping[str, Any]]) -> list[str]:
    """What the execution role's statements would refuse CloudFormation while it creates the app's resources."""
    problems: list[str] = []
    passing = [s for s in execution if s["Effect"] == "Allow" and "iam:PassRole" in listed(s["Action"])]
    services = {str(v) for s in passing for v in listed(s["Condition"]["StringEquals"]["iam:PassedToService"])}
    attach = next(s for s in execution if "iam:AttachRolePolicy" in listed(s["Action"]))
    attachable = listed(attach["Condition"]["ArnLike"]["iam:PolicyARN"])
    for logical_id, resource in sorted(app.items()):
        kind = resource["Type"]
        if kind not in CREATE_ACTIONS:
            problems.append(f"{logical_id}: type {kind} is not in CREATE_ACTIONS: grant it in ci/bootstrap.yaml")
            continue
        action, _ = CREATE_ACTIONS[kind]
        arn = own_arn(logical_id, resource) or "*"
        if arn == "*" and not any(
            s["Effect"] == "Allow" and any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in listed(s["Action"]))
            for s in execution
        ):
            problems.append(f"{logical_id} ({kind}): {action} is not granted")
        elif arn != "*" and not allowed(execution, action, arn):
            problems.append(f"{logical_id} ({kind}): {action} on {arn} is not granted")
        for service, role in passed_roles(resource):
            if service not in services or not allowed(execution, "iam:PassRole", str(role)):
                problems.append(f"{logical_id} ({kind}): iam:PassRole of {role} to {service} is not granted")
        for layer in resource["Properties"].get("Layers", []) if kind == "AWS::Lambda::Function" else []:
            if not allowed(execution, "lambda:GetLayerVersion", str(layer)):
                problems.append(f"{logical_id} ({kind}): lambda:GetLayerVersion on {layer} is not granted")
        for policy in resource["Properties"].get("ManagedPolicyArns", []) if kind == "AWS::IAM::Role" else []:
            if not any(fnmatch.fnmatchcase(str(policy), pattern) for pattern in attachable):
                problems.append(f"{logical_id} ({kind}): attaching {policy} is not granted")
    return problems


# ---- GitHub's way in -------------------------------------------------------------------------------------------


def test_github_reaches_the_deploy_role_only_from_this_repository_s_environments(bootstrap):
    role = deploy(bootstrap, **GITHUB)["GitHubDeployRole"]["Properties"]

    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Sid": "GitHubActionsOfThisRepositoryAndEnvironment",
            "Effect": "Allow",
            "Principal": {"Federated": PROVIDER_ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    # the deploy workflow's two environments, and no branch: a job outside them cannot get in
                    "token.actions.githubusercontent.com:sub": [
                        "repo:acme/fraud-model:environment:staging",
                        "repo:acme/fraud-model:environment:production",
                    ],
                }
            },
        }
    ]
    assert role["RoleName"] == f"{BOOTSTRAP_STACK}-github-deploy"


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        ({"GitHubEnvironments": "production"}, ["repo:acme/fraud-model:environment:production"]),
        (
            {"GitHubEnvironments": "dev,staging,production", "GitHubBranch": "main"},
            [
                "repo:acme/fraud-model:environment:dev",
                "repo:acme/fraud-model:environment:staging",
                "repo:acme/fraud-model:environment:production",
                "repo:acme/fraud-model:ref:refs/heads/main",
            ],
        ),
    ],
)
def test_the_allowed_subjects_are_the_environments_and_branch_given(bootstrap, subjects, expected):
    role = deploy(bootstrap, **GITHUB, **subjects)["GitHubDeployRole"]["Properties"]
    (statement,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == expected


def test_the_parameters_refuse_wildcards_other_repositories_and_no_subject_at_all(bootstrap):
    parameters = bootstrap["Parameters"]

    def accepts(name: str, value: str) -> bool:
        return re.fullmatch(parameters[name]["AllowedPattern"], value) is not None

    assert accepts("GitHubOrg", "acme") and accepts("GitHubOrg", "my-org-2")
    assert not any(accepts("GitHubOrg", v) for v in ("*", "acme*", "ac?me", "acme/other", "", "-acme"))
    assert accepts("GitHubRepo", "fraud-model") and accepts("GitHubRepo", "cd4ml.app_v2")
    assert not any(accepts("GitHubRepo", v) for v in ("*", "fraud*", "fraud/x", ""))
    assert accepts("GitHubEnvironments", "staging") and accepts("GitHubEnvironments", "dev,staging,production")
    assert not any(accepts("GitHubEnvironments", v) for v in ("", "*", "staging,*", "a,b,c,d", "staging,", "prod?"))
    assert accepts("GitHubBranch", "") and accepts("GitHubBranch", "release/2.1")
    assert not any(accepts("GitHubBranch", v) for v in ("*", "main*", "feature/?"))
    assert accepts("StackNamePrefix", "cd4ml-") and not accepts("StackNamePrefix", "Cd4ml-")


def test_the_oidc_provider_is_created_only_when_asked_and_else_the_account_s_own_is_trusted(bootstrap):
    provider = bootstrap["Resources"]["GitHubOidcProvider"]
    assert provider["Condition"] == "ShouldCreateOidcProvider"
    assert bootstrap["Conditions"]["ShouldCreateOidcProvider"] == {
        "Fn::Equals": [{"Ref": "CreateOidcProvider"}, "true"]
    }
    federated = bootstrap["Resources"]["GitHubDeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert federated["Principal"]["Federated"]["Fn::If"][:2] == [
        "ShouldCreateOidcProvider",
        {"Ref": "GitHubOidcProvider"},
    ]

    created = deploy(bootstrap, **GITHUB, CreateOidcProvider="true")
    existing = deploy(bootstrap, **GITHUB, CreateOidcProvider="false")  # deploy() fails on a Ref to the absent one

    assert created["GitHubOidcProvider"]["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert created["GitHubOidcProvider"]["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    assert "GitHubOidcProvider" not in existing
    trust = existing["GitHubDeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Federated": PROVIDER_ARN}


# ---- what the deploy role can do -------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [GITHUB, EVERY_OPTION], ids=["defaults", "every-option"])
def test_the_deploy_role_touches_iam_only_to_pass_the_execution_role_to_cloudformation(bootstrap, options):
    resources = deploy(bootstrap, **options)
    statements = [s for s in role_statements(resources, "GitHubDeployRole") if s["Effect"] == "Allow"]
    actions = [str(a) for s in statements for a in listed(s["Action"])]
    execution_role = f"arn:aws:iam::{ACCOUNT}:role/{resources['CloudFormationExecutionRole']['Properties']['RoleName']}"

    assert [a for a in actions if a == "*" or a.endswith(":*")] == []
    assert [a for a in actions if a.lower().startswith(("iam:", "sts:"))] == ["iam:PassRole"]
    (passing,) = [s for s in statements if "iam:PassRole" in listed(s["Action"])]
    assert passing["Resource"] == execution_role == f"arn:aws:iam::{ACCOUNT}:role/{BOOTSTRAP_STACK}-cfn-exec"
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}


def test_the_deploy_role_changes_the_app_stacks_and_never_the_bootstrap_s_own(bootstrap):
    statements = role_statements(deploy(bootstrap, **GITHUB), "GitHubDeployRole")
    app_stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{APP_STACK}/5f1e2d3c-0000-11ef-8f0e-0a1b2c3d4e5f"
    other_stack = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/payments-prod/5f1e2d3c-0000-11ef-8f0e-0a1b2c3d4e5f"

    for action in (
        "cloudformation:CreateChangeSet",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:DescribeStacks",
    ):
        assert allowed(statements, action, app_stack), action
        assert not allowed(statements, action, other_stack), action
        assert not allowed(statements, action, BOOTSTRAP_STACK_ID), action  # it matches the prefix: the Deny wins
    assert allowed(statements, "cloudformation:CreateChangeSet", SAM_TRANSFORM_ARN)
    assert not allowed(statements, "cloudformation:DeleteStack", app_stack)
    # the smoke test: the staging stack's buckets, state machines and model registry, not another app's
    bucket = f"arn:aws:s3:::{APP_STACK}-rawdatabucket-{SUFFIX.lower()}"
    assert allowed(statements, "s3:PutObject", f"{bucket}/datasets/smoke/2026-12-01/orders.csv")
    assert not allowed(statements, "s3:PutObject", f"{bucket}/features/orders.parquet")
    assert not allowed(statements, "s3:PutObject", "arn:aws:s3:::payments-rawdatabucket-x/datasets/a.csv")
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{APP_STACK}-training-pipeline:run-1"
    assert allowed(statements, "states:DescribeExecution", execution)
    assert not allowed(statements, "states:StartExecution", execution)


# ---- "*" and the shape of each grant ---------------------------------------------------------------------------


def test_only_actions_without_resource_types_are_granted_on_every_resource(bootstrap):
    grants = set(wildcard_grants(deploy(bootstrap, **GITHUB))) | set(wildcard_grants(deploy(bootstrap, **EVERY_OPTION)))

    assert sorted(grants - set(EXCEPTIONS)) == []
    assert sorted(set(EXCEPTIONS) - grants) == []  # a reason for a grant that is gone goes too


def iam_reference() -> dict[str, Any]:
    """cfn-lint's copy of the Service Authorization Reference: each service's actions with their resource types."""
    reference: dict[str, Any] = load_resource(cfnlint.data.AdditionalSpecs, "Policies.json")
    return reference


def shape_problems(statements: list[Mapping[str, Any]], reference: Mapping[str, Any]) -> list[str]:
    """Grants that cannot work: an unknown action, a scoped action IAM only authorises on "*", an ARN that is of no
    resource type of the statement's actions."""
    problems: list[str] = []
    fill = {"${Partition}": "aws", "${Region}": REGION, "${Account}": ACCOUNT}
    for statement in statements:
        if statement["Effect"] != "Allow":
            continue
        arns = [str(r) for r in listed(statement["Resource"])]
        formats: list[str] = []
        for pattern in listed(statement["Action"]):
            service, name = str(pattern).lower().split(":", 1)
            spec = reference.get(service, {"Actions": {}, "Resources": {}})
            actions = [a for a in spec["Actions"] if fnmatch.fnmatchcase(a, name)]
            if not actions:
                problems.append(f"{statement.get('Sid')}: {pattern} is no IAM action")
            types = {t.lower() for a in actions for t in spec["Actions"][a].get("Resources", [])}
            if arns != ["*"] and actions and not types:
                problems.append(f"{statement.get('Sid')}: {pattern} has no resource type, so only '*' grants it")
            by_type = {t.lower(): f for t, f in spec["Resources"].items()}
            formats += [f for t in types for f in by_type[t]["ARNFormats"]]
        for arn in arns if arns != ["*"] else []:
            sample = arn.replace("*", "x")  # a pattern stands for the names it matches
            patterns = ["".join(fill.get(part, part) for part in re.split(r"(\$\{\w+\})", f)) for f in formats]
            if arn != SAM_TRANSFORM_ARN and not any(re.fullmatch(p, sample) for p in patterns):
                problems.append(f"{statement.get('Sid')}: {arn} is of no resource type its actions have")
    return problems


def test_every_scoped_grant_names_an_action_iam_scopes_on_an_arn_of_its_resource_types(bootstrap):
    reference = iam_reference()
    resources = deploy(bootstrap, **EVERY_OPTION)

    for role in ("GitHubDeployRole", "CloudFormationExecutionRole"):
        assert shape_problems(role_statements(resources, role), reference) == [], role


def test_a_grant_that_cannot_work_is_named():
    reference = iam_reference()
    statements = [
        {"Sid": "Typo", "Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "arn:aws:s3:::b/*"},
        {"Sid": "NoType", "Effect": "Allow", "Action": "logs:DescribeLogGroups", "Resource": "arn:aws:logs:x"},
        {"Sid": "WrongArn", "Effect": "Allow", "Action": "states:DescribeExecution", "Resource": "arn:aws:s3:::b"},
        {
            "Sid": "Fine",
            "Effect": "Allow",
            "Action": "sqs:CreateQueue",
            "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q*",
        },
    ]

    assert shape_problems(statements, reference) == [
        "Typo: s3:GetObjekt is no IAM action",
        "Typo: arn:aws:s3:::b/* is of no resource type its actions have",
        "NoType: logs:DescribeLogGroups has no resource type, so only '*' grants it",
        "NoType: arn:aws:logs:x is of no resource type its actions have",
        "WrongArn: arn:aws:s3:::b is of no resource type its actions have",
    ]


# ---- the artifacts bucket and the execution role ---------------------------------------------------------------


def test_the_artifacts_bucket_is_encrypted_versioned_private_expiring_and_tls_only(bootstrap):
    default = deploy(bootstrap, **GITHUB)
    options = deploy(bootstrap, **EVERY_OPTION)
    bucket = default["ArtifactsBucket"]["Properties"]

    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}, "BucketKeyEnabled": True}
    (keyed,) = options["ArtifactsBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert keyed["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    (expiry,) = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled" and expiry["NoncurrentVersionExpiration"] == {"NoncurrentDays": "30"}
    assert "LoggingConfiguration" not in bucket
    assert options["ArtifactsBucket"]["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == (
        "acme-s3-access-logs"
    )

    policy = default["ArtifactsBucketPolicy"]["Properties"]
    assert policy["Bucket"] == ARTIFACTS_BUCKET
    insecure = next(s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "DenyInsecureTransport")
    assert insecure == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{ARTIFACTS_BUCKET}", f"arn:aws:s3:::{ARTIFACTS_BUCKET}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    # the execution role, whose bucket permissions match the bootstrap's own name, cannot reconfigure it
    execution = role_statements(default, "CloudFormationExecutionRole")
    assert not allowed(execution, "s3:PutBucketPolicy", f"arn:aws:s3:::{ARTIFACTS_BUCKET}")
    assert allowed(execution, "s3:PutBucketPolicy", f"arn:aws:s3:::{APP_STACK}-rawdatabucket-{SUFFIX.lower()}")


def test_only_cloudformation_of_this_account_assumes_the_execution_role_and_it_cannot_change_the_bootstrap(bootstrap):
    resources = deploy(bootstrap, **GITHUB)
    role = resources["CloudFormationExecutionRole"]["Properties"]
    execution = role_statements(resources, "CloudFormationExecutionRole")

    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Sid": "CloudFormationOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "cloudformation.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }
    ]
    for own in ("github-deploy", "cfn-exec"):
        bootstrap_role = f"arn:aws:iam::{ACCOUNT}:role/{BOOTSTRAP_STACK}-{own}"
        assert not allowed(execution, "iam:PutRolePolicy", bootstrap_role)
        assert not allowed(execution, "iam:UpdateAssumeRolePolicy", bootstrap_role)
    assert allowed(
        execution, "iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/{APP_STACK}-DecideFunctionRole-{SUFFIX}"
    )
    assert not allowed(execution, "iam:CreateRole", f"arn:aws:iam::{ACCOUNT}:role/payments-admin")


def test_with_a_permissions_boundary_the_app_s_roles_are_created_only_under_it(bootstrap):
    boundary = EVERY_OPTION["PermissionsBoundaryArn"]
    statements = role_statements(deploy(bootstrap, **EVERY_OPTION), "CloudFormationExecutionRole")
    writing = [s for s in statements if s["Effect"] == "Allow" and "iam:CreateRole" in listed(s["Action"])]
    attaching = [s for s in statements if s["Effect"] == "Allow" and "iam:AttachRolePolicy" in listed(s["Action"])]

    assert [s["Condition"]["StringEquals"] for s in writing + attaching] == [{"iam:PermissionsBoundary": boundary}] * 2
    keep = [
        s for s in statements if s["Effect"] == "Deny" and "iam:DeleteRolePermissionsBoundary" in listed(s["Action"])
    ]
    assert [s["Resource"] for s in keep] == ["*"]
    without = role_statements(deploy(bootstrap, **GITHUB), "CloudFormationExecutionRole")
    assert [s.get("Condition") for s in without if "iam:CreateRole" in listed(s["Action"])] == [None]


# ---- the execution role against the app template ---------------------------------------------------------------


def test_the_execution_role_can_create_every_resource_of_the_app_template(bootstrap, app):
    execution = role_statements(deploy(bootstrap, **GITHUB), "CloudFormationExecutionRole")

    assert uncovered(app, execution) == []
    # the check reached what matters: functions with their layer, SAM's roles, the state machines, the HTTP API
    kinds = {resource["Type"] for resource in app.values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::LayerVersion", "AWS::StepFunctions::StateMachine"} <= kinds
    assert {"AWS::IAM::Role", "AWS::ApiGatewayV2::Api", "AWS::SageMaker::ModelPackageGroup"} <= kinds


def test_a_new_resource_type_a_name_outside_the_prefix_and_an_unpassable_role_are_named(bootstrap, app):
    execution = role_statements(deploy(bootstrap, **GITHUB), "CloudFormationExecutionRole")
    role = f"arn:aws:iam::{ACCOUNT}:role/{APP_STACK}-TaskRole-{SUFFIX}"
    planted: dict[str, Any] = {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
        "Export": {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "billing-export", "Role": role}},
        "Pipe": {
            "Type": "AWS::Events::Rule",
            "Properties": {"Targets": [{"Id": "t", "RoleArn": "arn:aws:iam::1:role/x"}]},
        },
        "Admin": {
            "Type": "AWS::IAM::Role",
            "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]},
        },
    }

    assert uncovered(planted, execution) == [
        "Admin (AWS::IAM::Role): attaching arn:aws:iam::aws:policy/AdministratorAccess is not granted",
        f"Export (AWS::Lambda::Function): lambda:CreateFunction on arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
        "billing-export is not granted",
        "Pipe (AWS::Events::Rule): iam:PassRole of arn:aws:iam::1:role/x to events.amazonaws.com is not granted",
        "Vpc: type AWS::EC2::VPC is not in CREATE_ACTIONS: grant it in ci/bootstrap.yaml",
    ]


def test_the_app_s_names_resolve_to_what_the_grants_are_written_for(app):
    # the names the grants rely on, so that a rename in template.yaml shows here rather than in a failed deploy
    layers = {r["Properties"]["LayerName"] for r in app.values() if r["Type"] == "AWS::Lambda::LayerVersion"}
    groups = {
        r["Properties"]["ModelPackageGroupName"]
        for r in app.values()
        if r["Type"] == "AWS::SageMaker::ModelPackageGroup"
    }
    machines = {
        r["Properties"]["StateMachineName"] for r in app.values() if r["Type"] == "AWS::StepFunctions::StateMachine"
    }

    assert layers == {f"{APP_STACK}-shared"}
    assert groups == {f"{APP_STACK}-fraud"}
    assert machines and all(name.startswith(f"{APP_STACK}-") for name in machines)
