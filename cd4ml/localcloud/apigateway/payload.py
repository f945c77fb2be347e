"""Payload format 2.0 of HTTP APIs: the event API Gateway sends a Lambda for a request, and how it turns the
function's answer into the HTTP response. Plain values in and out, so the mapping is tested without a server."""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

# Bodies API Gateway passes as text; anything else (or text that is not UTF-8) reaches the function base64-encoded.
_TEXT_SUBTYPES = ("json", "xml", "javascript")


@dataclass(frozen=True)
class HttpRequest:
    """A request as it reached the API: `path` includes the stage for a named stage, as API Gateway's rawPath."""

    method: str
    path: str
    raw_query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass(frozen=True)
class RouteContext:
    """Where the request went: the API, its stage, the route API Gateway selected and who signed it."""

    api_id: str
    stage: str
    route_key: str
    region: str
    account_id: str
    path_parameters: dict[str, str] = field(default_factory=dict)
    stage_variables: dict[str, str] = field(default_factory=dict)
    iam: dict[str, Any] | None = None  # requestContext.authorizer.iam for an AWS_IAM route
    request_id: str = ""
    epoch_ms: int = 0


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def new_request_id() -> str:
    """API Gateway's request ids look like `JKJaXmPLvHcESHA=`."""
    return base64.b64encode(os.urandom(11)).decode("ascii")


def now_ms() -> int:
    return int(time.time() * 1000)


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "text" or any(t in subtype for t in _TEXT_SUBTYPES)


def build_event(request: HttpRequest, route: RouteContext) -> dict[str, Any]:
    """The payload format 2.0 event for `request`, in AWS's field names and conventions: headers lower-cased with
    repeated values comma-joined, the cookie header moved to `cookies`, repeated query parameters comma-joined,
    optional fields absent rather than null."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "https")
    headers.setdefault("x-forwarded-port", "443")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{route.epoch_ms // 1000:08x}-{os.urandom(12).hex()}")
    domain = f"{route.api_id}.execute-api.{route.region}.amazonaws.com"
    moment = datetime.fromtimestamp(route.epoch_ms / 1000, UTC)
    request_context: dict[str, Any] = {
        "accountId": route.account_id,
        "apiId": route.api_id,
        "domainName": domain,
        "domainPrefix": route.api_id,
        "http": {
            "method": request.method.upper(),
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": route.request_id,
        "routeKey": route.route_key,
        "stage": route.stage,
        "time": moment.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": route.epoch_ms,
    }
    if route.iam is not None:
        request_context["authorizer"] = {"iam": route.iam}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.raw_query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query_string, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = request_context
    if request.body:
        text = None
        if _is_text(request.header("content-type")):
            try:
                text = request.body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        event["body"] = text if text is not None else base64.b64encode(request.body).decode("ascii")
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    if route.path_parameters:
        event["pathParameters"] = dict(route.path_parameters)
    if route.stage_variables:
        event["stageVariables"] = dict(route.stage_variables)
    return event


def error_response(status: int, message: str) -> HttpResponse:
    """API Gateway's own answers (403, 404, 429, 500, 503): `{"message": ...}` as JSON."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, [("content-type", "application/json")], body)


INTERNAL_SERVER_ERROR = "Internal Server Error"


def map_response(payload: bytes, function_error: str | None) -> HttpResponse:
    """The HTTP response API Gateway makes of a function's answer in payload format 2.0.

    A function error (raised, timed out, crashed) is 500 `Internal Server Error`; a dict with `statusCode` is the
    response it describes (`headers`, `cookies` as Set-Cookie, `body`, `isBase64Encoded`), and a malformed one is
    500 too; any other JSON value (a dict without `statusCode` included) is 200 with that JSON as the body."""
    return map_integration_response(payload, function_error)[0]


def map_integration_response(payload: bytes, function_error: str | None) -> tuple[HttpResponse, str | None]:
    """`map_response`, with what API Gateway writes as `$context.integrationErrorMessage` when the answer is an
    error (None when it is not)."""
    if function_error:
        return error_response(500, INTERNAL_SERVER_ERROR), _function_error_message(payload, function_error)
    try:
        answer = json.loads(payload or b"null")
    except ValueError:
        return error_response(500, INTERNAL_SERVER_ERROR), _malformed("the answer is not JSON")
    if not isinstance(answer, dict) or "statusCode" not in answer:
        return HttpResponse(200, [("content-type", "application/json")], payload), None
    try:
        return _described_response(answer), None
    except (TypeError, ValueError, binascii.Error) as malformed:
        return error_response(500, INTERNAL_SERVER_ERROR), _malformed(str(malformed))


def _function_error_message(payload: bytes, function_error: str) -> str:
    """AWS's words for a function that raised, crashed or timed out, around the error's own message."""
    try:
        error = json.loads(payload or b"null")
    except ValueError:
        error = None
    message = error.get("errorMessage") if isinstance(error, dict) else None
    return (
        f"The Lambda function returned the following error: {message or function_error}. "
        "Check your Lambda function code and try again."
    )


def _malformed(reason: str) -> str:
    return f"The response from the Lambda function doesn't match the format that API Gateway expects: {reason}."


def _described_response(answer: dict[str, Any]) -> HttpResponse:
    status = answer["statusCode"]
    if isinstance(status, bool) or not isinstance(status, (int, str)) or not 100 <= int(status) <= 599:
        raise ValueError(f"statusCode {status!r} is not an HTTP status")
    raw_headers = answer.get("headers") or {}
    if not isinstance(raw_headers, dict):
        raise TypeError("headers must be a map")
    headers = [(str(name), _header_value(value)) for name, value in raw_headers.items()]
    cookies = answer.get("cookies") or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise TypeError("cookies must be a list of strings")
    headers.extend(("set-cookie", cookie) for cookie in cookies)
    body = answer.get("body")
    if body is not None and not isinstance(body, str):
        raise TypeError("body must be a string")
    data = (body or "").encode("utf-8")
    if answer.get("isBase64Encoded") is True:
        data = base64.b64decode(data, validate=True)
    return HttpResponse(int(status), headers, data)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise TypeError(f"header value {value!r} is not a string")
