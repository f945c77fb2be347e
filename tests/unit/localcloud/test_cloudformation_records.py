"""What CloudFormation answers about a deployed stack, with plain values: ids, masking, outputs, redeploys."""

from datetime import UTC, datetime

from cd4ml.localcloud.cloudformation import (
    DeployedStacks,
    StackOutputRecord,
    StackRecord,
    StackResourceRecord,
    output_value,
    stack_id,
)

CREATED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _stack(**changes):
    fields = {
        "name": "cd4ml",
        "stack_id": stack_id("cd4ml", "us-east-1"),
        "region": "us-east-1",
        "parameters": {"Stage": "dev", "ApiToken": "s3cr3t"},
        "no_echo": frozenset({"ApiToken"}),
        "outputs": [StackOutputRecord("RawBucketName", "cd4ml-raw-1", "Upload datasets here", "cd4ml-raw")],
        "resources": [StackResourceRecord("RawDataBucket", "cd4ml-raw-1", "AWS::S3::Bucket", CREATED)],
        "created": CREATED,
    }
    return StackRecord(**{**fields, **changes})


def test_the_stack_id_is_a_cloudformation_arn_stable_per_name_and_region():
    arn = stack_id("cd4ml", "us-east-1")

    assert arn.startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/cd4ml/")
    assert len(arn.rsplit("/", 1)[1]) == 36
    assert arn == stack_id("cd4ml", "us-east-1")
    assert arn != stack_id("cd4ml", "eu-west-1") and arn != stack_id("other", "us-east-1")


def test_describe_masks_no_echo_parameters_and_keeps_output_descriptions_and_exports():
    described = _stack().describe()

    assert described["Parameters"] == [
        {"ParameterKey": "Stage", "ParameterValue": "dev"},
        {"ParameterKey": "ApiToken", "ParameterValue": "****"},
    ]
    assert described["Outputs"] == [
        {
            "OutputKey": "RawBucketName",
            "OutputValue": "cd4ml-raw-1",
            "Description": "Upload datasets here",
            "ExportName": "cd4ml-raw",
        }
    ]
    assert described["StackStatus"] == "CREATE_COMPLETE" and "LastUpdatedTime" not in described


def test_a_stack_without_outputs_has_no_outputs_member():
    assert "Outputs" not in _stack(outputs=[]).describe()


def test_outputs_are_strings():
    assert output_value(["us-east-1a", "us-east-1b"]) == "us-east-1a,us-east-1b"
    assert output_value(8080) == "8080"


def test_a_redeploy_keeps_id_and_creation_time_and_is_an_update():
    stacks = DeployedStacks()
    first = stacks.record(_stack())

    second = stacks.record(_stack(created=datetime.now(UTC), parameters={"Stage": "prod", "ApiToken": "x"}))

    assert second.created == first.created and second.status == "UPDATE_COMPLETE"
    assert second.updated is not None and second.updated >= first.created
    assert stacks.find("us-east-1", first.stack_id) is second
    assert stacks.find("us-east-1", "cd4ml") is second and stacks.find("eu-west-1", "cd4ml") is None


def test_a_physical_id_finds_its_stack():
    stacks = DeployedStacks()
    stacks.record(_stack())

    assert stacks.holding("us-east-1", "cd4ml-raw-1").name == "cd4ml"
    assert stacks.holding("us-east-1", "someone-elses-bucket") is None
