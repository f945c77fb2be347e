"""JobCompletionFunction: a SageMaker job's terminal state-change event claims the job's token (once) and resumes the
waiting task; a task that is gone drops the result, a transient error puts the token back for the event's retry."""

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto_world import create_token_table

TABLE = "cd4ml-dev-TaskTokenTable"
TRAINING_JOB = "cd4ml-3cf9a8ac133a728a-train-0"
RUN_ID = "orders-2026-11-25-3cf9a8ac133a728a"


@pytest.fixture
def tokens(aws):
    """The token table with the Train task's token, as start_job stored it."""
    create_token_table(TABLE)
    table = boto3.resource("dynamodb").Table(TABLE)
    table.put_item(
        Item={"job_name": TRAINING_JOB, "token": "token-1", "run_id": RUN_ID, "kind": "training", "expires_at": 1}
    )
    return table


@pytest.fixture
def app(tokens, load_function):
    return load_function("job_completion", {"TOKEN_TABLE": TABLE})


@pytest.fixture
def sent(app):
    """What the waiting task receives: every SendTaskSuccess / SendTaskFailure the function makes (moto answers)."""
    calls: list[tuple[str, dict]] = []
    for operation in ("SendTaskSuccess", "SendTaskFailure"):
        app.sfn.meta.events.register(
            f"provide-client-params.sfn.{operation}",
            lambda params, operation=operation, **_: calls.append((operation, dict(params))),
        )
    return calls


def test_a_completed_training_job_resumes_its_task_with_model_and_metrics(app, tokens, sent, sample_event, context):
    result = app.handler(sample_event("sagemaker_training_job_completed.json"), context)

    assert result == {"resumed": TRAINING_JOB, "status": "Completed", "run_id": RUN_ID}
    ((operation, params),) = sent
    output = json.loads(params["output"])
    assert operation == "SendTaskSuccess" and params["taskToken"] == "token-1"
    assert output["model_uri"].endswith(f"/{TRAINING_JOB}/output/model.tar.gz")
    assert output["metrics"] == {"validation:aucpr": 0.41} and output["billable_seconds"] == 152
    assert "Item" not in tokens.get_item(Key={"job_name": TRAINING_JOB})  # claimed


def test_a_failed_job_fails_its_task_with_the_job_error_and_reason(app, sent, sample_event, context):
    event = sample_event("sagemaker_training_job_completed.json")
    event["detail"].update(TrainingJobStatus="Failed", FailureReason="AlgorithmError: out of memory")

    result = app.handler(event, context)

    assert result["resumed"] == TRAINING_JOB and result["status"] == "Failed"
    ((operation, params),) = sent
    assert operation == "SendTaskFailure" and params["error"] == "SageMaker.TrainingJobFailed"
    assert json.loads(params["cause"])["reason"] == "AlgorithmError: out of memory"


def test_a_second_delivery_of_the_same_event_resumes_nothing(app, sent, sample_event, context):
    event = sample_event("sagemaker_training_job_completed.json")
    app.handler(event, context)

    again = app.handler(event, context)

    assert again == {"ignored": TRAINING_JOB, "why": "no waiting task (not a pipeline job, or already resumed)"}
    assert len(sent) == 1


def test_a_job_still_running_is_ignored_and_keeps_its_token(app, tokens, sample_event, context):
    event = sample_event("sagemaker_training_job_completed.json")
    event["detail"]["TrainingJobStatus"] = "InProgress"

    assert app.handler(event, context) == {"ignored": TRAINING_JOB, "why": "status InProgress is not terminal"}
    assert "Item" in tokens.get_item(Key={"job_name": TRAINING_JOB})


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_vanished_execution_drops_the_result_and_the_token(app, tokens, sample_event, context, code):
    stub = Stubber(app.sfn)
    stub.add_client_error("send_task_success", service_error_code=code, service_message="gone")
    stub.activate()

    result = app.handler(sample_event("sagemaker_training_job_completed.json"), context)

    assert result == {"ignored": TRAINING_JOB, "why": code}
    assert "Item" not in tokens.get_item(Key={"job_name": TRAINING_JOB})


def test_a_transient_error_puts_the_token_back_and_fails_for_the_event_retry(app, tokens, sample_event, context):
    before = tokens.get_item(Key={"job_name": TRAINING_JOB})["Item"]
    stub = Stubber(app.sfn)
    stub.add_client_error("send_task_success", service_error_code="ServiceUnavailable", http_status_code=503)
    stub.activate()

    with pytest.raises(ClientError) as raised:
        app.handler(sample_event("sagemaker_training_job_completed.json"), context)

    assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert tokens.get_item(Key={"job_name": TRAINING_JOB})["Item"] == before


ENDPOINT = "cd4ml-dev-fraud"


@pytest.fixture
def rollout(tokens):
    """The Rollout task's token, as deploy_model stored it under the endpoint's name before UpdateEndpoint."""
    tokens.put_item(Item={"job_name": ENDPOINT, "token": "token-d", "run_id": "deploy-v3", "kind": "endpoint"})
    return tokens


def test_an_endpoint_in_service_resumes_the_waiting_rollout_with_where_it_settled(
    app, rollout, sent, sample_event, context
):
    result = app.handler(sample_event("sagemaker_endpoint_in_service.json"), context)

    assert result == {"resumed": ENDPOINT, "status": "IN_SERVICE", "run_id": "deploy-v3"}
    ((operation, params),) = sent
    assert operation == "SendTaskSuccess" and params["taskToken"] == "token-d"
    assert json.loads(params["output"]) == {
        "endpoint_name": ENDPOINT,
        "status": "IN_SERVICE",
        "config_name": "cd4ml-dev-fraud-v3",
        "failure_reason": "",
    }
    assert "Item" not in rollout.get_item(Key={"job_name": ENDPOINT})  # claimed once


def test_a_rolled_back_update_also_resumes_the_rollout_so_the_next_step_can_judge_it(
    app, rollout, sent, sample_event, context
):
    # AWS's silent rollback: IN_SERVICE again, on the old config (the Verify step turns it into DeploymentRolledBack)
    event = sample_event("sagemaker_endpoint_in_service.json")
    event["detail"].update(EndpointConfigName="cd4ml-dev-fraud-v2", FailureReason="")

    app.handler(event, context)

    ((operation, params),) = sent
    assert operation == "SendTaskSuccess" and json.loads(params["output"])["config_name"] == "cd4ml-dev-fraud-v2"


def test_an_endpoint_still_updating_keeps_the_rollout_waiting(app, rollout, sent, sample_event, context):
    event = sample_event("sagemaker_endpoint_in_service.json")
    event["detail"]["EndpointStatus"] = "UPDATING"

    assert app.handler(event, context) == {"ignored": ENDPOINT, "why": "status UPDATING is not settled"}
    assert sent == [] and "Item" in rollout.get_item(Key={"job_name": ENDPOINT})


def test_an_endpoint_event_without_a_waiting_deployment_resumes_nothing(app, sent, sample_event, context):
    result = app.handler(sample_event("sagemaker_endpoint_in_service.json"), context)

    assert result["ignored"] == ENDPOINT and sent == []
