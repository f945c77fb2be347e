"""What the endpoints publish: invocation metrics to the local CloudWatch (namespace AWS/SageMaker), captured data
to S3, on a background thread; and the alarms on those metrics, evaluated as CloudWatch would."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from ...cloudwatch_alarms import AlarmEvaluator
from ...context import ServiceContext
from .capture import CaptureBuffer

log = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"


class MetricBuffer:
    """Invocation metrics aggregated until the next flush (StatisticValues), as AWS publishes them: per endpoint and
    variant, and per endpoint, variant and endpoint config (each fleet of a blue/green update under its own config
    name, which is what an alarm on the new fleet watches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (endpoint, variant, config or "", metric) -> n, sum, min, max
        self._stats: dict[tuple[str, str, str, str], list[float]] = {}

    def _add(self, key: tuple[str, str, str, str], value: float) -> None:
        stat = self._stats.get(key)
        if stat is None:
            self._stats[key] = [1.0, value, value, value]
        else:
            stat[0] += 1
            stat[1] += value
            stat[2] = min(stat[2], value)
            stat[3] = max(stat[3], value)

    def record(
        self, endpoint: str, variant: str, status: int, model_us: float | None, overhead_us: float, config: str = ""
    ) -> None:
        values = {
            "Invocations": 1.0,
            "InvocationsPerInstance": 1.0,
            "Invocation4XXErrors": 1.0 if 400 <= status < 500 else 0.0,
            "Invocation5XXErrors": 1.0 if status >= 500 else 0.0,
            "OverheadLatency": overhead_us,
        }
        if model_us is not None:
            values["ModelLatency"] = model_us
        with self._lock:
            for fleet in {"", config}:
                for metric, value in values.items():
                    self._add((endpoint, variant, fleet, metric), value)

    def drain(self) -> list[dict[str, Any]]:
        with self._lock:
            stats, self._stats = self._stats, {}
        return [
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
                + ([{"Name": "EndpointConfigName", "Value": config}] if config else []),
                "StatisticValues": {"SampleCount": n, "Sum": total, "Minimum": low, "Maximum": high},
                "Unit": "Microseconds" if metric.endswith("Latency") else "None",
            }
            for (endpoint, variant, config, metric), (n, total, low, high) in stats.items()
        ]


class Publisher:
    """Flushes metrics and captures every `flush_interval_s`; capture files once `capture_flush_s` old or
    `capture_max_records` long; alarms of the namespace every `alarm_interval_s` (at least 1 s)."""

    def __init__(self, ctx: ServiceContext, has_endpoints: Callable[[], bool]) -> None:
        self.ctx = ctx
        self.has_endpoints = has_endpoints
        self.flush_interval_s = 0.5
        self.capture_flush_s = 1.0
        self.capture_max_records = 1000
        self.alarm_interval_s = 0.25
        self.metrics = MetricBuffer()
        self.captures = CaptureBuffer()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._publish_lock = threading.Lock()
        self._alarms: AlarmEvaluator | None = None

    def close(self) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(10.0)

    def alarm_evaluator(self) -> AlarmEvaluator:
        if self._alarms is None:
            self._alarms = AlarmEvaluator(self.ctx.clients("cloudwatch"))
        return self._alarms

    def ensure_flusher(self) -> None:
        with self._lock:
            if self._flusher is None and not self._stop.is_set():
                self._flusher = threading.Thread(target=self._flush_loop, name="sagemaker-endpoints-flush", daemon=True)
                self._flusher.start()

    def _flush_loop(self) -> None:
        next_alarms = 0.0
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.publish(capture_age_s=self.capture_flush_s)
                if time.monotonic() >= next_alarms and self.has_endpoints():
                    # the alarms on the metrics the endpoints publish follow them, as CloudWatch's would
                    self.alarm_evaluator().evaluate(namespaces=[NAMESPACE])
                    next_alarms = time.monotonic() + max(self.alarm_interval_s, 1.0)
            except Exception:
                log.exception("publishing endpoint metrics and captures failed")

    def publish(self, capture_age_s: float | None) -> None:
        self.publish_metrics()
        files = self.captures.take(capture_age_s, self.capture_max_records)
        if files:
            s3 = self.ctx.clients("s3")
            for bucket, key, body in files:
                try:
                    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl")
                except Exception:
                    log.exception("capture file s3://%s/%s could not be written", bucket, key)

    def publish_metrics(self) -> None:
        with self._publish_lock:  # one writer at a time, so that baking never reads before a flush lands
            data = self.metrics.drain()
            if not data:
                return
            cloudwatch = self.ctx.clients("cloudwatch")
            for start in range(0, len(data), 500):
                cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data[start : start + 500])
