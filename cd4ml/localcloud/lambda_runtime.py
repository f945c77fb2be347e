"""Lambda runtime: runs deployed functions' real handlers in isolated, warm worker processes.

Each function has a pool of worker processes (one per concurrent execution environment, as on AWS).
A worker imports the handler once (cold start) and then serves invocations until the cloud stops.
Timeouts kill the worker; asynchronous invocations retry and honour destinations and dead-letter queues.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .aws import host_environment
from .errors import FunctionNotFoundError

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
INIT_TIMEOUT_S = 10.0  # AWS gives a function's init phase 10 s before it is retried inside the invoke
MAX_WORKERS_PER_FUNCTION = 8


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


class _WorkerGone(Exception):
    pass


class _Worker:
    """One execution environment: a Python process that imported the handler."""

    def __init__(self, spec: FunctionSpec, base_env: dict[str, str], log_dir: Path) -> None:
        self.spec = spec
        self.log_file = log_dir / f"{spec.name}.log"
        env = host_environment()
        env.update(base_env)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "_HANDLER": spec.handler,
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
                "_CD4ML_LOG_FILE": str(self.log_file),
                "_CD4ML_LAYER_PATHS": os.pathsep.join(_layer_python_paths(spec.layer_dirs)),
            }
        )
        env.update(spec.environment)
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "utf8", str(BOOTSTRAP)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            start_new_session=True,  # so a timeout kills the handler's children too
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"lambda-{spec.name}-reader", daemon=True)
        self._reader.start()
        self.init_ms = 0.0
        self.served = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            raise TimeoutError from None
        if line is None:
            raise _WorkerGone(f"exit status {self.proc.wait()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def wait_ready(self) -> None:
        ready = self._next(INIT_TIMEOUT_S)
        self.init_ms = float(ready.get("init_ms", 0.0))

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _WorkerGone(str(exc)) from exc
        self.served += 1
        return self._next(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                try:
                    stream.close()
                except OSError:
                    pass


def _layer_python_paths(layer_dirs: list[Path]) -> list[str]:
    """A layer's code lands in /opt/python on AWS; locally, use its `python/` folder if it has one, else its root."""
    paths = []
    for layer in layer_dirs:
        python_dir = layer / "python"
        paths.append(str(python_dir if python_dir.is_dir() else layer))
    return paths


class _Pool:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.idle: list[_Worker] = []
        self.busy = 0
        self.cond = threading.Condition()

    @property
    def limit(self) -> int:
        if self.spec.reserved_concurrency is not None:
            return max(1, min(self.spec.reserved_concurrency, MAX_WORKERS_PER_FUNCTION))
        return MAX_WORKERS_PER_FUNCTION


class LambdaRuntime:
    """Registry of deployed functions and the engine that invokes them."""

    def __init__(
        self,
        base_env: dict[str, str],
        log_dir: Path,
        *,
        account_id: str,
        region: str,
        async_retry_delays_s: tuple[float, ...] = (1.0, 2.0),
        async_workers: int = 4,
    ) -> None:
        self.base_env = base_env
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.account_id = account_id
        self.region = region
        # AWS waits about 1 and then 2 minutes between asynchronous retries; locally the delays are compressed.
        self.async_retry_delays_s = async_retry_delays_s
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()
        self._async_queue: queue.Queue[tuple[str, bytes, str, int, float] | None] = queue.Queue()
        self._pending_async = 0
        self._pending_cond = threading.Condition()
        self._timers: set[threading.Timer] = set()
        self._closed = False
        self.destinations: Any = None  # set by the cloud: a Destinations instance
        self.listeners: list[Callable[[FunctionSpec, dict[str, Any], Invocation], None]] = []
        self._async_threads = [
            threading.Thread(target=self._async_loop, name=f"lambda-async-{i}", daemon=True)
            for i in range(async_workers)
        ]
        for thread in self._async_threads:
            thread.start()

    # ---- registry -------------------------------------------------------------------------------------
    def register(self, spec: FunctionSpec) -> None:
        with self._lock:
            old = self._pools.pop(spec.name, None)
            self._pools[spec.name] = _Pool(spec)
        if old:
            self._drain_pool(old)

    def adopt(self, function: Any) -> None:
        """Register a function created through the Lambda API (zip upload), not from a template.

        Its code is unpacked under the work directory, once per code version (CodeSha256)."""
        name = function.function_name
        with self._lock:
            pool = self._pools.get(name)
        code_sha = getattr(function, "code_sha_256", "")
        if pool is not None and (pool.spec.code_sha is None or pool.spec.code_sha == code_sha):
            return
        code_bytes = getattr(function, "code_bytes", b"")
        if not code_bytes:
            return  # no zip to run (an image function); invoke reports the function as unavailable
        code_dir = self.log_dir.parent / "api-functions" / name / code_sha.replace("/", "_")[:16]
        if not code_dir.exists():
            import io
            import zipfile

            with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
                archive.extractall(code_dir)
        self.register(
            FunctionSpec(
                name=name,
                arn=function.function_arn,
                handler=function.handler,
                code_dir=code_dir,
                runtime=function.run_time or "python3.11",
                environment={k: str(v) for k, v in (function.environment_vars or {}).items()},
                timeout_s=float(function.timeout or 3),
                memory_mb=int(function.memory_size or 128),
                role_arn=function.role,
                code_sha=code_sha,
            )
        )

    def functions(self) -> list[FunctionSpec]:
        with self._lock:
            return [pool.spec for pool in self._pools.values()]

    def spec(self, name_or_arn: str) -> FunctionSpec:
        return self._pool(name_or_arn).spec

    def _pool(self, name_or_arn: str) -> _Pool:
        name = _function_name(name_or_arn)
        with self._lock:
            pool = self._pools.get(name)
        if pool is None:
            raise FunctionNotFoundError(
                f"Function not found: {name_or_arn} (the local cloud runs functions deployed from a template)"
            )
        return pool

    # ---- synchronous invoke ---------------------------------------------------------------------------
    def invoke(self, name_or_arn: str, payload: bytes | str, client_context: str | None = None) -> Invocation:
        pool = self._pool(name_or_arn)
        spec = pool.spec
        request_id = str(uuid.uuid4())
        if isinstance(payload, bytes):
            payload = payload.decode("utf-8")
        try:
            json.loads(payload or "{}")
        except ValueError as exc:
            return _failed(
                request_id, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            )
        worker, cold = self._acquire(pool)
        started = time.perf_counter()
        deadline = time.time() + spec.timeout_s
        request = {
            "request_id": request_id,
            "payload": payload or "{}",
            "deadline_ms": deadline * 1000,
            "invoked_function_arn": spec.arn,
            "client_context": client_context,
            "trace_id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        reusable = True
        try:
            if worker is None:
                raise _WorkerGone("no worker")
            response = worker.invoke(request, timeout=spec.timeout_s)
            if response.get("ok"):
                outcome = Invocation(request_id, response["payload"].encode("utf-8"))
            else:
                outcome = Invocation(request_id, json.dumps(response["error"]).encode("utf-8"), "Unhandled")
                # A failed init is retried in a fresh environment on the next invoke, as AWS does.
                reusable = worker.served > 0 and not response["error"]["errorType"].startswith("Runtime.")
        except TimeoutError:
            reusable = False
            message = f"RequestId: {request_id} Error: Task timed out after {spec.timeout_s:.2f} seconds"
            _append_log(
                self.log_dir / f"{spec.name}.log",
                f"{datetime.now(UTC).isoformat()} {message}\nEND RequestId: {request_id}\n"
                f"REPORT RequestId: {request_id}\tDuration: {spec.timeout_s * 1000:.2f} ms\t"
                f"Memory Size: {spec.memory_mb} MB\tStatus: timeout\n",
            )
            outcome = _failed(request_id, "Sandbox.Timedout", message)
        except _WorkerGone as exc:
            reusable = False
            outcome = _failed(
                request_id,
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited without providing a reason ({exc})",
            )
        outcome.duration_ms = (time.perf_counter() - started) * 1000
        outcome.cold_start = cold
        self._release(pool, worker, reusable)
        for listener in self.listeners:
            listener(spec, json.loads(payload or "{}"), outcome)
        return outcome

    def _acquire(self, pool: _Pool) -> tuple[_Worker | None, bool]:
        with pool.cond:
            while not pool.idle and pool.busy >= pool.limit:
                pool.cond.wait()
            pool.busy += 1
            if pool.idle:
                return pool.idle.pop(), False
        worker: _Worker | None = None
        try:
            worker = _Worker(pool.spec, self.base_env, self.log_dir)
            worker.wait_ready()
            return worker, True
        except (TimeoutError, _WorkerGone, OSError) as exc:
            # the invoke then answers Runtime.ExitError, and the next one tries a fresh environment
            log.error("function %s failed to start its runtime: %s", pool.spec.name, exc)
            if worker is not None:
                worker.kill()
            return None, True

    def _release(self, pool: _Pool, worker: _Worker | None, reusable: bool) -> None:
        with pool.cond:
            pool.busy -= 1
            if worker is not None and reusable and not self._closed and self._pools.get(pool.spec.name) is pool:
                pool.idle.append(worker)
                worker = None
            pool.cond.notify()
        if worker is not None:
            worker.kill()

    # ---- asynchronous invoke --------------------------------------------------------------------------
    def invoke_async(self, name_or_arn: str, payload: bytes | str) -> str:
        """Queue an `Event` invocation; returns its request id. Retries and destinations follow AWS."""
        self._pool(name_or_arn)  # fail now if the function does not exist, as the Invoke API does
        request_id = str(uuid.uuid4())
        body = payload if isinstance(payload, bytes) else payload.encode("utf-8")
        with self._pending_cond:
            self._pending_async += 1
        self._async_queue.put((name_or_arn, body, request_id, 0, time.time()))
        return request_id

    def _async_loop(self) -> None:
        while True:
            item = self._async_queue.get()
            if item is None:
                return
            try:
                self._run_async(*item)
            except Exception:
                log.exception("asynchronous invocation of %s failed in the runtime", item[0])
                self._async_done()

    def _run_async(self, name_or_arn: str, body: bytes, request_id: str, attempt: int, enqueued: float) -> None:
        try:
            spec = self.spec(name_or_arn)
        except FunctionNotFoundError:
            log.error("async invocation %s dropped: function %s was removed", request_id, name_or_arn)
            self._async_done()
            return
        config = spec.async_config
        if time.time() - enqueued > config.maximum_event_age_s:
            self._async_final(spec, body, request_id, attempt, None, "EventAgeExceeded")
            return
        outcome = self.invoke(name_or_arn, body)
        if outcome.function_error is None:
            self._async_final(spec, body, request_id, attempt + 1, outcome, "Success")
            return
        if attempt < config.maximum_retry_attempts and not self._closed:
            delay = self.async_retry_delays_s[min(attempt, len(self.async_retry_delays_s) - 1)]
            log.info(
                "async invocation %s of %s failed (attempt %d); retrying in %.1fs",
                request_id,
                spec.name,
                attempt + 1,
                delay,
            )
            timer = threading.Timer(delay, self._requeue, (name_or_arn, body, request_id, attempt + 1, enqueued))
            timer.daemon = True
            with self._pending_cond:
                self._timers.add(timer)
            timer.start()
            return
        self._async_final(spec, body, request_id, attempt + 1, outcome, "RetriesExhausted")

    def _requeue(self, *item: Any) -> None:
        with self._pending_cond:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        if not self._closed:
            self._async_queue.put(item)
        else:
            self._async_done()

    def _async_final(
        self,
        spec: FunctionSpec,
        body: bytes,
        request_id: str,
        invoke_count: int,
        outcome: Invocation | None,
        condition: str,
    ) -> None:
        try:
            config = spec.async_config
            success = condition == "Success"
            destination = config.on_success if success else config.on_failure
            if not success:
                log.warning("async invocation %s of %s failed for good: %s", request_id, spec.name, condition)
            if destination and self.destinations is not None:
                record = {
                    "version": "1.0",
                    "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "requestContext": {
                        "requestId": request_id,
                        "functionArn": f"{spec.arn}:$LATEST",
                        "condition": condition,
                        "approximateInvokeCount": invoke_count,
                    },
                    "requestPayload": _json_or_text(body),
                    "responseContext": {
                        "statusCode": 200,
                        "executedVersion": "$LATEST",
                        **({"functionError": outcome.function_error} if outcome and outcome.function_error else {}),
                    },
                    "responsePayload": _json_or_text(outcome.payload) if outcome else None,
                }
                kind = "Success" if success else "Failure"
                self.destinations.send(destination, record, detail_type=f"Lambda Function Invocation Result - {kind}")
            elif not success and config.dead_letter_arn and self.destinations is not None:
                error = outcome.error if outcome else {"errorMessage": condition}
                self.destinations.send(
                    config.dead_letter_arn,
                    body.decode("utf-8"),
                    message_attributes={
                        "RequestID": request_id,
                        "ErrorCode": "200",
                        "ErrorMessage": str((error or {}).get("errorMessage", condition))[:1024],
                    },
                )
        finally:
            self._async_done()

    def _async_done(self) -> None:
        with self._pending_cond:
            self._pending_async -= 1
            self._pending_cond.notify_all()

    def wait_async_idle(self, timeout: float = 30.0) -> bool:
        """Block until no asynchronous invocation is queued, running or waiting to retry."""
        deadline = time.monotonic() + timeout
        with self._pending_cond:
            while self._pending_async > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._pending_cond.wait(remaining)
        return True

    @property
    def pending_async(self) -> int:
        return self._pending_async

    # ---- shutdown -------------------------------------------------------------------------------------
    def _drain_pool(self, pool: _Pool) -> None:
        with pool.cond:
            idle, pool.idle = pool.idle, []
        for worker in idle:
            worker.kill()

    def close(self) -> None:
        self._closed = True
        with self._pending_cond:
            for timer in self._timers:
                timer.cancel()
        for _ in self._async_threads:
            self._async_queue.put(None)
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            self._drain_pool(pool)


def _function_name(name_or_arn: str) -> str:
    """Accept a name, a partial ARN or a full ARN, with or without a qualifier; return the function name."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    if ":" in name_or_arn:  # "123456789012:function:name" or "name:qualifier"
        parts = name_or_arn.split(":")
        return parts[2] if len(parts) >= 3 and parts[1] == "function" else parts[0]
    return name_or_arn


def _failed(request_id: str, error_type: str, message: str) -> Invocation:
    body = {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": []}
    return Invocation(request_id, json.dumps(body).encode("utf-8"), "Unhandled")


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _append_log(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _log_tail(path: Path, limit: int = 4096) -> str:
    """The last 4 KB of a function's log, as `LogType=Tail` returns (base64-encoded by the caller)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(size - limit, 0))
            return handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def install(runtime_for: Callable[[], LambdaRuntime | None]) -> None:
    """Route moto's Lambda Invoke (the API and Step Functions tasks) to the active runtime."""
    import base64

    from moto.awslambda.models import LambdaBackend
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def send_kinesis_message(self: Any, *args: Any, **kwargs: Any) -> None:
        """moto would push each record to its Docker-based Lambda; the local KinesisPoller delivers batches."""

    LambdaBackend.send_kinesis_message = send_kinesis_message  # type: ignore[method-assign]

    if getattr(LambdaSimpleBackend.invoke, "_cd4ml_hook", False):
        return
    original = LambdaSimpleBackend.invoke

    @functools.wraps(original)
    def invoke(
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes | str | None:
        runtime = runtime_for()
        if runtime is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        function = self.get_function(function_name, qualifier)  # raises ResourceNotFoundException like AWS
        runtime.adopt(function)
        payload = body if isinstance(body, (bytes, str)) and body else b"{}"
        invocation_type = headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            request_id = runtime.invoke_async(function_name, payload)
            response_headers["x-amzn-RequestId"] = request_id
            return b""
        outcome = runtime.invoke(function_name, payload, client_context=headers.get("X-Amz-Client-Context"))
        response_headers["x-amz-executed-version"] = outcome.executed_version
        response_headers["x-amzn-RequestId"] = outcome.request_id
        if outcome.function_error:
            response_headers["x-amz-function-error"] = outcome.function_error
        if headers.get("X-Amz-Log-Type") == "Tail":
            tail = _log_tail(runtime.log_dir / f"{runtime.spec(function_name).name}.log")
            response_headers["x-amz-log-result"] = base64.b64encode(tail.encode("utf-8")).decode("ascii")
        response_headers["Content-Length"] = str(len(outcome.payload))
        return outcome.payload

    invoke._cd4ml_hook = True  # type: ignore[attr-defined]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
