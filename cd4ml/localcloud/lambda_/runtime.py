"""Lambda runtime: runs deployed functions' real handlers in isolated, warm worker processes.

Each function has a pool of worker processes (one per concurrent execution environment, as on AWS).
A worker imports the handler once (cold start) and then serves invocations until the cloud stops.
Timeouts kill the worker; asynchronous invocations retry and honour destinations and dead-letter queues.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..archives import extract_archive
from ..errors import FunctionNotFoundError
from .functions import (
    AsyncConfig,
    FunctionSpec,
    Invocation,
    failed,
    function_name,
    json_or_text,
)
from .logs import LogShipper
from .worker import Pool, Worker, WorkerGone

log = logging.getLogger(__name__)


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
        logs_client: Callable[[], Any] | None = None,
    ) -> None:
        self.base_env = base_env
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.account_id = account_id
        self.region = region
        # AWS waits about 1 and then 2 minutes between asynchronous retries; locally the delays are compressed.
        self.async_retry_delays_s = async_retry_delays_s
        # with a logs client, what functions print also goes to CloudWatch Logs (/aws/lambda/<name>)
        self.log_shipper = LogShipper(logs_client) if logs_client is not None else None
        self._pools: dict[str, Pool] = {}
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

    def install(self) -> None:
        from .hooks import ACTIVE_RUNTIME, install_lambda_hooks

        install_lambda_hooks()
        ACTIVE_RUNTIME.hold(self)

    # ---- registry -------------------------------------------------------------------------------------
    def register(self, spec: FunctionSpec) -> None:
        with self._lock:
            old = self._pools.pop(spec.name, None)
            self._pools[spec.name] = Pool(spec)
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
            extract_archive(code_bytes, code_dir, f"the code of function {name}")
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
                async_config=AsyncConfig(dead_letter_arn=getattr(function, "cd4ml_dead_letter_config", None)),
            )
        )

    def set_dead_letter_target(self, name_or_arn: str, target_arn: str | None) -> None:
        """UpdateFunctionConfiguration's DeadLetterConfig: where asynchronous events that failed for good go."""
        with self._lock:
            pool = self._pools.get(function_name(name_or_arn))
        if pool is not None:
            pool.spec.async_config.dead_letter_arn = target_arn

    def functions(self) -> list[FunctionSpec]:
        with self._lock:
            return [pool.spec for pool in self._pools.values()]

    def spec(self, name_or_arn: str) -> FunctionSpec:
        return self._pool(name_or_arn).spec

    def _pool(self, name_or_arn: str) -> Pool:
        name = function_name(name_or_arn)
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
            return failed(
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
                raise WorkerGone("no worker")
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
            assert worker is not None
            worker.log.write(
                f"{datetime.now(UTC).isoformat()} {message}\nEND RequestId: {request_id}\n"
                f"REPORT RequestId: {request_id}\tDuration: {spec.timeout_s * 1000:.2f} ms\t"
                f"Billed Duration: {math.ceil(spec.timeout_s * 1000)} ms\t"
                f"Memory Size: {spec.memory_mb} MB\tStatus: timeout\n",
            )
            outcome = failed(request_id, "Sandbox.Timedout", message)
        except WorkerGone as exc:
            reusable = False
            outcome = failed(
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

    def _acquire(self, pool: Pool) -> tuple[Worker | None, bool]:
        with pool.cond:
            while not pool.idle and pool.busy >= pool.limit:
                pool.cond.wait()
            pool.busy += 1
            if pool.idle:
                return pool.idle.pop(), False
        worker: Worker | None = None
        try:
            worker = Worker(pool.spec, self.base_env, self.log_dir, self.log_shipper)
            worker.wait_ready()
            return worker, True
        except (TimeoutError, WorkerGone, OSError) as exc:
            # the invoke then answers Runtime.ExitError, and the next one tries a fresh environment
            log.error("function %s failed to start its runtime: %s", pool.spec.name, exc)
            if worker is not None:
                worker.kill()
            return None, True

    def _release(self, pool: Pool, worker: Worker | None, reusable: bool) -> None:
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
                    "requestPayload": json_or_text(body),
                    "responseContext": {
                        "statusCode": 200,
                        "executedVersion": "$LATEST",
                        **({"functionError": outcome.function_error} if outcome and outcome.function_error else {}),
                    },
                    "responsePayload": json_or_text(outcome.payload) if outcome else None,
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
    def _drain_pool(self, pool: Pool) -> None:
        with pool.cond:
            idle, pool.idle = pool.idle, []
        for worker in idle:
            worker.kill()

    def close(self) -> None:
        from .hooks import ACTIVE_RUNTIME

        ACTIVE_RUNTIME.release(self)
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
        if self.log_shipper is not None:
            self.log_shipper.close()
