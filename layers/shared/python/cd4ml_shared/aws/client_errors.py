"""What a botocore `ClientError` says, read in one place: its AWS error code and message."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", str(error)))


# What AWS answers when a call may succeed if made again a little later (throttling, a brief outage, a model that
# is still loading): raised as `SageMakerUnavailable`, which the state machines retry by name.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "ModelNotReadyException",
    }
)


def is_transient(error: ClientError) -> bool:
    return error_code(error) in TRANSIENT_CODES
