"""The HTTP APIs of the local cloud, served on its own endpoint: a request to
`http://127.0.0.1:<port>/_aws/execute-api/<api id>/<path>` (or with the host `<api id>.execute-api.<anything>`) is
answered as API Gateway answers `https://<api id>.execute-api.<region>.amazonaws.com/<path>`.

The APIs, routes, integrations and stages are moto's (`apigatewayv2`, so `aws apigatewayv2 get-apis` answers);
this module hooks in front of moto's URL dispatch, picks the stage and the route, checks IAM authorisation and the
throttling limits, invokes the function with a payload format 2.0 event, maps its answer back and writes the
stage's access log line (`access_logs.py`)."""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ..context import ActiveSlot
from ..lambda_.functions import Invocation
from .access_logs import AccessLogWriter, AccessRecord
from .iam_auth import BadSignature, NotSigned, check_signature, iam_context
from .payload import (
    INTERNAL_SERVER_ERROR,
    HttpRequest,
    HttpResponse,
    RouteContext,
    build_event,
    error_response,
    map_integration_response,
    new_request_id,
    now_ms,
)
from .routes import function_arn_of, select_route
from .throttle import Throttles, limits_of
from .urls import LOCAL_PATH_PREFIX

log = logging.getLogger(__name__)

DEFAULT_STAGE = "$default"
_LOCAL_PATH = re.compile("^" + re.escape(LOCAL_PATH_PREFIX) + r"([A-Za-z0-9]+)(/.*)?$")
_EXECUTE_API_HOST = re.compile(r"^([a-z0-9]+)\.execute-api\.", re.IGNORECASE)

_MAX_HOSTS_REMEMBERED = 4096
# What API Gateway writes as $context.authorizer.error for a request to an AWS_IAM route that carries no signature.
UNSIGNED_AUTHORIZER_ERROR = "The request for the IAM Authorizer doesn't match the format that API Gateway expects."

Invoke = Callable[[str, bytes], Invocation]
ACTIVE_GATEWAY: ActiveSlot[HttpApiGateway] = ActiveSlot()


def _backend(account_id: str, region: str) -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[account_id][region]


def _caller(access_key: str, account_id: str, region: str) -> tuple[str, str, str]:
    """(user id, ARN, account) of an access key, as the local `sts get-caller-identity` answers for it."""
    from moto.sts.models import sts_backends

    user_id, user_arn, account = sts_backends[account_id]["global"].get_caller_identity(access_key, region)
    return str(user_id), str(user_arn), str(account)


class HttpApiGateway:
    """A service of the local cloud: serves every HTTP API of moto's apigatewayv2 backend in this region.

    With `logs_client` (a factory of CloudWatch Logs clients on the local endpoint), stages with AccessLogSettings
    get their access logs; without it, none are written."""

    def __init__(
        self,
        invoke: Invoke,
        *,
        account_id: str,
        region: str,
        clock: Callable[[], float] | None = None,
        max_concurrent: int = 64,
        logs_client: Callable[[], Any] | None = None,
    ) -> None:
        self._invoke = invoke
        self.account_id = account_id
        self.region = region
        self.throttles = Throttles(clock) if clock is not None else Throttles()
        self._max_concurrent = max_concurrent
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._logs_client = logs_client
        self.access_logs: AccessLogWriter | None = None

    # ---- service -----------------------------------------------------------------------------------
    def install(self) -> None:
        install_hook()
        if self._logs_client is not None and self.access_logs is None:
            self.access_logs = AccessLogWriter(self._logs_client)
        ACTIVE_GATEWAY.hold(self)

    def close(self) -> None:
        ACTIVE_GATEWAY.release(self)
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        writer, self.access_logs = self.access_logs, None
        if writer is not None:  # after the requests: the lines of the last ones are shipped too
            writer.close()

    # ---- requests ----------------------------------------------------------------------------------
    def handle(self, api_id: str, request: HttpRequest) -> HttpResponse:
        """The response API Gateway gives `request` (its path as the client sent it, stage included), and its
        access log line when its stage has AccessLogSettings."""
        started = time.perf_counter()
        request_id = new_request_id()
        record = AccessRecord(
            request_id=request_id,
            epoch_ms=now_ms(),
            api_id=api_id,
            account_id=self.account_id,
            region=self.region,
            method=request.method.upper(),
            path=request.path,
            protocol=request.protocol,
            source_ip=request.source_ip,
            user_agent=request.header("user-agent"),
        )
        response = self._answer(api_id, request, record)
        record.status = response.status
        record.response_length = len(response.body)
        record.response_latency_ms = _ms_since(started)
        writer = self.access_logs
        if writer is not None:
            writer.write(record)
        return HttpResponse(response.status, [*response.headers, ("apigw-requestid", request_id)], response.body)

    def _answer(self, api_id: str, request: HttpRequest, record: AccessRecord) -> HttpResponse:
        """The response, with what the access log tells of it noted in `record` on the way."""
        api = _backend(self.account_id, self.region).apis.get(api_id)
        if api is None:
            return error_response(404, "Not Found")
        if api.disable_execute_api_endpoint:  # clients must come through a custom domain, which is not local
            return error_response(403, "Forbidden")
        stage_name, route_path = _stage_and_path(set(api.stages), request.path)
        if stage_name is None:
            return error_response(404, "Not Found")
        stage = api.stages[stage_name]
        record.stage = stage_name
        record.access_log_settings = stage.access_log_settings
        routes = {route.route_key: route for route in api.routes.values()}
        match = select_route(list(routes), request.method, route_path)
        if match is None:
            return _refused(record, 404, "Not Found")
        record.route_key = match.route_key
        route = routes[match.route_key]
        limits = limits_of(stage.default_route_settings, (stage.route_settings or {}).get(match.route_key))
        if not self.throttles.admit(api_id, stage_name, match.route_key, limits):
            return _refused(record, 429, "Too Many Requests")
        iam = None
        if (route.authorization_type or "NONE") == "AWS_IAM":
            headers = {name.lower(): value for name, value in request.headers}
            try:
                credential = check_signature(headers, request.raw_query_string, self.region)
            except NotSigned:
                record.authorizer_error = UNSIGNED_AUTHORIZER_ERROR
                return _refused(record, 403, "Forbidden")
            except BadSignature as refused:
                record.authorizer_error = str(refused)
                return _refused(record, 403, str(refused))
            user_id, user_arn, account = _caller(credential.access_key, self.account_id, self.region)
            iam = iam_context(credential, user_id, user_arn, account)
            record.iam = iam
        integration = api.integrations.get(str(route.target or "").removeprefix("integrations/"))
        if integration is None:
            log.warning("route %r of API %s has no integration", match.route_key, api_id)
            return _refused(record, 500, INTERNAL_SERVER_ERROR)
        context = RouteContext(
            api_id=api_id,
            stage=stage_name,
            route_key=match.route_key,
            region=self.region,
            account_id=self.account_id,
            path_parameters=match.path_parameters,
            stage_variables=dict(stage.stage_variables or {}),
            iam=iam,
            request_id=record.request_id,
            epoch_ms=record.epoch_ms,
        )
        event = json.dumps(build_event(request, context)).encode("utf-8")
        function_arn = function_arn_of(str(integration.integration_uri or ""))
        timeout_ms = integration.timeout_in_millis or 30000
        invoked = time.perf_counter()
        future = self._executor().submit(self._invoke, function_arn, event)
        try:
            outcome = future.result(timeout=timeout_ms / 1000)
        except FutureTimeout:  # the function goes on running, as on AWS; the client is told now
            record.integration_latency_ms = _ms_since(invoked)
            record.integration_error = f"The integration did not answer within its timeout of {timeout_ms} ms."
            return _refused(record, 503, "Service Unavailable")
        except Exception as failure:
            log.exception("invoking %s for %s %s failed", function_arn, request.method, request.path)
            record.integration_latency_ms = _ms_since(invoked)
            record.integration_error = f"Invoking {function_arn} failed: {failure}"
            return _refused(record, 500, INTERNAL_SERVER_ERROR)
        record.integration_latency_ms = _ms_since(invoked)
        record.integration_status = 200  # Invoke answered; a function error is in its payload, as on AWS
        record.integration_request_id = outcome.request_id
        response, integration_error = map_integration_response(outcome.payload, outcome.function_error)
        if integration_error is not None:
            record.integration_error = integration_error
            record.error_message = INTERNAL_SERVER_ERROR
        else:
            record.function_status = response.status
        return response

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_concurrent, thread_name_prefix="http-api")
            return self._pool

    # ---- WSGI --------------------------------------------------------------------------------------
    def claims(self, environ: dict[str, Any]) -> tuple[str, str] | None:
        """(API id, path) when the request is for an HTTP API of the local cloud, else None (moto answers)."""
        from werkzeug.wsgi import get_path_info

        path = get_path_info(environ)
        found = _LOCAL_PATH.match(path)
        if found:
            return found.group(1), found.group(2) or "/"
        host = _EXECUTE_API_HOST.match(environ.get("HTTP_HOST", ""))
        if host and host.group(1) in _backend(self.account_id, self.region).apis:
            return host.group(1), path or "/"
        return None

    def serve(self, environ: dict[str, Any], start_response: Any, api_id: str, path: str) -> Iterable[bytes]:
        from werkzeug.wrappers import Request, Response

        incoming = Request(environ)
        request = HttpRequest(
            method=incoming.method,
            path=path,
            raw_query_string=environ.get("QUERY_STRING", ""),
            headers=list(incoming.headers.items()),
            body=incoming.get_data(),
            source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
            protocol=environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        )
        answer = self.handle(api_id, request)
        response = Response(answer.body, status=answer.status, headers=answer.headers)
        return response(environ, start_response)


def _refused(record: AccessRecord, status: int, message: str) -> HttpResponse:
    """An answer the gateway gives itself, its message noted as the access log's `$context.error.message`."""
    record.error_message = message
    return error_response(status, message)


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _stage_and_path(stages: set[str], path: str) -> tuple[str | None, str]:
    """A named stage is the first path segment (`/prod/things/1`); the `$default` stage serves the rest."""
    first, _, rest = path.lstrip("/").partition("/")
    if first and first != DEFAULT_STAGE and first in stages:
        return first, "/" + rest
    if DEFAULT_STAGE in stages:
        return DEFAULT_STAGE, path
    return None, path


def install_hook() -> None:
    """Put the active gateway in front of moto's URL dispatch (once per process): with no local cloud running,
    or for any request that is not for an HTTP API, moto answers as it always did."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    if getattr(DomainDispatcherApplication.__call__, "_cd4ml_hook", False):
        return
    _remember_backends_by_host(DomainDispatcherApplication)
    original = DomainDispatcherApplication.__call__

    @functools.wraps(original)
    def dispatch(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        gateway = ACTIVE_GATEWAY()
        if gateway is not None:
            claimed = gateway.claims(environ)
            if claimed is not None:
                return gateway.serve(environ, start_response, *claimed)
        return original(self, environ, start_response)

    dispatch._cd4ml_hook = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.__call__ = dispatch  # type: ignore[method-assign]


def _remember_backends_by_host(dispatcher: type) -> None:
    """moto finds the backend of every request by host (twice for one to `127.0.0.1:<port>`: the host, then the one
    inferred from the signature) by listing its package folder (~250 `isdir` calls) and trying every service's URL
    pattern, under one lock: 1.2-1.6 ms per request for SageMaker runtime, EventBridge or CloudWatch Logs, all
    requests waiting in line. The answer depends on the host alone and the folder does not change while the
    process runs, so it is computed once per host (a handful of hosts: one per service and region)."""
    original = dispatcher.get_backend_for_host  # type: ignore[attr-defined]
    known: dict[str | None, Any] = {}

    @functools.wraps(original)
    def get_backend_for_host(self: Any, host: str | None) -> Any:
        try:
            return known[host]
        except KeyError:
            backend = original(self, host)
            if len(known) < _MAX_HOSTS_REMEMBERED:  # virtual-hosted S3 buckets are hosts too: bounded
                known[host] = backend
            return backend

    dispatcher.get_backend_for_host = get_backend_for_host  # type: ignore[attr-defined]
