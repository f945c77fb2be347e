"""Invoke's payload rules with plain values: the quota of each invocation type, and JSON as Lambda parses it."""

import pytest

from cd4ml.localcloud.errors import AwsError
from cd4ml.localcloud.lambda_.functions import check_request_payload


def _padded(size: int) -> bytes:
    return b'"' + b"x" * (size - 2) + b'"'  # a JSON string of exactly `size` bytes


@pytest.mark.parametrize(
    ("invocation_type", "limit"),
    [("RequestResponse", 6_291_456), ("DryRun", 6_291_456), ("Event", 1_048_576)],
)
def test_a_payload_at_the_quota_passes_and_one_byte_more_is_413(invocation_type, limit):
    check_request_payload(_padded(limit), invocation_type)

    with pytest.raises(AwsError) as caught:
        check_request_payload(_padded(limit + 1), invocation_type)

    assert (caught.value.code, caught.value.status) == ("RequestEntityTooLargeException", 413)
    assert str(limit) in caught.value.message


@pytest.mark.parametrize("payload", [b"hello", b'{"a": 1', b"[1,]", b'{"x": NaN}', b"Infinity", b"\xff\xfe"])
def test_what_is_not_json_is_400_invalid_request_content(payload):
    with pytest.raises(AwsError) as caught:
        check_request_payload(payload, "RequestResponse")

    assert (caught.value.code, caught.value.status) == ("InvalidRequestContentException", 400)
    assert caught.value.message.startswith("Could not parse request body into json: Could not parse payload into json")


@pytest.mark.parametrize("payload", [b"{}", b"[]", b"42", b'"text"', b"null", '{"name": "Zoë"}'.encode()])
def test_any_json_value_is_a_valid_payload(payload):
    check_request_payload(payload, "Event")
