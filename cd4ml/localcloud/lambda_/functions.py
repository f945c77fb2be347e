"""What the Lambda runtime knows of a function (its spec, its asynchronous settings) and reports of an invocation,
with the small rules of the Invoke API (names and ARNs, error payloads, the log tail)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AwsError

# Invoke's request payload quotas: 6 MB synchronous, 1 MB asynchronous (raised from 256 KB in 2025).
REQUEST_RESPONSE_PAYLOAD_LIMIT = 6 * 1024 * 1024
EVENT_PAYLOAD_LIMIT = 1024 * 1024


@dataclass
class AsyncConfig:
    """Asynchronous invocation settings (EventInvokeConfig and DeadLetterConfig)."""

    maximum_retry_attempts: int = 2
    maximum_event_age_s: int = 21600
    on_success: str | None = None
    on_failure: str | None = None
    dead_letter_arn: str | None = None


@dataclass
class FunctionSpec:
    name: str
    arn: str
    handler: str
    code_dir: Path
    runtime: str = "python3.11"
    layer_dirs: list[Path] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 3.0
    memory_mb: int = 128
    role_arn: str = ""
    reserved_concurrency: int | None = None
    async_config: AsyncConfig = field(default_factory=AsyncConfig)
    code_sha: str | None = None  # set for functions uploaded through the API; None for template code folders


@dataclass
class Invocation:
    """The outcome of one invocation, as the Invoke API reports it."""

    request_id: str
    payload: bytes
    function_error: str | None = None  # "Unhandled" when the handler raised, timed out or failed to init
    executed_version: str = "$LATEST"
    duration_ms: float = 0.0
    cold_start: bool = False

    @property
    def error(self) -> dict[str, Any] | None:
        return json.loads(self.payload) if self.function_error else None


def function_name(name_or_arn: str) -> str:
    """Accept a name, a partial ARN or a full ARN, with or without a qualifier; return the function name."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    if ":" in name_or_arn:  # "123456789012:function:name" or "name:qualifier"
        parts = name_or_arn.split(":")
        return parts[2] if len(parts) >= 3 and parts[1] == "function" else parts[0]
    return name_or_arn


def check_request_payload(payload: bytes, invocation_type: str) -> None:
    """Refuse an Invoke payload as Lambda does, before any function runs: over the quota of its invocation type
    (413 RequestEntityTooLargeException), or not JSON (400 InvalidRequestContentException)."""
    limit, operation = (
        (EVENT_PAYLOAD_LIMIT, "InvokeFunctionAsync")
        if invocation_type == "Event"
        else (REQUEST_RESPONSE_PAYLOAD_LIMIT, "InvokeFunction")
    )
    if len(payload) > limit:
        raise AwsError(
            f"Request must be smaller than {limit} bytes for the {operation} operation",
            code="RequestEntityTooLargeException",
            status=413,
        )
    try:
        json.loads(payload.decode("utf-8"), parse_constant=_not_json)
    except UnicodeDecodeError as exc:
        raise _unparsable(f"Invalid UTF-8 byte at position {exc.start}") from exc
    except ValueError as exc:
        detail = f"{exc.msg} at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc
        raise _unparsable(str(detail)) from exc


def _not_json(constant: str) -> None:
    # Python's json accepts NaN and Infinity; Lambda's parser, like JSON itself, does not.
    raise ValueError(f"Non-standard token '{constant}'")


def _unparsable(detail: str) -> AwsError:
    return AwsError(
        f"Could not parse request body into json: Could not parse payload into json: {detail}",
        code="InvalidRequestContentException",
        status=400,
    )


def failed(request_id: str, error_type: str, message: str) -> Invocation:
    body = {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": []}
    return Invocation(request_id, json.dumps(body).encode("utf-8"), "Unhandled")


def json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def log_tail(path: Path, limit: int = 4096) -> str:
    """The last 4 KB of a function's log, as `LogType=Tail` returns (base64-encoded by the caller)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - limit, 0))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
