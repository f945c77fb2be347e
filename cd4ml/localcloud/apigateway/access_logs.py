"""Access logs of HTTP API stages, as API Gateway writes them: a stage's `AccessLogSettings` name a CloudWatch Logs
group (`DestinationArn`) and a one-line `Format` of `$context.<name>` variables, and every request the stage
answers becomes one log event, the format with each variable replaced by its value (`-` when it has none).

Values are inserted as text. Inside a double-quoted stretch of the format (`"status":"$context.status"`) a value is
escaped as in a JSON string (`"`, `\\` and control characters), so the usual JSON format stays valid JSON whatever
a client sends in its path or User-Agent (API Gateway's own lines show such values escaped); outside quotes
(`"status":$context.status`, the Common Log Format) a value is inserted as it is. The lines are queued on the
request's thread (a render and a list append) and shipped to CloudWatch Logs by a LogShipper (`lambda_/logs.py`),
off the request path."""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..lambda_.logs import LogShipper, LogStream

log = logging.getLogger(__name__)

NO_VALUE = "-"  # what API Gateway writes for a variable that has no value in a request
REQUIRED_VARIABLE = "requestId"  # "The format must include at least $context.requestId" (AccessLogSettings)
_PLACEHOLDER = re.compile(r"\$context\.([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)")
_LOG_GROUP_ARN = re.compile(r"^arn:[a-z-]+:logs:([a-z0-9-]+):(\d{12}):log-group:([A-Za-z0-9_/.#-]{1,512})(?::\*)?$")
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')  # what a JSON string must escape
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AccessLogSettingsError(ValueError):
    """A stage's AccessLogSettings the local cloud cannot write to, naming the value."""


@dataclass(frozen=True)
class Placeholder:
    """`$context.<name>` in a format; `quoted` when it sits inside a double-quoted stretch of the format."""

    name: str
    quoted: bool


Segment = str | Placeholder


@dataclass(frozen=True)
class AccessLogSettings:
    """Where a stage's lines go (a log group of an account and region) and the format they are written in."""

    destination_arn: str
    log_group: str
    region: str
    account_id: str
    format: str
    segments: tuple[Segment, ...]


def parse_settings(settings: Mapping[str, Any]) -> AccessLogSettings:
    """A stage's AccessLogSettings, in the template's field names (`DestinationArn`, `Format`) or the API's
    (`destinationArn`, `format`), or AccessLogSettingsError."""
    arn = str(settings.get("DestinationArn") or settings.get("destinationArn") or "")
    text = str(settings.get("Format") or settings.get("format") or "")
    return _parsed(arn, text)


@functools.lru_cache(maxsize=256)
def _parsed(arn: str, text: str) -> AccessLogSettings:
    if not arn:
        raise AccessLogSettingsError("AccessLogSettings need a DestinationArn (the ARN of a CloudWatch Logs group)")
    if ":firehose:" in arn:
        raise AccessLogSettingsError(
            f"DestinationArn {arn!r}: Kinesis Data Firehose destinations are not served locally; give a log group"
        )
    found = _LOG_GROUP_ARN.match(arn)
    if found is None:
        raise AccessLogSettingsError(
            f"DestinationArn {arn!r} is not a CloudWatch Logs group ARN "
            "(arn:aws:logs:<region>:<account>:log-group:<name>)"
        )
    segments = compile_format(text)
    if not any(isinstance(s, Placeholder) and s.name == REQUIRED_VARIABLE for s in segments):
        raise AccessLogSettingsError(f"Format {text!r} must include at least $context.{REQUIRED_VARIABLE}")
    region, account_id, group = found.groups()
    return AccessLogSettings(arn, group, region, account_id, text, segments)


@functools.lru_cache(maxsize=256)
def compile_format(text: str) -> tuple[Segment, ...]:
    """The format cut into literal text and placeholders, each placeholder knowing whether it is inside quotes (a
    `"` of the literal text not escaped by a backslash opens or closes a quoted stretch)."""
    segments: list[Segment] = []
    quoted = False
    position = 0
    for found in _PLACEHOLDER.finditer(text):
        literal = text[position : found.start()]
        quoted = _quoted_after(literal, quoted)
        if literal:
            segments.append(literal)
        segments.append(Placeholder(found.group(1), quoted))
        position = found.end()
    if position < len(text):
        segments.append(text[position:])
    return tuple(segments)


def _quoted_after(literal: str, quoted: bool) -> bool:
    backslashes = 0
    for char in literal:
        if char == '"' and backslashes % 2 == 0:
            quoted = not quoted
        backslashes = backslashes + 1 if char == "\\" else 0
    return quoted


@dataclass
class AccessRecord:
    """What the gateway learnt about one request, filled in as it answers it; None is "no value" (`-`)."""

    request_id: str
    epoch_ms: int
    api_id: str
    account_id: str  # the API owner's
    region: str
    method: str
    path: str
    protocol: str
    source_ip: str
    user_agent: str | None = None
    stage: str | None = None
    access_log_settings: Mapping[str, Any] | None = None  # the stage's, as moto holds them
    route_key: str | None = None
    iam: Mapping[str, Any] | None = None  # requestContext.authorizer.iam of a verified AWS_IAM caller
    authorizer_error: str | None = None
    error_message: str | None = None  # the message of an answer the gateway gave itself (403, 404, 429, 5xx)
    integration_status: int | None = None  # the Lambda Invoke API's status
    function_status: int | None = None  # the status the function's answer gave
    integration_latency_ms: int | None = None
    integration_error: str | None = None
    integration_request_id: str | None = None  # the function invocation's request id
    status: int | None = None
    response_length: int | None = None
    response_latency_ms: int | None = None

    @property
    def domain_name(self) -> str:
        """The API's execute-api host in AWS's form, as the payload's `requestContext.domainName`."""
        return f"{self.api_id}.execute-api.{self.region}.amazonaws.com"

    def caller(self, key: str) -> Any:
        return self.iam.get(key) if self.iam else None


def request_time(epoch_ms: int) -> str:
    """API Gateway's `$context.requestTime`: `dd/MMM/yyyy:HH:mm:ss +0000` in UTC, English month names whatever the
    machine's locale."""
    t = time.gmtime(epoch_ms // 1000)  # a quarter of datetime's cost, on every request
    day = f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year:04d}"
    return f"{day}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


# The variables of HTTP API access logs the local gateway fills; any other `$context.x` (JWT and Lambda authorisers,
# custom domains, mutual TLS, AWS's internal ids) has no value locally and is written as `-`.
VARIABLES: dict[str, Callable[[AccessRecord], object]] = {
    "accountId": lambda r: r.account_id,
    "apiId": lambda r: r.api_id,
    "authorizer.error": lambda r: r.authorizer_error,
    "awsEndpointRequestId": lambda r: r.integration_request_id,
    "domainName": lambda r: r.domain_name,
    "domainPrefix": lambda r: r.api_id,
    "error.message": lambda r: r.error_message,
    "extendedRequestId": lambda r: r.request_id,
    "httpMethod": lambda r: r.method,
    "identity.accountId": lambda r: r.caller("accountId"),
    "identity.caller": lambda r: r.caller("callerId"),
    "identity.sourceIp": lambda r: r.source_ip,
    "identity.user": lambda r: r.caller("userId"),
    "identity.userAgent": lambda r: r.user_agent,
    "identity.userArn": lambda r: r.caller("userArn"),
    "integration.error": lambda r: r.integration_error,
    "integration.integrationStatus": lambda r: r.integration_status,
    "integration.latency": lambda r: r.integration_latency_ms,
    "integration.requestId": lambda r: r.integration_request_id,
    "integration.status": lambda r: r.function_status,
    "integrationErrorMessage": lambda r: r.integration_error,
    "integrationLatency": lambda r: r.integration_latency_ms,
    "integrationStatus": lambda r: r.integration_status,
    "path": lambda r: r.path,
    "protocol": lambda r: r.protocol,
    "requestId": lambda r: r.request_id,
    "requestTime": lambda r: request_time(r.epoch_ms),
    "requestTimeEpoch": lambda r: r.epoch_ms,
    "responseLatency": lambda r: r.response_latency_ms,
    "responseLength": lambda r: r.response_length,
    "routeKey": lambda r: r.route_key,
    "stage": lambda r: r.stage,
    "status": lambda r: r.status,
}
_QUOTED_VARIABLES = {"error.messageString": "error.message"}  # "the quoted value of $context.error.message"


def _text(value: object) -> str:
    return NO_VALUE if value is None or value == "" else str(value)


def _json_string_body(text: str) -> str:
    if _NEEDS_ESCAPE.search(text) is None:  # nearly every value: ids, numbers, ARNs (json.dumps costs ~1 µs)
        return text
    return json.dumps(text, ensure_ascii=False)[1:-1]


def render(segments: tuple[Segment, ...], record: AccessRecord) -> str:
    """One access log line of `record` in the compiled format."""
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, str):
            parts.append(segment)
            continue
        if segment.name in _QUOTED_VARIABLES:
            parts.append(json.dumps(_text(VARIABLES[_QUOTED_VARIABLES[segment.name]](record)), ensure_ascii=False))
            continue
        value = VARIABLES.get(segment.name)
        text = _text(value(record)) if value is not None else NO_VALUE
        parts.append(_json_string_body(text) if segment.quoted else text)
    return "".join(parts)


class AccessLogWriter:
    """Writes the access log line of every request a stage with AccessLogSettings answered: one stream per stage
    (32 hex characters, as API Gateway's stream names look) in the stage's log group, shipped in the background.

    `write` never raises: a stage whose settings cannot be written to (created through the API with a Firehose or
    malformed destination) is warned about once, and the request is answered as if it had no access logs."""

    def __init__(self, logs_client: Callable[[], Any]) -> None:
        self._shipper = LogShipper(logs_client, thread_name="http-api-access-log-shipper")
        self._streams: dict[tuple[str, str, str], LogStream] = {}
        self._warned: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def write(self, record: AccessRecord) -> None:
        if not record.access_log_settings or record.stage is None:
            return
        try:
            settings = parse_settings(record.access_log_settings)
            line = render(settings.segments, record)
            self._stream(record.api_id, record.stage, settings.log_group).add(record.epoch_ms, line)
        except Exception as problem:
            key = (record.api_id, record.stage)
            if key not in self._warned:  # once per stage: one per request would drown the log
                self._warned.add(key)
                log.warning("access logs of API %s stage %s are not written: %s", record.api_id, record.stage, problem)

    def _stream(self, api_id: str, stage: str, group: str) -> LogStream:
        key = (api_id, stage, group)
        stream = self._streams.get(key)
        if stream is None:
            with self._lock:
                stream = self._streams.get(key)
                if stream is None:
                    stream = self._shipper.open_stream(group, uuid.uuid4().hex, create_group=False)
                    self._streams[key] = stream
        return stream

    def flush(self) -> None:
        """Ship what is queued now (tests read the group right after a request)."""
        self._shipper.flush()

    def close(self) -> None:
        self._shipper.close()
