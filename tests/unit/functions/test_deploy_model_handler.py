"""DeployModelFunction's rollout step: the waiting task's token is held under the endpoint's name (one deployment
at a time), released when the endpoint could not be asked to move (no event will come for it), and taken over only
from a task whose own wait is over."""

import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from cd4ml_shared.deployment import EndpointBusy
from cd4ml_shared.errors import SageMakerUnavailable
from moto_world import create_token_table, deployment_step

DEFINITION = Path(__file__).resolve().parents[3] / "statemachines" / "deployment.asl.json"
TABLE = "cd4ml-dev-TaskTokenTable"
ENDPOINT = "cd4ml-dev-fraud"
ENVIRONMENT = {
    "TOKEN_TABLE": TABLE,
    "NOTIFICATION_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:cd4ml-dev-NotificationTopic",
    "ENDPOINT_NAME": ENDPOINT,
    "MODEL_PACKAGE_GROUP": ENDPOINT,
    "ARTIFACTS_BUCKET": "artifacts",
    "SAGEMAKER_ROLE_ARN": "arn:aws:iam::123456789012:role/sagemaker",
    "INSTANCE_TYPE": "ml.m5.large",
    "INSTANCE_COUNT": "1",
    "CAPTURE_PERCENT": "100",
    "TRAFFIC_ROUTING": "CANARY",
    "TRAFFIC_STEP_PERCENT": "10",
    "BAKING_SECONDS": "60",
    "TERMINATION_WAIT_SECONDS": "0",
    "MAX_EXECUTION_SECONDS": "600",
    "ROLLBACK_ALARMS": "errors,latency",
}


@pytest.fixture
def tokens(aws):
    return create_token_table(TABLE)


@pytest.fixture
def app(tokens, load_function, context):
    """The function, with versions 1 and 2's model and endpoint config made by its own steps."""
    app = load_function("deploy_model", ENVIRONMENT)
    for version in (1, 2):
        for step in ("create_model", "create_endpoint_config"):
            app.handler({**rollout(version, ""), "step": step}, context)
    return app


def rollout(version: int, token: str) -> dict:
    """The Rollout task's payload for a version."""
    return deployment_step("rollout", version, ENDPOINT, token=token)


def test_a_rollout_holds_the_token_under_the_endpoint_and_a_second_one_is_told_the_endpoint_is_busy(
    app, tokens, context
):
    app.handler(rollout(1, "token-1"), context)  # moto accepts the CreateEndpoint: the token waits for its event
    held = tokens.get_item(Key={"job_name": ENDPOINT})["Item"]
    assert held["token"] == "token-1" and held["run_id"] == "deploy-v1" and held["kind"] == "endpoint"
    boto3.client("sagemaker").delete_endpoint(EndpointName=ENDPOINT)  # past the status check, as in a race

    with pytest.raises(EndpointBusy, match="another deployment's task is waiting on it"):
        app.handler(rollout(2, "token-2"), context)

    assert tokens.get_item(Key={"job_name": ENDPOINT})["Item"]["token"] == "token-1"  # not overwritten


def test_a_token_whose_wait_is_over_is_taken_over(app, tokens, context):
    tokens.put_item(Item={"job_name": ENDPOINT, "token": "stale", "run_id": "deploy-v1", "held_until": 1})

    app.handler(rollout(2, "token-2"), context)

    assert tokens.get_item(Key={"job_name": ENDPOINT})["Item"]["token"] == "token-2"


def test_a_rollout_sagemaker_refuses_releases_the_token(app, tokens, context):
    stub = Stubber(app.sagemaker)
    stub.add_client_error("describe_endpoint", service_error_code="ValidationException", service_message="no")
    stub.add_client_error("describe_endpoint", service_error_code="ValidationException", service_message="no")
    stub.add_client_error("create_endpoint", service_error_code="ResourceLimitExceeded", service_message="quota")
    stub.activate()

    with pytest.raises(Exception, match="quota"):
        app.handler(rollout(1, "token-1"), context)

    assert "Item" not in tokens.get_item(Key={"job_name": ENDPOINT})


def test_a_retried_step_reuses_the_versions_model_and_config(app, context):
    assert app.handler({**rollout(1, ""), "step": "create_model"}, context) == {
        "model_name": f"{ENDPOINT}-v1",
        "created": False,
    }
    again = app.handler({**rollout(1, ""), "step": "create_endpoint_config"}, context)
    assert again == {"config_name": f"{ENDPOINT}-v1", "created": False}


def test_a_throttled_sagemaker_call_is_sagemaker_unavailable_which_the_state_machine_retries(app, tokens, context):
    stub = Stubber(app.sagemaker)
    stub.add_client_error("describe_endpoint", service_error_code="ThrottlingException", service_message="slow down")
    stub.activate()

    with pytest.raises(SageMakerUnavailable, match=r"deploy_model rollout: .*slow down"):
        app.handler(rollout(1, "token-1"), context)

    assert "Item" not in tokens.get_item(Key={"job_name": ENDPOINT})
    retried = {
        name
        for state in json.loads(DEFINITION.read_text())["States"].values()
        for retrier in state.get("Retry", [])
        for name in retrier["ErrorEquals"]
    }
    assert "SageMakerUnavailable" in retried and "ThrottlingException" not in retried  # Lambda's errorType names
