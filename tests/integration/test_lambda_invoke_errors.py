"""Invoke refuses a payload as Lambda does, before the function runs: not JSON (400 InvalidRequestContentException)
or over the quota of its invocation type (413 RequestEntityTooLargeException: 6 MB synchronous, 1 MB Event)."""

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

EVENTS = Path(__file__).parents[2] / "events"
SYNC_LIMIT = 6_291_456
ASYNC_LIMIT = 1_048_576


def _json_of_size(size: int) -> bytes:
    """A real event (the S3 Object Created shape) padded to exactly `size` bytes of JSON."""
    event = json.loads((EVENTS / "s3_object_created.json").read_text())
    base = len(json.dumps({**event, "padding": ""}).encode())
    payload = json.dumps({**event, "padding": "x" * (size - base)}).encode()
    assert len(payload) == size
    return payload


def _warm_calls(cloud) -> int:
    response = cloud.client("lambda").invoke(FunctionName=cloud.physical_id("EchoFunction"), Payload=b"{}")
    return json.loads(response["Payload"].read())["warm_calls"]


def _refusal(cloud, payload: bytes, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as caught:
        cloud.client("lambda").invoke(FunctionName=cloud.physical_id("EchoFunction"), Payload=payload, **kwargs)
    return caught.value


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event"])
@pytest.mark.parametrize("payload", [b"hello", b'{"order": 1', b'{"score": NaN}'])
def test_a_payload_that_is_not_json_is_refused_before_the_function_runs(core_cloud, payload, invocation_type):
    before = _warm_calls(core_cloud)

    error = _refusal(core_cloud, payload, InvocationType=invocation_type)

    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error.response["Error"]["Code"] == "InvalidRequestContentException"
    assert error.response["Error"]["Message"].startswith("Could not parse request body into json: ")
    assert _warm_calls(core_cloud) == before + 1  # only the probe ran


def test_a_synchronous_payload_over_6_mb_is_too_large(core_cloud):
    error = _refusal(core_cloud, _json_of_size(SYNC_LIMIT + 1))

    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert f"smaller than {SYNC_LIMIT} bytes" in error.response["Error"]["Message"]


def test_a_synchronous_payload_of_exactly_6_mb_is_invoked(core_cloud):
    response = core_cloud.client("lambda").invoke(
        FunctionName=core_cloud.physical_id("EchoFunction"), Payload=_json_of_size(SYNC_LIMIT)
    )

    # accepted and run; echoing it back exceeds the response quota, which is the function's error, not a refusal
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


def test_an_event_payload_over_1_mb_is_too_large_and_1_mb_is_queued(core_cloud):
    error = _refusal(core_cloud, _json_of_size(ASYNC_LIMIT + 1), InvocationType="Event")

    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert f"smaller than {ASYNC_LIMIT} bytes" in error.response["Error"]["Message"]
    queued = core_cloud.client("lambda").invoke(
        FunctionName=core_cloud.physical_id("EchoFunction"), Payload=_json_of_size(ASYNC_LIMIT), InvocationType="Event"
    )
    assert queued["StatusCode"] == 202
    core_cloud.wait_idle()
