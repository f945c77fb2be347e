"""The security options on what SAM makes of the template: KmsKeyArn encrypts every bucket, stream, table, queue and
function environment with the customer's key and grants it to every role that touches them; PermissionsBoundary
bounds every role; JobSubnetIds lets SageMaker attach its network interfaces. Empty, each leaves the AWS-managed
defaults as they were."""

from typing import Any

import pytest
from resolved_template import resolved

from cd4ml.localcloud.deploy.template import load_template, transform_template

REGION, STACK = "us-east-1", "cd4ml-prod"
KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
BOUNDARY = "arn:aws:iam::123456789012:policy/platform-boundary"


@pytest.fixture(scope="module")
def transformed(root):
    return transform_template(load_template(root / "template.yaml"), {}, root, REGION)


def of_type(transformed: Any, kind: str) -> list[str]:
    return sorted(k for k, r in transformed.resources.items() if r["Type"] == kind)


def props(transformed: Any, logical_id: str, **parameters: str) -> dict[str, Any]:
    return resolved(transformed, logical_id, region=REGION, stack=STACK, **parameters)


def test_every_store_is_under_the_customer_key_when_one_is_given(transformed) -> None:
    for bucket in ("RawDataBucket", "ArtifactsBucket"):
        [rule] = props(transformed, bucket, KmsKeyArn=KEY)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
    streams = of_type(transformed, "AWS::Kinesis::Stream")
    assert streams == ["DecisionLogStream", "GroundTruthStream"]
    for stream in streams:
        assert props(transformed, stream, KmsKeyArn=KEY)["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": KEY}
    tables = of_type(transformed, "AWS::DynamoDB::Table")
    assert len(tables) == 3
    for table in tables:
        sse = props(transformed, table, KmsKeyArn=KEY)["SSESpecification"]
        assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY}
    queues = of_type(transformed, "AWS::SQS::Queue")
    assert len(queues) == 5
    for queue in queues:
        queue_properties = props(transformed, queue, KmsKeyArn=KEY)
        assert (queue_properties["KmsMasterKeyId"], queue_properties["SqsManagedSseEnabled"]) == (KEY, False)
    functions = of_type(transformed, "AWS::Lambda::Function")
    assert len(functions) == 22
    assert {f: props(transformed, f, KmsKeyArn=KEY).get("KmsKeyArn") for f in functions} == dict.fromkeys(
        functions, KEY
    )


def test_without_a_key_the_stores_keep_the_aws_managed_keys(transformed) -> None:
    for bucket in ("RawDataBucket", "ArtifactsBucket"):
        [rule] = props(transformed, bucket)["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms"}
    for stream in of_type(transformed, "AWS::Kinesis::Stream"):
        assert props(transformed, stream)["StreamEncryption"]["KeyId"] == "alias/aws/kinesis"
    for table in of_type(transformed, "AWS::DynamoDB::Table"):
        assert props(transformed, table)["SSESpecification"] == {"SSEEnabled": True}
    for queue in of_type(transformed, "AWS::SQS::Queue"):
        queue_properties = props(transformed, queue)
        assert queue_properties["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in queue_properties
    assert all("KmsKeyArn" not in props(transformed, f) for f in of_type(transformed, "AWS::Lambda::Function"))


ONLY_INVOKING = {"lambda:InvokeFunction", "states:StartExecution"}


def actions(node: Any) -> set[str]:
    """Every action a role's policies name, through conditions and nesting."""
    if isinstance(node, list):
        return set().union(*map(actions, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = set().union(*map(actions, node.values())) if node else set()
    action = node.get("Action")
    return found | ({action} if isinstance(action, str) else set(action) if isinstance(action, list) else set())


def invoking_roles(transformed: Any) -> set[str]:
    """The roles that only invoke functions or start executions (the state machines', a schedule's): nothing they
    read or write is under the key."""
    return {
        role
        for role in of_type(transformed, "AWS::IAM::Role")
        if actions(transformed.resources[role]["Properties"].get("Policies")) <= ONLY_INVOKING
    }


def test_the_key_is_granted_to_every_role_that_reads_or_writes_data_and_only_with_a_key(transformed) -> None:
    policy = transformed.resources["CustomerKeyUse"]
    assert policy["Condition"] == "HasKmsKey"
    assert transformed.conditions["HasKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}
    granted = props(transformed, "CustomerKeyUse", KmsKeyArn=KEY)
    invoking = invoking_roles(transformed)
    assert len(invoking) == 5  # the four state machines' roles and the monitoring schedule's
    assert sorted(granted["Roles"]) == sorted(set(of_type(transformed, "AWS::IAM::Role")) - invoking)
    use, grant = granted["PolicyDocument"]["Statement"]
    assert use["Resource"] == grant["Resource"] == KEY
    assert {"kms:Decrypt", "kms:GenerateDataKey"} <= set(use["Action"])
    assert (grant["Action"], grant["Condition"]) == ("kms:CreateGrant", {"Bool": {"kms:GrantIsForAWSResource": "true"}})


def test_a_permissions_boundary_bounds_every_role_of_the_stack(transformed) -> None:
    roles = of_type(transformed, "AWS::IAM::Role")
    # the functions', the state machines', the monitoring schedule's, SageMaker's and the decision rule's
    assert len(roles) == 22 + 4 + 1 + 2
    bounded = {
        role: props(transformed, role, PermissionsBoundaryArn=BOUNDARY).get("PermissionsBoundary") for role in roles
    }
    assert bounded == dict.fromkeys(roles, BOUNDARY)
    assert all("PermissionsBoundary" not in props(transformed, role) for role in roles)


def vpc_policies(properties: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in properties["Policies"] if p["PolicyName"] == "jobs-in-vpc"]


def test_sagemaker_may_attach_network_interfaces_only_when_the_jobs_run_in_subnets(transformed) -> None:
    assert vpc_policies(props(transformed, "SageMakerExecutionRole")) == []
    [policy] = vpc_policies(
        props(transformed, "SageMakerExecutionRole", JobSubnetIds="subnet-0a,subnet-0b", JobSecurityGroupIds="sg-01")
    )
    describe, create, manage = policy["PolicyDocument"]["Statement"]
    assert describe["Resource"] == "*" and all(a.startswith("ec2:Describe") for a in describe["Action"])
    assert create["Action"] == "ec2:CreateNetworkInterface"
    assert all(r.startswith("arn:aws:ec2:us-east-1:123456789012:") for r in create["Resource"])
    assert manage["Resource"] == "arn:aws:ec2:us-east-1:123456789012:network-interface/*"


SAGEMAKER_CALLERS = ("StartJobFunction", "StartTransformFunction", "ScoringModelFunction", "DeployModelFunction")
SECURITY_VARIABLES = ("KMS_KEY_ID", "VPC_SUBNET_IDS", "VPC_SECURITY_GROUP_IDS", "ENABLE_NETWORK_ISOLATION")


def security_environment(transformed: Any, function: str, **parameters: str) -> dict[str, str]:
    variables = props(transformed, function, **parameters)["Environment"]["Variables"]
    return {name: variables[name] for name in SECURITY_VARIABLES}


def test_the_functions_that_create_sagemaker_work_get_the_options_as_job_security_reads_them(transformed) -> None:
    from cd4ml_shared.job_security import JobSecurity

    options = {
        "KmsKeyArn": KEY,
        "JobSubnetIds": "subnet-0a1b2c3d,subnet-4e5f6a7b",
        "JobSecurityGroupIds": "sg-0123abcd",
        "EnableNetworkIsolation": "true",
    }
    for function in SAGEMAKER_CALLERS:
        given = security_environment(transformed, function, **options)
        assert JobSecurity.from_environment(given) == JobSecurity(
            kms_key_id=KEY,
            subnet_ids=("subnet-0a1b2c3d", "subnet-4e5f6a7b"),
            security_group_ids=("sg-0123abcd",),
            network_isolation=True,
        ), function
        assert JobSecurity.from_environment(security_environment(transformed, function)) == JobSecurity(), function
    # no other function creates jobs, models or endpoint configs: none reads the variables
    others = set(of_type(transformed, "AWS::Lambda::Function")) - set(SAGEMAKER_CALLERS)
    for function in others:
        variables = props(transformed, function).get("Environment", {}).get("Variables", {})
        assert not set(SECURITY_VARIABLES) & set(variables), function
