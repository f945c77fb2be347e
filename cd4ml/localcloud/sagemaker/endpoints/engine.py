"""SageMaker endpoints on the local cloud: each production variant is a local HTTP server process running the model's
inference code, InvokeEndpoint is routed to it, and UpdateEndpoint is a blue/green deployment with alarm rollback.

moto records models, endpoint configs and endpoints but runs nothing, answers InvokeEndpoint with canned data and
does not implement UpdateEndpoint. Here:
- CreateEndpoint returns at once with the endpoint `Creating`; a thread downloads each variant's model archive from
  the local S3, starts `child_process/sagemaker_serving.py` for it and waits for `/ping` to answer 200 (InService)
  or gives up (Failed, with a FailureReason). Every status change emits "SageMaker Endpoint State Change".
- InvokeEndpoint picks a variant by weight (or `TargetVariant`), forwards the request to its server, answers as
  SageMaker does (ModelError when the model fails), captures the request and response to S3 when the endpoint
  config asks for it, and publishes the endpoint's metrics to the local CloudWatch (namespace AWS/SageMaker).
- UpdateEndpoint starts the new config's servers next to the old ones, shifts traffic (ALL_AT_ONCE, CANARY,
  LINEAR), bakes while evaluating the auto-rollback alarms (cloudwatch_alarms.py), and either retires the old
  fleet or rolls back to it: InService again on the old EndpointConfigName, with a FailureReason, as AWS does.

This module keeps the endpoints and answers the API; `launch` brings a fleet up, `deployments` runs an update,
`publishing` writes metrics and captures, `status` keeps statuses and events, `config` and `capture` decide.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import uuid
from typing import Any

from ...context import ServiceContext
from ...errors import AwsError, LocalCloudError, WaitTimeoutError
from .capture import capture_record, capture_summary, should_capture
from .config import (
    SERVING_STATUSES,
    TRANSITIONAL,
    ConfigSpec,
    missing_alarms,
    optional_float,
    read_config,
    rollback_alarms,
    set_variants,
)
from .deployments import BlueGreenUpdate
from .fleet import Endpoint
from .invoke import (
    CUSTOM_ATTRIBUTES_HEADER,
    MODEL_LATENCY_HEADER,
    Cancelled,
    EndpointFailure,
    InvokeError,
    InvokeResult,
)
from .launch import FleetLauncher
from .publishing import Publisher
from .status import EndpointStatus

log = logging.getLogger(__name__)


class SageMakerEndpoints:
    """Serves the endpoints created on the local cloud.

    Tunables (attributes): `launcher.health_timeout_s` (how long a variant may take to answer /ping),
    `publisher.flush_interval_s` (metrics publication), `publisher.capture_flush_s` and
    `publisher.capture_max_records` (capture files), `publisher.alarm_interval_s` (alarm evaluation while baking
    and in the background), `updates.drain_timeout_s` (requests in flight on a fleet being retired); the seed of
    the traffic split and capture sampling is `Settings.endpoint_seed`.
    """

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._random = random.Random(ctx.settings.endpoint_seed)
        self._random_lock = threading.Lock()
        self._endpoints: dict[str, Endpoint] = {}
        self._lock = threading.Lock()
        self._closed = False
        self.status = EndpointStatus(ctx)
        self.publisher = Publisher(ctx, lambda: bool(self._endpoints))
        self.launcher = FleetLauncher(ctx, lambda: self._closed)
        self.updates = BlueGreenUpdate(self.status, self.launcher, self.publisher, lambda: self._closed)

    def install(self) -> None:
        from ..hooks import ACTIVE_ENDPOINTS, install_endpoint_hooks

        install_endpoint_hooks()
        ACTIVE_ENDPOINTS.hold(self)

    # ---- moto hooks call these --------------------------------------------------------------------------------
    def on_created(self, backend: Any, fake: Any) -> None:
        """CreateEndpoint: the endpoint is Creating; its fleet starts on a thread."""
        spec = read_config(backend, fake.endpoint_config_name)
        endpoint = Endpoint(fake.endpoint_name, fake)
        fake.data_capture_config = capture_summary(spec.capture)
        set_variants(fake, spec)
        with self._lock:
            self._endpoints[endpoint.name] = endpoint
        self.publisher.ensure_flusher()
        self.status.set(endpoint, "Creating")
        endpoint.worker = threading.Thread(
            target=self._create, args=(endpoint, spec), name=f"endpoint-{endpoint.name}-create", daemon=True
        )
        endpoint.worker.start()

    def on_update(self, backend: Any, name: str, config_name: str, deployment: dict[str, Any] | None) -> str:
        """UpdateEndpoint: validate as AWS does, then deploy on a thread; returns the endpoint ARN."""
        from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig

        fake = backend.endpoints.get(name)
        endpoint = self._endpoints.get(name)
        if fake is None or endpoint is None:
            arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
            raise AwsError(f'Could not find endpoint "{arn}".')
        if config_name not in backend.endpoint_configs:
            arn = FakeEndpointConfig.arn_formatter(config_name, backend.account_id, backend.region_name)
            raise AwsError(f'Could not find endpoint configuration "{arn}".')
        alarms = rollback_alarms(deployment)
        missing = missing_alarms(backend.account_id, backend.region_name, alarms)
        if missing:
            raise AwsError(f"The auto-rollback alarm(s) {', '.join(missing)} do not exist.")
        if deployment and deployment.get("RollingUpdatePolicy"):
            log.warning("endpoint %s: RollingUpdatePolicy runs as a blue/green ALL_AT_ONCE update locally", name)
        spec = read_config(backend, config_name)
        with self._lock:  # two concurrent UpdateEndpoint calls: only one finds it InService
            if fake.endpoint_status != "InService":
                raise AwsError(f'Cannot update in-progress endpoint "{fake.arn}".')
            fake.endpoint_status = "Updating"
        fake.last_deployment_config = deployment or None
        fake.failure_reason = None
        self.status.set(endpoint, "Updating")
        endpoint.worker = threading.Thread(
            target=self.updates.run,
            args=(endpoint, spec, deployment or {}),
            name=f"endpoint-{name}-update",
            daemon=True,
        )
        endpoint.worker.start()
        return str(fake.arn)

    def on_deleted(self, fake: Any) -> None:
        """DeleteEndpoint (moto already forgot it): emit Deleting, stop the servers on a thread."""
        with self._lock:
            endpoint = self._endpoints.pop(fake.endpoint_name, None)
        if endpoint is None or endpoint.fake is not fake:
            return
        endpoint.deleted = True
        self.status.set(endpoint, "Deleting")
        threading.Thread(target=self.updates.retire, args=(endpoint,), name=f"endpoint-{endpoint.name}-delete").start()

    def invoke(
        self,
        name: str,
        body: bytes,
        *,
        content_type: str,
        accept: str | None = None,
        custom_attributes: str | None = None,
        target_variant: str | None = None,
        inference_id: str | None = None,
    ) -> InvokeResult:
        """InvokeEndpoint: route to a variant's server, capture, record metrics; InvokeError as AWS answers."""
        account = self.ctx.account_id
        endpoint = self._endpoints.get(name)
        if endpoint is None or endpoint.deleted:
            raise InvokeError("ValidationError", 400, f"Endpoint {name} of account {account} not found.")
        status = endpoint.fake.endpoint_status
        if status not in SERVING_STATUSES or endpoint.live is None:
            raise InvokeError(
                "ValidationError", 400, f"Endpoint {name} of account {account} is {status}, not InService."
            )
        fleet, variant = endpoint.route(self._draw, target_variant)
        headers = {"Content-Type": content_type, "Accept": accept or "application/json"}
        if custom_attributes:
            headers[CUSTOM_ATTRIBUTES_HEADER] = custom_attributes
        started = time.perf_counter()
        try:
            code, answer_headers, answer = variant.server.post(body, headers)
        except TimeoutError:
            self.publisher.metrics.record(
                name, variant.spec.name, 500, None, (time.perf_counter() - started) * 1e6, fleet.spec.name
            )
            raise InvokeError(
                "ModelError",
                424,
                f"Your invocation timed out while waiting for a response from container primary of production "
                f"variant {variant.spec.name}. Review the latency metrics for each container in Amazon CloudWatch, "
                "resolve the issue, and try again.",
                LogStreamArn=self._log_group_arn(name),
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self.publisher.metrics.record(
                name, variant.spec.name, 500, None, (time.perf_counter() - started) * 1e6, fleet.spec.name
            )
            exited = variant.server.proc.poll()
            raise InvokeError(
                "ModelError",
                424,
                f"The container of production variant {variant.spec.name} did not answer ({exc}"
                f"{f'; it exited with status {exited}' if exited is not None else ''}). "
                f"See {variant.server.log_file} for more information.",
                LogStreamArn=self._log_group_arn(name),
            ) from None
        finally:
            fleet.release()
        total_us = (time.perf_counter() - started) * 1e6
        model_us = optional_float(answer_headers.get(MODEL_LATENCY_HEADER))
        overhead_us = max(total_us - (model_us or 0.0), 0.0)
        self.publisher.metrics.record(name, variant.spec.name, code, model_us, overhead_us, fleet.spec.name)
        answer_type = answer_headers.get("content-type", "application/octet-stream")
        if code != 200:
            original = answer.decode("utf-8", "replace")
            kind = "client" if code < 500 else "server"
            raise InvokeError(
                "ModelError",
                424,
                f'Received {kind} error ({code}) from primary with message "{original}". '
                f"See {variant.server.log_file} in account {account} for more information.",
                OriginalStatusCode=code,
                OriginalMessage=original,
                LogStreamArn=self._log_group_arn(name),
            )
        capture = fleet.spec.capture
        if should_capture(capture, self._draw()):
            assert capture is not None
            when = self.ctx.clock.now()  # the cloud's clock: a monitoring window of a jumped clock finds them
            record = capture_record(
                capture, (body, content_type), (answer, answer_type), str(uuid.uuid4()), when, inference_id
            )
            self.publisher.captures.add(capture["DestinationS3Uri"], name, variant.spec.name, when, record)
        return InvokeResult(
            answer, answer_type, variant.spec.name, answer_headers.get(CUSTOM_ATTRIBUTES_HEADER.lower())
        )

    # ---- for tests, the CLI and the bench ---------------------------------------------------------------------
    def wait(self, name: str, timeout: float = 60.0) -> str:
        """Wait until an endpoint leaves Creating/Updating; return its status."""
        deadline = time.monotonic() + timeout
        while True:
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                raise LocalCloudError(f"no endpoint named {name!r} on the local cloud")
            status = str(endpoint.fake.endpoint_status)
            worker = endpoint.worker
            if status not in TRANSITIONAL and (worker is None or not worker.is_alive()):
                return status
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"endpoint {name} still {status} after {timeout}s")
            time.sleep(0.02)

    def servers(self, name: str) -> dict[str, str]:
        """The URL of each variant's server in the fleet now serving `name` (variant name -> http://127.0.0.1:port)."""
        endpoint = self._endpoints.get(name)
        fleet = endpoint.live if endpoint else None
        return {v.spec.name: v.server.url for v in fleet.variants} if fleet else {}

    def flush(self) -> None:
        """Publish buffered metrics and write every buffered capture file now."""
        self.publisher.publish(capture_age_s=None)

    def close(self) -> None:
        """Stop every endpoint server (and whatever it started), then write what is buffered."""
        from ..hooks import ACTIVE_ENDPOINTS

        ACTIVE_ENDPOINTS.release(self)
        self._closed = True
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
        for endpoint in endpoints:
            endpoint.deleted = True
        self.publisher.close()
        for endpoint in endpoints:
            if endpoint.worker is not None:
                endpoint.worker.join(10.0)
        threads = [threading.Thread(target=self.updates.retire, args=(endpoint,)) for endpoint in endpoints]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            self.flush()
        except Exception:
            log.exception("could not write the last endpoint metrics and captures")

    # ---- lifecycle threads -----------------------------------------------------------------------------------
    def _create(self, endpoint: Endpoint, spec: ConfigSpec) -> None:
        try:
            fleet = self.launcher.launch(endpoint, spec)
        except Cancelled:
            return
        except EndpointFailure as failure:
            if not endpoint.deleted:
                endpoint.fake.failure_reason = failure.reason[:1024]
                self.status.set(endpoint, "Failed")
            return
        with endpoint.lock:
            if not endpoint.deleted:
                endpoint.live = fleet
        if endpoint.live is not fleet:
            fleet.stop()
            return
        self.status.set(endpoint, "InService")

    def _draw(self) -> float:
        with self._random_lock:
            return self._random.random()

    def _log_group_arn(self, name: str) -> str:
        return f"arn:aws:logs:{self.ctx.region}:{self.ctx.account_id}:log-group:/aws/sagemaker/Endpoints/{name}"
