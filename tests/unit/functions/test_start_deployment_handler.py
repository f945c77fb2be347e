"""StartDeploymentFunction: an approved version of the stack's group starts one execution named after the version
(events/sagemaker_model_package_approved.json); another group, another status, or an approval older than the version
in service starts nothing."""

import json

import boto3
import pytest
from moto_world import create_waiting_state_machine

STATE_MACHINE = "cd4ml-dev-deployment"
ENDPOINT = "cd4ml-dev-fraud"
ENVIRONMENT = {
    "STATE_MACHINE_ARN": f"arn:aws:states:us-east-1:123456789012:stateMachine:{STATE_MACHINE}",
    "ENDPOINT_NAME": ENDPOINT,
    "MODEL_PACKAGE_GROUP": "cd4ml-dev-fraud",  # the sample event's group
}


@pytest.fixture
def sfn(aws):
    return create_waiting_state_machine(STATE_MACHINE, "cd4ml-dev-DeploymentRole")


@pytest.fixture
def app(sfn, load_function):
    return load_function("start_deployment", ENVIRONMENT)


def executions(sfn) -> list[dict]:
    return sfn.list_executions(stateMachineArn=ENVIRONMENT["STATE_MACHINE_ARN"])["executions"]


def serve(config_name: str) -> None:
    """An endpoint in service on `config_name`, as an earlier deployment left it."""
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(
        ModelName=config_name, ExecutionRoleArn="arn:aws:iam::123456789012:role/sm", PrimaryContainer={"Image": "x"}
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=config_name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": config_name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config_name)


def test_an_approval_starts_one_deployment_named_after_the_version(app, sfn, sample_event, context):
    event = sample_event("sagemaker_model_package_approved.json")

    first = app.handler(event, context)
    again = app.handler(event, context)

    assert first["started"] is True and first["execution_name"] == "deploy-v3"
    assert again == {"started": False, "execution_name": "deploy-v3"}
    (execution,) = executions(sfn)
    deployment = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert deployment["model_package_arn"] == event["detail"]["ModelPackageArn"] and deployment["version"] == 3
    assert deployment["config_name"] == deployment["model_name"] == f"{ENDPOINT}-v3"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ModelPackageGroupName": "someone-elses-fraud"}, "is not an approved or rejected version of cd4ml-dev-fraud"),
        ({"ModelApprovalStatus": "PendingManualApproval"}, "is not an approved or rejected version of cd4ml-dev-fraud"),
    ],
)
def test_another_groups_version_or_a_pending_one_deploys_nothing(app, sfn, sample_event, context, change, why):
    event = sample_event("sagemaker_model_package_approved.json")
    event["detail"].update(change)

    result = app.handler(event, context)

    assert result["started"] is False and why in result["ignored"] and executions(sfn) == []


def test_an_approval_older_than_the_version_in_service_is_refused(app, sfn, sample_event, context):
    serve(f"{ENDPOINT}-v5")

    result = app.handler(sample_event("sagemaker_model_package_approved.json"), context)

    assert result == {"started": False, "ignored": "version 3 is older than version 5 in service"}
    assert executions(sfn) == []
