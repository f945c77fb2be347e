"""SageMaker endpoints on the local cloud: each production variant is a local HTTP server process running the model's
inference code, InvokeEndpoint is routed to it, and UpdateEndpoint is a blue/green deployment with alarm rollback.

moto records models, endpoint configs and endpoints but runs nothing, answers InvokeEndpoint with canned data and
does not implement UpdateEndpoint. Here:
- CreateEndpoint returns at once with the endpoint `Creating`; a thread downloads each variant's model archive from
  the local S3, starts `sagemaker_serving.py` for it and waits for `/ping` to answer 200 (InService) or gives up
  (Failed, with a FailureReason). Every status change emits "SageMaker Endpoint State Change".
- InvokeEndpoint picks a variant by weight (or `TargetVariant`), forwards the request to its server, answers as
  SageMaker does (ModelError when the model fails), captures the request and response to S3 when the endpoint
  config asks for it, and publishes the endpoint's metrics to the local CloudWatch (namespace AWS/SageMaker).
- UpdateEndpoint starts the new config's servers next to the old ones, shifts traffic (ALL_AT_ONCE, CANARY,
  LINEAR), bakes while evaluating the auto-rollback alarms (cloudwatch_alarms.py), and either retires the old
  fleet or rolls back to it: InService again on the old EndpointConfigName, with a FailureReason, as AWS does.
"""

from __future__ import annotations

import base64
import functools
import http.client
import io
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .aws import epoch_millis, host_environment
from .cloudwatch_alarms import ALARM, AlarmEvaluator
from .errors import LocalCloudError, WaitTimeoutError
from .sagemaker_images import UnsupportedImageError, gpu_environment, local_gpu_count, resolve_image

if TYPE_CHECKING:
    from .cloud import LocalCloud

log = logging.getLogger(__name__)

SERVING = Path(__file__).with_name("sagemaker_serving.py")
STATE_CHANGE = "SageMaker Endpoint State Change"
DEPLOYMENT_STATE_CHANGE = "SageMaker Endpoint Deployment State Change"
NAMESPACE = "AWS/SageMaker"
INVOCATION_TIMEOUT_S = 60.0  # AWS gives a container 60 s to answer /invocations
MODEL_LATENCY_HEADER = "x-cd4ml-model-latency-us"  # set by sagemaker_serving.py
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
TRANSITIONAL = ("Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting")
SERVING_STATUSES = ("InService", "Updating", "SystemUpdating", "RollingBack", "UpdateRollbackFailed")


class EndpointFailure(LocalCloudError):
    """A fleet could not be brought up; `reason` is the FailureReason DescribeEndpoint shows."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Cancelled(Exception):
    """The endpoint was deleted, or the local cloud stopped, while a fleet was starting."""


class InvokeError(Exception):
    """An InvokeEndpoint error, answered as sagemaker-runtime does (rest-json: x-amzn-ErrorType and a JSON body)."""

    def __init__(self, code: str, status: int, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.fields = fields

    def body(self) -> dict[str, Any]:
        return {"message": self.message, **self.fields}


@dataclass(frozen=True)
class InvokeResult:
    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None = None


# ---- the parts that decide something, as plain functions ------------------------------------------------------
def event_status(status: str) -> str:
    """SageMaker's events spell the status IN_SERVICE where its API says InService."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def capacity_fraction(size: Mapping[str, Any], instance_count: int) -> float:
    """The share of traffic a CapacitySize (CanarySize, LinearStepSize) sends to the new fleet.

    CAPACITY_PERCENT is that percentage of the traffic; INSTANCE_COUNT is that many of the new fleet's instances,
    which take their proportional share of its traffic.
    """
    value = float(size.get("Value", 0))
    share = value / 100.0 if size.get("Type") == "CAPACITY_PERCENT" else value / max(instance_count, 1)
    return min(max(share, 0.0), 1.0)


def traffic_steps(routing: Mapping[str, Any] | None, instance_count: int) -> list[float]:
    """The successive shares of traffic on the new fleet during a blue/green update; the last one is 1.0."""
    kind = (routing or {}).get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        first = capacity_fraction(routing.get("CanarySize") or {}, instance_count) if routing else 1.0
        return [first, 1.0] if 0.0 < first < 1.0 else [1.0]
    if kind == "LINEAR":
        step = capacity_fraction(routing.get("LinearStepSize") or {}, instance_count) if routing else 1.0
        if step <= 0.0:
            return [1.0]
        count = int(1.0 / step + 1e-9)
        steps = [round(step * index, 6) for index in range(1, count + 1) if step * index < 1.0 - 1e-9]
        return [*steps, 1.0]
    return [1.0]


def pick_by_weight(weights: Sequence[float], draw: float) -> int:
    """The index `draw` (uniform in [0, 1)) falls on when each item gets its weight's share; all-zero: equal."""
    positive = [max(float(weight), 0.0) for weight in weights]
    total = sum(positive)
    if total <= 0.0:
        positive, total = [1.0] * len(weights), float(len(weights))
    point = draw * total
    for index, weight in enumerate(positive):
        if point < weight:
            return index
        point -= weight
    return max(index for index, weight in enumerate(positive) if weight > 0)


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def capture_encoding(content_type: str | None, header: Mapping[str, Any] | None) -> str:
    """CSV or JSON for the content types CaptureContentTypeHeader lists; BASE64 otherwise (AWS's default)."""
    media = _media_type(content_type)
    if header:
        if media in {_media_type(t) for t in header.get("CsvContentTypes") or []}:
            return "CSV"
        if media in {_media_type(t) for t in header.get("JsonContentTypes") or []}:
            return "JSON"
    return "BASE64"


def capture_payload(mode: str, data: bytes, content_type: str, header: Mapping[str, Any] | None) -> dict[str, str]:
    encoding = capture_encoding(content_type, header)
    text: str | None = None
    if encoding != "BASE64":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            encoding = "BASE64"
    if text is None:
        text = base64.b64encode(data).decode("ascii")
    return {"observedContentType": content_type, "mode": mode, "data": text, "encoding": encoding}


def capture_record(
    config: Mapping[str, Any],
    request: tuple[bytes, str],
    response: tuple[bytes, str],
    event_id: str,
    when: datetime,
    inference_id: str | None = None,
) -> dict[str, Any]:
    """One line of a data-capture file, in SageMaker's format (eventVersion 0)."""
    modes = {option.get("CaptureMode") for option in config.get("CaptureOptions") or []}
    header = config.get("CaptureContentTypeHeader")
    captured: dict[str, Any] = {}
    if modes & {"Input", "InputAndOutput"}:
        captured["endpointInput"] = capture_payload("INPUT", request[0], request[1], header)
    if modes & {"Output", "InputAndOutput"}:
        captured["endpointOutput"] = capture_payload("OUTPUT", response[0], response[1], header)
    metadata = {"eventId": event_id, "inferenceTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {"captureData": captured, "eventMetadata": metadata, "eventVersion": "0"}


def capture_object(destination: str, endpoint: str, variant: str, when: datetime, unique: str) -> tuple[str, str]:
    """Bucket and key of a capture file: <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/mm-ss-mmm-<uuid>.jsonl."""
    bucket, prefix = split_s3_uri(destination)
    when = when.astimezone(UTC)
    name = f"{when:%M-%S}-{when.microsecond // 1000:03d}-{unique}.jsonl"
    parts = [p for p in (prefix.strip("/"), endpoint, variant, f"{when:%Y/%m/%d/%H}", name) if p]
    return bucket, "/".join(parts)


def should_capture(config: Mapping[str, Any] | None, draw: float) -> bool:
    """Whether a request is sampled for capture; `draw` is uniform in [0, 1)."""
    if not config or not config.get("DestinationS3Uri") or config.get("EnableCapture") is False:
        return False
    return draw * 100.0 < float(config.get("InitialSamplingPercentage", 0))


def capture_summary(config: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """DescribeEndpoint's DataCaptureConfig (a summary, not the endpoint config's input shape)."""
    if not config or not config.get("DestinationS3Uri"):
        return None
    enabled = config.get("EnableCapture") is not False
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": int(config.get("InitialSamplingPercentage", 0)),
        "DestinationS3Uri": config["DestinationS3Uri"],
    }
    if config.get("KmsKeyId"):
        summary["KmsKeyId"] = config["KmsKeyId"]
    return summary


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} is not an s3:// URI")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def endpoint_detail(fake: Any) -> dict[str, Any]:
    """The detail of "SageMaker Endpoint State Change", in the shape AWS documents."""
    detail: dict[str, Any] = {
        "EndpointName": fake.endpoint_name,
        "EndpointArn": fake.arn,
        "EndpointConfigName": fake.endpoint_config_name,
        "ProductionVariants": [
            {k: v for k, v in variant.items() if k != "DeployedImages"} for variant in fake.production_variants
        ],
        "EndpointStatus": event_status(fake.endpoint_status),
        "CreationTime": epoch_millis(fake.creation_time),
        "LastModifiedTime": epoch_millis(fake.last_modified_time),
        "Tags": {tag["Key"]: tag["Value"] for tag in fake.tags or []},
    }
    if fake.failure_reason:
        detail["FailureReason"] = fake.failure_reason
    return detail


# ---- the fleet: specs read from moto, serving processes -------------------------------------------------------
@dataclass(frozen=True)
class VariantSpec:
    """A production variant of an endpoint config, with its model's container, read when the request came in."""

    name: str
    model_name: str
    weight: float
    instance_type: str | None
    instance_count: int
    container: dict[str, Any]
    raw: dict[str, Any]
    problem: str | None = None  # why it cannot run locally


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    variants: list[VariantSpec]
    capture: dict[str, Any] | None

    @property
    def instance_count(self) -> int:
        return sum(variant.instance_count for variant in self.variants)


class _ServerStartError(Exception):
    pass


class _Server:
    """One serving process (one variant of one fleet) and a pool of keep-alive connections to it."""

    def __init__(self, env: dict[str, str], log_file: Path, cwd: Path) -> None:
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log_handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-X", "utf8", str(SERVING)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_handle,
                env=env,
                cwd=cwd,
                start_new_session=True,  # so that stopping it stops whatever the model code started
            )
        self.port: int | None = None
        self._port_known = threading.Event()
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._read_port, name="sagemaker-serving-port", daemon=True).start()

    def _read_port(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            self.port = None
        self._port_known.set()
        self.proc.stdout.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float, cancelled: Callable[[], bool]) -> None:
        """Wait for /ping to answer 200; _ServerStartError when loading failed, the process died or time ran out."""
        deadline = time.monotonic() + timeout
        while not self._port_known.wait(0.05):
            self._check(deadline, cancelled)
        if self.port is None:
            raise _ServerStartError(f"the serving process exited with status {self.proc.wait()}")
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2.0)
            try:
                connection.request("GET", "/ping")
                response = connection.getresponse()
                body = response.read()
            except OSError:
                pass
            else:
                if response.status == 200:
                    return
                if response.status == 500:
                    try:
                        error = json.loads(body)["error"]
                    except (ValueError, KeyError, TypeError):
                        error = body.decode("utf-8", "replace")
                    raise _ServerStartError(f"loading the model failed: {error}")
            finally:
                connection.close()
            self._check(deadline, cancelled)
            time.sleep(0.02)

    def _check(self, deadline: float, cancelled: Callable[[], bool]) -> None:
        if cancelled():
            raise _Cancelled
        status = self.proc.poll()
        if status is not None:
            raise _ServerStartError(f"the serving process exited with status {status}")
        if time.monotonic() > deadline:
            raise _ServerStartError("/ping did not answer 200 in time")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return http.client.HTTPConnection("127.0.0.1", self.port or 0, timeout=INVOCATION_TIMEOUT_S), False

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST /invocations; a keep-alive connection the server dropped is retried once on a fresh one."""
        for attempt in (0, 1):
            connection, reused = self._connection()
            try:
                connection.request("POST", "/invocations", body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
            with self._lock:
                if response.will_close or self._stopped or len(self._idle) >= 64:
                    connection.close()
                else:
                    self._idle.append(connection)
            return response.status, answer_headers, data
        raise AssertionError("unreachable")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(2.0)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.proc.wait()


@dataclass
class _Variant:
    spec: VariantSpec
    server: _Server


class _Fleet:
    """The servers of one endpoint config; counts requests in flight so that it is retired only once drained."""

    def __init__(self, spec: ConfigSpec, directory: Path, variants: list[_Variant]) -> None:
        self.spec = spec
        self.directory = directory
        self.variants = variants
        self._inflight = 0
        self._cond = threading.Condition()

    def variant(self, name: str) -> _Variant | None:
        return next((v for v in self.variants if v.spec.name == name), None)

    def acquire(self) -> None:
        with self._cond:
            self._inflight += 1

    def release(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    def stop(self) -> None:
        _stop_servers([variant.server for variant in self.variants])
        shutil.rmtree(self.directory, ignore_errors=True)


def _stop_servers(servers: list[_Server]) -> None:
    threads = [threading.Thread(target=server.stop, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class _Endpoint:
    name: str
    fake: Any  # moto's FakeEndpoint: what DescribeEndpoint shows
    live: _Fleet | None = None
    pending: _Fleet | None = None  # the new fleet during an update
    pending_share: float = 0.0  # the share of traffic it gets
    deleted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: threading.Thread | None = None

    def route(self, draw: Callable[[], float], target: str | None) -> tuple[_Fleet, _Variant]:
        """Choose the fleet (by the update's traffic share) and the variant (by weight, or the one named)."""
        with self.lock:
            fleets = [(f, s) for f, s in ((self.live, 1 - self.pending_share), (self.pending, self.pending_share)) if f]
            fleets = [(f, s) for f, s in fleets if s > 0] or fleets[:1]
            if target:
                fleets = [(f, s) for f, s in fleets if f.variant(target)]
                if not fleets:
                    raise InvokeError(
                        "ValidationError", 400, f"Endpoint {self.name} has no production variant named {target}."
                    )
            if not fleets:
                raise InvokeError("ValidationError", 400, f"Endpoint {self.name} has no running variant.")
            fleet = fleets[pick_by_weight([s for _, s in fleets], draw())][0]
            variant = fleet.variant(target) if target else None
            if variant is None:
                weights = self._weights(fleet)
                variant = fleet.variants[pick_by_weight([weights[v.spec.name] for v in fleet.variants], draw())]
            fleet.acquire()  # under the lock, so that a traffic switch cannot miss a request already routed
            return fleet, variant

    def _weights(self, fleet: _Fleet) -> dict[str, float]:
        weights = {v.spec.name: v.spec.weight for v in fleet.variants}
        if fleet is self.live:  # UpdateEndpointWeightsAndCapacities changes moto's CurrentWeight
            for variant in self.fake.production_variants or []:
                if variant.get("VariantName") in weights and variant.get("CurrentWeight") is not None:
                    weights[variant["VariantName"]] = float(variant["CurrentWeight"])
        return weights


# ---- what the endpoints publish: metrics and captured data ----------------------------------------------------
class MetricBuffer:
    """Invocation metrics aggregated per endpoint and variant until the next flush (StatisticValues)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats: dict[tuple[str, str, str], list[float]] = {}  # (endpoint, variant, metric) -> n, sum, min, max

    def _add(self, key: tuple[str, str, str], value: float) -> None:
        stat = self._stats.get(key)
        if stat is None:
            self._stats[key] = [1.0, value, value, value]
        else:
            stat[0] += 1
            stat[1] += value
            stat[2] = min(stat[2], value)
            stat[3] = max(stat[3], value)

    def record(self, endpoint: str, variant: str, status: int, model_us: float | None, overhead_us: float) -> None:
        with self._lock:
            self._add((endpoint, variant, "Invocations"), 1.0)
            self._add((endpoint, variant, "InvocationsPerInstance"), 1.0)
            self._add((endpoint, variant, "Invocation4XXErrors"), 1.0 if 400 <= status < 500 else 0.0)
            self._add((endpoint, variant, "Invocation5XXErrors"), 1.0 if status >= 500 else 0.0)
            if model_us is not None:
                self._add((endpoint, variant, "ModelLatency"), model_us)
            self._add((endpoint, variant, "OverheadLatency"), overhead_us)

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            stats, self._stats = self._stats, {}
        return [
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
                "StatisticValues": {"SampleCount": n, "Sum": total, "Minimum": low, "Maximum": high},
                "Unit": "Microseconds" if metric.endswith("Latency") else "None",
            }
            for (endpoint, variant, metric), (n, total, low, high) in stats.items()
        ]


class CaptureBuffer:
    """Captured records buffered per file (destination, endpoint, variant, hour); written as small JSONL files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[tuple[str, str, str, str], tuple[datetime, float, list[str]]] = {}

    def add(self, destination: str, endpoint: str, variant: str, when: datetime, record: dict[str, Any]) -> None:
        key = (destination, endpoint, variant, f"{when.astimezone(UTC):%Y%m%d%H}")
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self._files.setdefault(key, (when, time.monotonic(), []))[2].append(line)

    def take(self, older_than_s: float | None, max_records: int) -> list[tuple[str, str, bytes]]:
        """The files to write: all of them (None), or those buffered that long or grown that big."""
        now = time.monotonic()
        with self._lock:
            ready = [
                key
                for key, (_, since, lines) in self._files.items()
                if older_than_s is None or now - since >= older_than_s or len(lines) >= max_records
            ]
            taken = [(key, self._files.pop(key)) for key in ready]
        files = []
        for (destination, endpoint, variant, _), (first, _, lines) in taken:
            bucket, object_key = capture_object(destination, endpoint, variant, first, str(uuid.uuid4()))
            files.append((bucket, object_key, ("\n".join(lines) + "\n").encode("utf-8")))
        return files


# ---- the service ----------------------------------------------------------------------------------------------
class SageMakerEndpoints:
    """Serves the endpoints created on the local cloud.

    Tunables (attributes): `health_timeout_s` (how long a variant may take to answer /ping), `flush_interval_s`
    (metrics publication), `capture_flush_s` and `capture_max_records` (capture files), `alarm_interval_s`
    (alarm evaluation while baking and in the background), `drain_timeout_s` (requests in flight on a fleet
    being retired), `seed` (traffic split and capture sampling).
    """

    def __init__(self, cloud: LocalCloud, *, seed: int = 0) -> None:
        self.cloud = cloud
        self.health_timeout_s = 60.0
        self.flush_interval_s = 0.5
        self.capture_flush_s = 1.0
        self.capture_max_records = 1000
        self.alarm_interval_s = 0.25
        self.drain_timeout_s = INVOCATION_TIMEOUT_S
        self._random = random.Random(seed)
        self._random_lock = threading.Lock()
        self._endpoints: dict[str, _Endpoint] = {}
        self._lock = threading.Lock()
        self._metrics = MetricBuffer()
        self._captures = CaptureBuffer()
        self._closed = False
        self._stop_flusher = threading.Event()
        self._flusher: threading.Thread | None = None
        self._publish_lock = threading.Lock()
        self._alarms: AlarmEvaluator | None = None

    # ---- moto hooks call these --------------------------------------------------------------------------------
    def on_created(self, backend: Any, fake: Any) -> None:
        """CreateEndpoint: the endpoint is Creating; its fleet starts on a thread."""
        spec = read_config(backend, fake.endpoint_config_name)
        endpoint = _Endpoint(fake.endpoint_name, fake)
        fake.data_capture_config = capture_summary(spec.capture)
        _set_variants(fake, spec)
        with self._lock:
            self._endpoints[endpoint.name] = endpoint
        self._ensure_flusher()
        self._set_status(endpoint, "Creating")
        endpoint.worker = threading.Thread(
            target=self._create, args=(endpoint, spec), name=f"endpoint-{endpoint.name}-create", daemon=True
        )
        endpoint.worker.start()

    def on_update(self, backend: Any, name: str, config_name: str, deployment: dict[str, Any] | None) -> str:
        """UpdateEndpoint: validate as AWS does, then deploy on a thread; returns the endpoint ARN."""
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig

        fake = backend.endpoints.get(name)
        endpoint = self._endpoints.get(name)
        if fake is None or endpoint is None:
            arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
            raise ValidationError(message=f'Could not find endpoint "{arn}".')
        if config_name not in backend.endpoint_configs:
            arn = FakeEndpointConfig.arn_formatter(config_name, backend.account_id, backend.region_name)
            raise ValidationError(message=f'Could not find endpoint configuration "{arn}".')
        alarms = rollback_alarms(deployment)
        missing = _missing_alarms(backend.account_id, backend.region_name, alarms)
        if missing:
            raise ValidationError(message=f"The auto-rollback alarm(s) {', '.join(missing)} do not exist.")
        if deployment and deployment.get("RollingUpdatePolicy"):
            log.warning("endpoint %s: RollingUpdatePolicy runs as a blue/green ALL_AT_ONCE update locally", name)
        spec = read_config(backend, config_name)
        with self._lock:  # two concurrent UpdateEndpoint calls: only one finds it InService
            if fake.endpoint_status != "InService":
                raise ValidationError(message=f'Cannot update in-progress endpoint "{fake.arn}".')
            fake.endpoint_status = "Updating"
        fake.last_deployment_config = deployment or None
        fake.failure_reason = None
        self._set_status(endpoint, "Updating")
        endpoint.worker = threading.Thread(
            target=self._update, args=(endpoint, spec, deployment or {}), name=f"endpoint-{name}-update", daemon=True
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
        self._set_status(endpoint, "Deleting")
        threading.Thread(target=self._retire, args=(endpoint,), name=f"endpoint-{endpoint.name}-delete").start()

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
        account = self.cloud.account_id
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
            self._metrics.record(name, variant.spec.name, 500, None, (time.perf_counter() - started) * 1e6)
            raise InvokeError(
                "ModelError",
                424,
                f"Your invocation timed out while waiting for a response from container primary of production "
                f"variant {variant.spec.name}. Review the latency metrics for each container in Amazon CloudWatch, "
                "resolve the issue, and try again.",
                LogStreamArn=self._log_group_arn(name),
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            self._metrics.record(name, variant.spec.name, 500, None, (time.perf_counter() - started) * 1e6)
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
        model_us = _float(answer_headers.get(MODEL_LATENCY_HEADER))
        overhead_us = max(total_us - (model_us or 0.0), 0.0)
        self._metrics.record(name, variant.spec.name, code, model_us, overhead_us)
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
            when = datetime.now(UTC)
            record = capture_record(
                capture, (body, content_type), (answer, answer_type), str(uuid.uuid4()), when, inference_id
            )
            self._captures.add(capture["DestinationS3Uri"], name, variant.spec.name, when, record)
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
        self._publish(capture_age_s=None)

    def close(self) -> None:
        """Stop every endpoint server (and whatever it started), then write what is buffered."""
        self._closed = True
        with self._lock:
            endpoints = list(self._endpoints.values())
            self._endpoints.clear()
        for endpoint in endpoints:
            endpoint.deleted = True
        self._stop_flusher.set()
        if self._flusher is not None:
            self._flusher.join(10.0)
        for endpoint in endpoints:
            if endpoint.worker is not None:
                endpoint.worker.join(10.0)
        threads = [threading.Thread(target=self._retire, args=(endpoint,)) for endpoint in endpoints]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        try:
            self.flush()
        except Exception:
            log.exception("could not write the last endpoint metrics and captures")

    # ---- lifecycle threads -----------------------------------------------------------------------------------
    def _create(self, endpoint: _Endpoint, spec: ConfigSpec) -> None:
        try:
            fleet = self._launch(endpoint, spec)
        except _Cancelled:
            return
        except EndpointFailure as failure:
            if not endpoint.deleted:
                endpoint.fake.failure_reason = failure.reason[:1024]
                self._set_status(endpoint, "Failed")
            return
        with endpoint.lock:
            if not endpoint.deleted:
                endpoint.live = fleet
        if endpoint.live is not fleet:
            fleet.stop()
            return
        self._set_status(endpoint, "InService")

    def _update(self, endpoint: _Endpoint, spec: ConfigSpec, deployment: dict[str, Any]) -> None:
        started = time.monotonic()
        started_at = datetime.now(UTC)
        policy = deployment.get("BlueGreenUpdatePolicy") or {}
        routing = policy.get("TrafficRoutingConfiguration") or {}
        timeout = policy.get("MaximumExecutionTimeoutInSeconds")
        deadline = started + float(timeout) if timeout else None
        alarms = rollback_alarms(deployment)
        wait_s = float(routing.get("WaitIntervalInSeconds") or 0)
        self._stage(endpoint, spec, started_at, 0.0, "Creating", f"Launching {spec.instance_count} instance(s).")
        try:
            fleet = self._launch(endpoint, spec)
        except _Cancelled:
            return
        except EndpointFailure as failure:
            self._roll_back(endpoint, None, f"Updating to endpoint config {spec.name} failed: {failure.reason}")
            return
        with endpoint.lock:
            if endpoint.deleted:
                fleet.stop()
                return
            endpoint.pending, endpoint.pending_share = fleet, 0.0
        steps = traffic_steps(routing, spec.instance_count)
        for share in steps:
            with endpoint.lock:
                endpoint.pending_share = share
            message = (
                f"Baking for {wait_s:g} seconds (WaitIntervalInSeconds) with {share:.0%} of traffic on the new fleet."
            )
            self._stage(endpoint, spec, started_at, share, "Baking", message)
            problem = self._bake(endpoint, wait_s, alarms, deadline)
            if problem is not None:
                self._roll_back(endpoint, fleet, problem)
                return
        termination_s = float(policy.get("TerminationWaitInSeconds") or 0)
        if termination_s:
            message = (
                f"Baking for {termination_s:g} seconds (TerminationWaitInSeconds) with all traffic on the new fleet."
            )
            self._stage(endpoint, spec, started_at, 1.0, "Baking", message)
            problem = self._bake(endpoint, termination_s, alarms, deadline)
            if problem is not None:
                self._roll_back(endpoint, fleet, problem)
                return
        with endpoint.lock:
            if endpoint.deleted:
                return  # the delete retires both fleets
            old, endpoint.live, endpoint.pending, endpoint.pending_share = endpoint.live, fleet, None, 0.0
        fake = endpoint.fake
        fake.endpoint_config_name = spec.name
        fake.data_capture_config = capture_summary(spec.capture)
        fake.pending_deployment_summary = None
        _set_variants(fake, spec)
        if old is not None:
            self._retire_fleet(old)
        self._set_status(endpoint, "InService")

    def _bake(self, endpoint: _Endpoint, seconds: float, alarms: list[str], deadline: float | None) -> str | None:
        """Wait `seconds` watching the alarms; the reason to roll back, or None when the period passed cleanly."""
        end = time.monotonic() + seconds
        while True:
            if endpoint.deleted or self._closed:
                return "the endpoint was deleted during the update"
            if alarms:
                tripped = self._tripped(alarms)
                if tripped:
                    return (
                        f"Rolled back the update: CloudWatch alarm(s) {', '.join(tripped)} of the "
                        f"AutoRollbackConfiguration went into ALARM while baking ({'; '.join(tripped.values())})"
                    )
            if deadline is not None and time.monotonic() > deadline:
                return "Rolled back the update: it exceeded MaximumExecutionTimeoutInSeconds"
            remaining = end - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.alarm_interval_s, remaining))

    def _tripped(self, alarms: list[str]) -> dict[str, str]:
        self._publish_metrics()
        try:
            outcomes = self._alarm_evaluator().evaluate(alarms)
        except Exception:
            log.exception("evaluating the auto-rollback alarms %s failed", alarms)
            return {}
        return {name: outcome.reason for name, outcome in outcomes.items() if outcome.state == ALARM}

    def _roll_back(self, endpoint: _Endpoint, fleet: _Fleet | None, reason: str) -> None:
        """Traffic back to the old fleet, the new one stopped; InService on the old config, as AWS does."""
        log.warning("endpoint %s: %s", endpoint.name, reason)
        with endpoint.lock:
            endpoint.pending, endpoint.pending_share = None, 0.0
        if fleet is not None:
            self._retire_fleet(fleet)
        if endpoint.deleted:
            return
        endpoint.fake.failure_reason = reason[:1024]
        endpoint.fake.pending_deployment_summary = None
        self._set_status(endpoint, "InService")

    def _retire_fleet(self, fleet: _Fleet) -> None:
        if not fleet.drain(self.drain_timeout_s):
            log.warning("fleet %s still had requests in flight after %ss", fleet.spec.name, self.drain_timeout_s)
        fleet.stop()

    def _retire(self, endpoint: _Endpoint) -> None:
        with endpoint.lock:
            fleets = [f for f in (endpoint.live, endpoint.pending) if f is not None]
            endpoint.live = endpoint.pending = None
        for fleet in fleets:
            fleet.stop()

    def _launch(self, endpoint: _Endpoint, spec: ConfigSpec) -> _Fleet:
        """Start one server per variant and wait until every one answers /ping; EndpointFailure otherwise."""
        fleet_id = f"{spec.name}-{uuid.uuid4().hex[:8]}"
        directory = self.cloud.work_dir / "sagemaker" / "endpoints" / endpoint.name / fleet_id
        started: list[_Variant] = []

        def cancelled() -> bool:
            return endpoint.deleted or self._closed

        try:
            for variant in spec.variants:
                if variant.problem:
                    raise EndpointFailure(variant.problem)
                image = str(variant.container.get("Image", ""))
                try:
                    framework = resolve_image(image).framework
                except UnsupportedImageError as exc:
                    raise EndpointFailure(f"Production variant {variant.name}: {exc}") from None
                model_dir, code_dir, environment = self._prepare(directory / variant.name, variant)
                log_file = self._log_dir(endpoint.name) / f"{variant.name}-{fleet_id}.log"
                env = self._environment(endpoint.name, variant, model_dir, code_dir, environment)
                env["_CD4ML_FRAMEWORK"] = framework  # how the image's serving stack hands bodies to input_fn
                started.append(_Variant(variant, _Server(env, log_file, model_dir)))
                if cancelled():
                    raise _Cancelled
            for running in started:
                try:
                    running.server.wait_healthy(self.health_timeout_s, cancelled)
                except _ServerStartError as exc:
                    raise EndpointFailure(
                        f"The primary container for production variant {running.spec.name} did not pass the ping "
                        f"health check: {exc}. See {running.server.log_file}."
                    ) from None
        except BaseException:
            _stop_servers([running.server for running in started])
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return _Fleet(spec, directory, started)

    def _prepare(self, directory: Path, variant: VariantSpec) -> tuple[Path, Path | None, dict[str, str]]:
        """The model archive extracted (/opt/ml/model on AWS) and the inference code located."""
        container = variant.container
        model_dir = directory / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        source = (container.get("ModelDataSource") or {}).get("S3DataSource") or {}
        if container.get("ModelDataUrl"):
            self._fetch_archive(str(container["ModelDataUrl"]), model_dir)
        elif source.get("S3Uri"):
            if source.get("CompressionType") == "Gzip":
                self._fetch_archive(str(source["S3Uri"]), model_dir)
            else:
                self._fetch_prefix(str(source["S3Uri"]), model_dir)
        environment = {str(k): str(v) for k, v in (container.get("Environment") or {}).items()}
        submitted = environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        code_dir: Path | None = None
        if submitted.startswith("s3://"):
            code_dir = directory / "code"
            code_dir.mkdir(parents=True, exist_ok=True)
            self._fetch_archive(submitted, code_dir)
        elif submitted.startswith("/opt/ml/model"):
            code_dir = model_dir / submitted.removeprefix("/opt/ml/model").lstrip("/")
        elif submitted and Path(submitted).is_dir():
            code_dir = Path(submitted)
        elif (model_dir / "code").is_dir():
            code_dir = model_dir / "code"
        return model_dir, code_dir, environment

    def _fetch_archive(self, uri: str, destination: Path) -> None:
        data = self._get_object(uri)
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
                archive.extractall(destination, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise EndpointFailure(f"The model data at {uri} is not a tar.gz archive: {exc}") from None

    def _fetch_prefix(self, uri: str, destination: Path) -> None:
        bucket, prefix = split_s3_uri(uri)
        s3 = self.cloud.clients("s3")
        found = False
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    relative = item["Key"][len(prefix) :].lstrip("/")
                    if not relative or relative.endswith("/"):
                        continue
                    target = (destination / relative).resolve()
                    if not target.is_relative_to(destination.resolve()):
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                    found = True
        except s3.exceptions.NoSuchBucket:
            found = False
        if not found:
            raise EndpointFailure(f"Could not find model data at {uri}.")

    def _get_object(self, uri: str) -> bytes:
        try:
            bucket, key = split_s3_uri(uri)
        except ValueError:
            raise EndpointFailure(f"Could not find model data at {uri}: the local cloud reads s3:// URIs.") from None
        s3 = self.cloud.clients("s3")
        try:
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
            raise EndpointFailure(f"Could not find model data at {uri}.") from None
        return body

    def _environment(
        self, endpoint: str, variant: VariantSpec, model_dir: Path, code_dir: Path | None, environment: dict[str, str]
    ) -> dict[str, str]:
        env = host_environment()
        env.update(self.cloud.environment())  # the model's own SDK calls reach the local cloud
        env.update(environment)
        env.update(
            {
                "SM_MODEL_DIR": str(model_dir),
                "SAGEMAKER_BASE_DIR": str(model_dir.parent),  # stands in for /opt/ml: model/ (and code/) below it
                "SAGEMAKER_SUBMIT_DIRECTORY": str(code_dir) if code_dir else "",
                "SAGEMAKER_REGION": self.cloud.region,
                "SAGEMAKER_ENDPOINT_NAME": endpoint,
                "SAGEMAKER_VARIANT_NAME": variant.name,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(gpu_environment(variant.instance_type, local_gpu_count()))
        return env

    # ---- status, events, publication -------------------------------------------------------------------------
    def _set_status(self, endpoint: _Endpoint, status: str) -> None:
        from moto.core.utils import utcnow

        fake = endpoint.fake
        fake.endpoint_status = status
        fake.last_modified_time = utcnow()
        self._emit(STATE_CHANGE, endpoint_detail(fake), fake.arn)

    def _stage(
        self, endpoint: _Endpoint, spec: ConfigSpec, started: datetime, share: float, status: str, message: str
    ) -> None:
        """PendingDeploymentSummary on DescribeEndpoint, and a "SageMaker Endpoint Deployment State Change"."""
        now = datetime.now(UTC)
        summary = {
            "EndpointConfigName": spec.name,
            "StartTime": started,
            "ProductionVariants": [
                {
                    "VariantName": variant.name,
                    "CurrentWeight": variant.weight * share,
                    "DesiredWeight": variant.weight,
                    "CurrentInstanceCount": variant.instance_count,
                    "DesiredInstanceCount": variant.instance_count,
                    "VariantStatus": [{"Status": status, "StatusMessage": message, "StartTime": now}],
                }
                for variant in spec.variants
            ],
        }
        endpoint.fake.pending_deployment_summary = summary
        detail = {**endpoint_detail(endpoint.fake), "PendingDeploymentSummary": epoch_millis(summary)}
        self._emit(DEPLOYMENT_STATE_CHANGE, detail, endpoint.fake.arn)

    def _emit(self, detail_type: str, detail: dict[str, Any], arn: str) -> None:
        try:
            self.cloud.router.put_event("aws.sagemaker", detail_type, detail, resources=[arn])
        except Exception:
            log.exception("%s for %s could not be emitted", detail_type, arn)

    def _draw(self) -> float:
        with self._random_lock:
            return self._random.random()

    def _log_dir(self, name: str) -> Path:
        """Where a variant's log goes: the endpoint's CloudWatch log group /aws/sagemaker/Endpoints/<name> on AWS."""
        return self.cloud.work_dir / "logs" / "sagemaker" / "Endpoints" / name

    def _log_group_arn(self, name: str) -> str:
        return f"arn:aws:logs:{self.cloud.region}:{self.cloud.account_id}:log-group:/aws/sagemaker/Endpoints/{name}"

    def _alarm_evaluator(self) -> AlarmEvaluator:
        if self._alarms is None:
            self._alarms = AlarmEvaluator(self.cloud.clients("cloudwatch"))
        return self._alarms

    def _ensure_flusher(self) -> None:
        with self._lock:
            if self._flusher is None and not self._closed:
                self._flusher = threading.Thread(target=self._flush_loop, name="sagemaker-endpoints-flush", daemon=True)
                self._flusher.start()

    def _flush_loop(self) -> None:
        next_alarms = 0.0
        while not self._stop_flusher.wait(self.flush_interval_s):
            try:
                self._publish(capture_age_s=self.capture_flush_s)
                if time.monotonic() >= next_alarms and self._endpoints:
                    # the alarms on the metrics the endpoints publish follow them, as CloudWatch's would
                    self._alarm_evaluator().evaluate(namespaces=[NAMESPACE])
                    next_alarms = time.monotonic() + max(self.alarm_interval_s, 1.0)
            except Exception:
                log.exception("publishing endpoint metrics and captures failed")

    def _publish(self, capture_age_s: float | None) -> None:
        self._publish_metrics()
        files = self._captures.take(capture_age_s, self.capture_max_records)
        if files:
            s3 = self.cloud.clients("s3")
            for bucket, key, body in files:
                try:
                    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl")
                except Exception:
                    log.exception("capture file s3://%s/%s could not be written", bucket, key)

    def _publish_metrics(self) -> None:
        with self._publish_lock:  # one writer at a time, so that baking never reads before a flush lands
            data = self._metrics.drain()
            if not data:
                return
            cloudwatch = self.cloud.clients("cloudwatch")
            for start in range(0, len(data), 500):
                cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 500])


# ---- reading moto's records -----------------------------------------------------------------------------------
def read_config(backend: Any, config_name: str) -> ConfigSpec:
    """An endpoint config and its models as they are now (a later change to them does not affect this fleet)."""
    config = backend.endpoint_configs[config_name]
    variants = []
    for raw in config.production_variants:
        problem: str | None = None
        container: dict[str, Any] = {}
        model_name = str(raw.get("ModelName") or "")
        try:
            model = backend.describe_model(model_name)
        except Exception as exc:
            problem = f"Production variant {raw.get('VariantName')}: {getattr(exc, 'message', None) or exc}"
        else:
            containers = model.containers or []
            if model.primary_container:
                container = dict(model.primary_container)
            elif len(containers) == 1:
                container = dict(containers[0])
            elif containers:
                problem = f"Model {model_name}: inference pipelines (several Containers) are not supported locally."
            if container.get("Mode") == "MultiModel":
                problem = f"Model {model_name}: multi-model endpoints (Mode MultiModel) are not supported locally."
        if not model_name:
            problem = f"Production variant {raw.get('VariantName')}: variants without a ModelName are not supported."
        variants.append(
            VariantSpec(
                name=str(raw["VariantName"]),
                model_name=model_name,
                weight=float(raw.get("InitialVariantWeight", 1.0)),
                instance_type=raw.get("InstanceType"),
                instance_count=int(raw.get("InitialInstanceCount") or 1),
                container=container,
                raw=dict(raw),
                problem=problem,
            )
        )
    return ConfigSpec(config_name, variants, dict(config.data_capture_config or {}) or None)


def _set_variants(fake: Any, spec: ConfigSpec) -> None:
    variants = fake._process_production_variants([variant.raw for variant in spec.variants])
    for summary, variant in zip(variants, spec.variants, strict=True):
        image = variant.container.get("Image")
        if image:
            summary["DeployedImages"] = [{"SpecifiedImage": image, "ResolvedImage": image}]
    fake.production_variants = variants


def rollback_alarms(deployment: Mapping[str, Any] | None) -> list[str]:
    alarms = ((deployment or {}).get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    return [str(alarm["AlarmName"]) for alarm in alarms if alarm.get("AlarmName")]


def _missing_alarms(account_id: str, region: str, names: list[str]) -> list[str]:
    if not names:
        return []
    from moto.cloudwatch.models import cloudwatch_backends

    known = {alarm.name for alarm in cloudwatch_backends[account_id][region].describe_alarms()}
    return [name for name in names if name not in known]


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def install(endpoints_for: Callable[[], SageMakerEndpoints | None]) -> None:
    """Hook moto's SageMaker endpoint APIs and sagemaker-runtime InvokeEndpoint to the active endpoints."""
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    if getattr(SageMakerModelBackend.create_endpoint, "_cd4ml_hook", False):
        return
    original_create = SageMakerModelBackend.create_endpoint
    original_delete = SageMakerModelBackend.delete_endpoint
    original_invoke = SageMakerRuntimeResponse.invoke_endpoint

    @functools.wraps(original_create)
    def create_endpoint(self: Any, endpoint_name: str, endpoint_config_name: str, tags: Any) -> Any:
        endpoints = endpoints_for()
        if endpoints is None:
            return original_create(self, endpoint_name, endpoint_config_name, tags)
        if endpoint_name in self.endpoints:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
        fake = original_create(self, endpoint_name, endpoint_config_name, tags)
        endpoints.on_created(self, fake)
        return fake

    @functools.wraps(original_delete)
    def delete_endpoint(self: Any, endpoint_name: str) -> None:
        fake = self.endpoints.get(endpoint_name)
        original_delete(self, endpoint_name)
        endpoints = endpoints_for()
        if endpoints is not None and fake is not None:
            endpoints.on_deleted(fake)

    def update_endpoint(self: Any) -> Any:
        """moto 5.2.5 has no UpdateEndpoint; the local cloud runs it as a blue/green deployment."""
        from moto.core.responses import ActionResult

        endpoints = endpoints_for()
        if endpoints is None:
            raise NotImplementedError("The update_endpoint action has not been implemented")
        arn = endpoints.on_update(
            self.sagemaker_backend,
            self._get_param("EndpointName"),
            self._get_param("EndpointConfigName"),
            self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": arn})

    @functools.wraps(original_invoke)
    def invoke_endpoint(self: Any) -> Any:
        endpoints = endpoints_for()
        if endpoints is None:
            if isinstance(self.body, bytes):  # moto's canned answer wants text
                self.body = self.body.decode("utf-8", "replace")
            return original_invoke(self)
        name = unquote(self.path.split("/")[2])
        body = self.raw_body if isinstance(self.raw_body, bytes) else str(self.raw_body or "").encode("utf-8")
        try:
            result = endpoints.invoke(
                name,
                body,
                content_type=self.headers.get("Content-Type") or "application/octet-stream",
                accept=self.headers.get("Accept"),
                custom_attributes=self.headers.get(CUSTOM_ATTRIBUTES_HEADER),
                target_variant=self.headers.get("X-Amzn-SageMaker-Target-Variant"),
                inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"),
            )
        except InvokeError as error:
            # moto takes the status from the "status" header, not from the tuple
            headers = {"status": str(error.status), "x-amzn-ErrorType": error.code, "Content-Type": "application/json"}
            return error.status, headers, json.dumps(error.body())
        headers = {"Content-Type": result.content_type, "x-Amzn-Invoked-Production-Variant": result.variant}
        if result.custom_attributes:
            headers[CUSTOM_ATTRIBUTES_HEADER] = result.custom_attributes
        return 200, headers, result.body

    create_endpoint._cd4ml_hook = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_endpoint = create_endpoint  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = delete_endpoint  # type: ignore[method-assign]
    SageMakerResponse.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    # binary payloads (images, protobuf) would not survive moto decoding the body as UTF-8
    SageMakerRuntimeResponse.use_raw_body = True
