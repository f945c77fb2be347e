"""An HTTP API's routes as API Gateway selects them, and the routes an OpenAPI `Body` (what SAM's transform writes)
declares. Plain values only: the gateway reads the deployed API from moto and asks here which route answers."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_ROUTE = "$default"
ANY_METHOD = "ANY"
_VARIABLE = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")


class RouteError(ValueError):
    """A route key or an OpenAPI body the local cloud cannot serve, naming the value."""


@dataclass(frozen=True)
class RouteSpec:
    """One route of an HTTP API: `METHOD /path` (or `$default`), the Lambda it invokes and its authorisation."""

    route_key: str
    function_arn: str
    payload_format_version: str = "2.0"
    authorization_type: str = "NONE"  # NONE or AWS_IAM
    timeout_ms: int = 30000


@dataclass(frozen=True)
class RouteMatch:
    route_key: str
    path_parameters: dict[str, str]


@dataclass(frozen=True)
class _Pattern:
    method: str
    regex: re.Pattern[str]
    names: tuple[str, ...]
    rank: tuple[int, int, int]  # lower is more specific


@functools.lru_cache(maxsize=4096)
def _pattern(route_key: str) -> _Pattern:
    method, _, path = route_key.partition(" ")
    if not path.startswith("/"):
        raise RouteError(f"route key {route_key!r} is not 'METHOD /path' or '$default'")
    segments = path.strip("/").split("/") if path.strip("/") else []
    parts, names, kind = [], [], 0
    for index, segment in enumerate(segments):
        variable = _VARIABLE.match(segment)
        if variable is None:
            parts.append(re.escape(segment))
            continue
        names.append(variable.group(1))
        if variable.group(2):  # greedy: the rest of the path, at least one character, and only last
            if index != len(segments) - 1:
                raise RouteError(f"route key {route_key!r}: a greedy variable must be the last segment")
            parts.append("(.+)")
            kind = 2
        else:
            parts.append("([^/]+)")
            kind = max(kind, 1)
    regex = re.compile("^/" + "/".join(parts) + "$")
    literal = sum(1 for s in segments if not _VARIABLE.match(s))
    # API Gateway prefers a full match, then path variables, then a greedy variable; longer paths win; a route's
    # own method beats ANY.
    return _Pattern(method.upper(), regex, tuple(names), (kind, -literal, 1 if method.upper() == ANY_METHOD else 0))


def select_route(route_keys: list[str], method: str, path: str) -> RouteMatch | None:
    """The route API Gateway picks for `method path` (path without the stage), or None (404)."""
    best: tuple[tuple[int, int, int], str, dict[str, str]] | None = None
    for route_key in route_keys:
        if route_key == DEFAULT_ROUTE:
            continue
        pattern = _pattern(route_key)
        if pattern.method not in (method.upper(), ANY_METHOD):
            continue
        found = pattern.regex.match(path)
        if found is None:
            continue
        if best is None or pattern.rank < best[0]:
            best = (pattern.rank, route_key, dict(zip(pattern.names, found.groups(), strict=True)))
    if best is not None:
        return RouteMatch(best[1], best[2])
    if DEFAULT_ROUTE in route_keys:
        return RouteMatch(DEFAULT_ROUTE, {})
    return None


def function_arn_of(integration_uri: str) -> str:
    """The Lambda function ARN of an integration URI: API Gateway's `arn:aws:apigateway:<region>:lambda:path/
    2015-03-31/functions/<function arn>/invocations` form (SAM's) or the function ARN itself."""
    found = re.search(r":lambda:path/[^/]+/functions/(.+)/invocations$", integration_uri)
    return found.group(1) if found else integration_uri


def openapi_routes(body: dict[str, Any]) -> list[RouteSpec]:
    """The routes of an HTTP API's OpenAPI 3 body with `x-amazon-apigateway-integration`s (Lambda proxy only).

    Authorisation comes from the operation's `security` (else the document's): a scheme with
    `x-amazon-apigateway-authtype: awsSigv4` is AWS_IAM, `NONE` or none is open; JWT and Lambda authorisers are
    refused, since the local cloud would otherwise serve as open a route AWS protects."""
    schemes = ((body.get("components") or {}).get("securitySchemes")) or {}
    document_security = body.get("security")
    routes = []
    for path, operations in (body.get("paths") or {}).items():
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict) or "x-amazon-apigateway-integration" not in operation:
                continue
            integration = operation["x-amazon-apigateway-integration"]
            method_name = ANY_METHOD if method == "x-amazon-apigateway-any-method" else method.upper()
            route_key = DEFAULT_ROUTE if path == DEFAULT_ROUTE else f"{method_name} {path}"
            kind = str(integration.get("type", "")).lower()
            if kind != "aws_proxy":
                raise RouteError(f"route {route_key!r}: integration type {kind!r}; the local cloud serves aws_proxy")
            security = operation.get("security", document_security) or []
            routes.append(
                RouteSpec(
                    route_key=route_key,
                    function_arn=function_arn_of(str(integration.get("uri", ""))),
                    payload_format_version=str(integration.get("payloadFormatVersion", "2.0")),
                    authorization_type=_authorization(route_key, security, schemes),
                    timeout_ms=int(integration.get("timeoutInMillis", 30000)),
                )
            )
    return routes


def _authorization(route_key: str, security: list[dict[str, Any]], schemes: dict[str, Any]) -> str:
    names = [name for requirement in security for name in requirement]
    kinds = set()
    for name in names:
        if name == "NONE":
            kinds.add("NONE")
            continue
        scheme = schemes.get(name) or {}
        if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4" or name == "AWS_IAM":
            kinds.add("AWS_IAM")
        else:
            raise RouteError(
                f"route {route_key!r}: authoriser {name!r} ({scheme.get('type', 'unknown type')}) is not served "
                "by the local cloud; only AWS_IAM and NONE are"
            )
    return "AWS_IAM" if "AWS_IAM" in kinds else "NONE"
