"""Lambda on the local cloud: real handlers from CodeUri, layers, environment, context, errors, timeouts, async."""

import base64
import io
import json
import time
import zipfile

import pytest
from botocore.exceptions import ClientError


def _invoke(cloud, logical_id, event, **kwargs):
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id(logical_id), Payload=json.dumps(event).encode(), **kwargs
    )
    return response, json.loads(response["Payload"].read())


def _receive_all(cloud, queue_logical_id, expected, timeout=20.0):
    sqs = cloud.client("sqs")
    url = cloud.physical_id(queue_logical_id)
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        for message in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages.extend(got)
    return messages


def test_handler_sees_template_environment_layer_and_context(core_cloud):
    response, body = _invoke(core_cloud, "EchoFunction", {"hello": "world"})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["event"] == {"hello": "world"}
    assert body["bucket"] == core_cloud.physical_id("DataBucket")  # !Ref resolved to the local bucket name
    assert body["table"] == core_cloud.physical_id("EventsTable")
    assert body["stage"] == "dev" and body["prod"] == "no"  # parameter default and Fn::If on a condition
    assert body["shout"] == "HELLO!"  # imported from the layer
    assert body["function_name"] == core_cloud.physical_id("EchoFunction")
    assert body["arn"] == core_cloud.attribute("EchoFunction", "Arn")
    assert body["memory"] == 256
    assert 9000 < body["remaining_ms"] <= 10000  # Timeout: 10 from Globals
    assert len(body["request_id"]) == 36


def test_warm_invocations_reuse_the_execution_environment(core_cloud):
    first = _invoke(core_cloud, "EchoFunction", {})[1]["warm_calls"]
    second = _invoke(core_cloud, "EchoFunction", {})[1]["warm_calls"]
    assert second == first + 1


def test_functions_do_not_see_each_others_modules(core_cloud):
    # recorder_marker.py lives in RecorderFunction's CodeUri; EchoFunction must not be able to import it.
    _invoke(core_cloud, "RecorderFunction", {"pk": "isolation-check"})
    assert _invoke(core_cloud, "EchoFunction", {})[1]["sees_other_function"] is False


def test_handler_exception_comes_back_in_the_aws_error_shape(core_cloud):
    response, body = _invoke(core_cloud, "EchoFunction", {"fail": "on purpose"})

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "asked to fail: on purpose"
    assert any("app.py" in line and "in handler" in line for line in body["stackTrace"])


def test_timeout_is_enforced_and_the_function_recovers(core_cloud):
    started = time.monotonic()
    response, body = _invoke(core_cloud, "SleeperFunction", {"seconds": 5})
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert elapsed < 3.0
    # the timed-out environment was discarded; a fresh one serves the next request
    response, body = _invoke(core_cloud, "SleeperFunction", {"seconds": 0})
    assert "FunctionError" not in response and body == {"slept": True}


def test_log_tail_returns_the_invocation_log(core_cloud):
    response, _ = _invoke(core_cloud, "EchoFunction", {}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "START RequestId:" in log and "END RequestId:" in log and "REPORT RequestId:" in log


def test_unknown_function_is_resource_not_found(core_cloud):
    with pytest.raises(ClientError) as error:
        core_cloud.client("lambda").invoke(FunctionName="no-such-function", Payload=b"{}")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_async_failure_is_retried_then_sent_to_the_on_failure_destination(core_cloud):
    response = core_cloud.client("lambda").invoke(
        FunctionName=core_cloud.physical_id("FailerFunction"), InvocationType="Event", Payload=b'{"n": 7}'
    )
    assert response["StatusCode"] == 202

    messages = _receive_all(core_cloud, "FailureQueue", expected=1)
    assert len(messages) == 1
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # MaximumRetryAttempts: 2
    assert record["requestPayload"] == {"n": 7}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "failure for 7"


def test_async_failure_without_destination_goes_to_the_dead_letter_queue(core_cloud):
    core_cloud.client("lambda").invoke(
        FunctionName=core_cloud.physical_id("DeadLetterFunction"), InvocationType="Event", Payload=b'{"n": 9}'
    )
    messages = _receive_all(core_cloud, "DeadLetterQueue", expected=1)
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"]) == {"n": 9}
    attributes = messages[0]["MessageAttributes"]
    assert attributes["ErrorMessage"]["StringValue"] == "failure for 9"
    assert attributes["RequestID"]["StringValue"]


def test_the_dead_letter_queue_is_shown_changed_and_removed_through_the_api(core_cloud):
    lam, function = core_cloud.client("lambda"), core_cloud.physical_id("DeadLetterFunction")
    queue_arn = core_cloud.attribute("DeadLetterQueue", "Arn")
    assert lam.get_function_configuration(FunctionName=function)["DeadLetterConfig"] == {"TargetArn": queue_arn}
    other_arn = core_cloud.attribute("FailureQueue", "Arn")
    try:
        lam.update_function_configuration(FunctionName=function, DeadLetterConfig={"TargetArn": other_arn})
        assert lam.get_function_configuration(FunctionName=function)["DeadLetterConfig"] == {"TargetArn": other_arn}
        lam.invoke(FunctionName=function, InvocationType="Event", Payload=b'{"n": 11}')
        (message,) = _receive_all(core_cloud, "FailureQueue", expected=1)
        assert json.loads(message["Body"]) == {"n": 11}

        lam.update_function_configuration(FunctionName=function, DeadLetterConfig={"TargetArn": ""})
        assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=function)
    finally:
        lam.update_function_configuration(FunctionName=function, DeadLetterConfig={"TargetArn": queue_arn})


def test_function_created_through_the_api_from_a_zip_runs_its_code(core_cloud):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(
            "handler.py",
            "import os\n\n"
            "def main(event, context):\n"
            "    return {'twice': event['n'] * 2, 'colour': os.environ['COLOUR']}\n",
        )
    lam = core_cloud.client("lambda")
    lam.create_function(
        FunctionName="uploaded-by-hand",
        Runtime="python3.11",
        Role=core_cloud.attribute("EchoFunctionRole", "Arn"),
        Handler="handler.main",
        Code={"ZipFile": archive.getvalue()},
        Environment={"Variables": {"COLOUR": "teal"}},
    )

    response = lam.invoke(FunctionName="uploaded-by-hand", Payload=b'{"n": 21}')
    assert json.loads(response["Payload"].read()) == {"twice": 42, "colour": "teal"}
