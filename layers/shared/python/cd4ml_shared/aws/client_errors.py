"""What a botocore `ClientError` says, read in one place: its AWS error code and message."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", str(error)))
