"""CloudWatch's embedded metric format on the local cloud: a log event that is an EMF document becomes metrics, as
CloudWatch Logs extracts them from any log group on AWS (what aws-lambda-powertools' Metrics and every EMF library
print). moto stores the lines and nothing more, so `aws cloudwatch get-metric-statistics --namespace cd4ml` answered
nothing locally, and no alarm on the stack's own metrics could ever see a datapoint.

The specification (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a JSON object whose `_aws` has `Timestamp` (epoch milliseconds) and `CloudWatchMetrics`, a list of directives, each
with a `Namespace`, `Dimensions` (a list of dimension sets, each a list of member names) and `Metrics` (`Name`, an
optional `Unit`). Each metric's value is the root member of its name (a number, or a list of up to 100 numbers);
each dimension's value the root member of its name (a string). One datum per metric per dimension set; an empty
dimension set, or none, is a metric without dimensions. A document that breaks the specification is a plain log
line, as on AWS (CloudWatch rejects the metrics, keeps the event): skipped, warned about once per log group.

Extraction runs off the PutLogEvents call, on a thread of its own, through the public PutMetricData of the local
endpoint, so the metrics are validated as AWS would validate them.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .context import ActiveSlot

log = logging.getLogger(__name__)

MAX_VALUES = 100  # values of one metric in one document
MAX_DIMENSIONS = 30  # members of one dimension set
PUT_BATCH = 1000  # PutMetricData's MetricData items per call


class EmfError(ValueError):
    """A document that claims to be EMF (it has `_aws`) and breaks the specification."""


def is_candidate(message: str) -> bool:
    """Cheap test before parsing: only a JSON object mentioning `_aws` can be an EMF document."""
    return message.startswith("{") and '"_aws"' in message


def metric_data(document: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """PutMetricData items by namespace for one EMF document; EmfError naming what breaks the specification."""
    meta = document.get("_aws")
    if not isinstance(meta, Mapping):
        raise EmfError("_aws is not an object")
    timestamp = meta.get("Timestamp")
    if not isinstance(timestamp, int | float) or isinstance(timestamp, bool):
        raise EmfError("_aws.Timestamp is not a number of epoch milliseconds")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise EmfError("_aws.CloudWatchMetrics is not a list")
    when = datetime.fromtimestamp(timestamp / 1000, UTC)
    by_namespace: dict[str, list[dict[str, Any]]] = {}
    for directive in directives:
        if not isinstance(directive, Mapping):
            raise EmfError("a CloudWatchMetrics directive is not an object")
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not namespace:
            raise EmfError("a directive has no Namespace")
        dimension_sets = _dimension_sets(document, directive.get("Dimensions"))
        for metric in directive.get("Metrics") or []:
            name = metric.get("Name") if isinstance(metric, Mapping) else None
            if not isinstance(name, str) or not name:
                raise EmfError(f"a metric of {namespace} has no Name")
            values = _values(document, name)
            if not values:
                continue  # a declared metric without a value at the root: nothing to record
            for dimensions in dimension_sets:
                item: dict[str, Any] = {"MetricName": name, "Timestamp": when, "Values": values}
                if dimensions:
                    item["Dimensions"] = dimensions
                if isinstance(metric.get("Unit"), str) and metric["Unit"]:
                    item["Unit"] = metric["Unit"]
                by_namespace.setdefault(namespace, []).append(item)
    return by_namespace


def _dimension_sets(document: Mapping[str, Any], sets: Any) -> list[list[dict[str, str]]]:
    if sets is None:
        return [[]]
    if not isinstance(sets, list):
        raise EmfError("Dimensions is not a list of dimension sets")
    resolved: list[list[dict[str, str]]] = []
    for members in sets:
        if not isinstance(members, list) or len(members) > MAX_DIMENSIONS:
            raise EmfError(f"a dimension set is not a list of at most {MAX_DIMENSIONS} names")
        dimensions = []
        for member in members:
            value = document.get(member) if isinstance(member, str) else None
            if not isinstance(value, str) or not value:
                raise EmfError(f"dimension {member!r} has no string value at the document's root")
            dimensions.append({"Name": member, "Value": value})
        resolved.append(dimensions)
    return resolved or [[]]


def _values(document: Mapping[str, Any], name: str) -> list[float]:
    raw = document.get(name)
    values = raw if isinstance(raw, list) else [] if raw is None else [raw]
    if len(values) > MAX_VALUES:
        raise EmfError(f"metric {name} has {len(values)} values; a document may give at most {MAX_VALUES}")
    if any(not isinstance(v, int | float) or isinstance(v, bool) for v in values):
        raise EmfError(f"metric {name} has a value that is not a number: {raw!r}")
    return [float(v) for v in values]


ACTIVE_EXTRACTOR: ActiveSlot[EmfExtractor] = ActiveSlot()


class EmfExtractor:
    """The local cloud's service: every event PutLogEvents stores is looked at, the EMF ones become metrics."""

    def __init__(self, cloudwatch: Callable[[], Any]) -> None:
        self._cloudwatch = cloudwatch
        self._queue: queue.Queue[tuple[str, list[str]] | None] = queue.Queue()
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._pending = 0

    def install(self) -> None:
        _install_hook()
        self._thread = threading.Thread(target=self._loop, name="emf-metrics", daemon=True)
        self._thread.start()
        ACTIVE_EXTRACTOR.hold(self)

    def close(self) -> None:
        ACTIVE_EXTRACTOR.release(self)
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10.0)

    def submit(self, group: str, messages: Iterable[str]) -> None:
        candidates = [m for m in messages if is_candidate(m)]
        if candidates:
            with self._idle:
                self._pending += 1
            self._queue.put((group, candidates))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until what was submitted is in CloudWatch (tests read the metrics right after an invocation)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            group, messages = item
            try:
                self._extract(group, messages)
            except Exception:
                log.exception("the EMF metrics of log group %s were not recorded", group)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _extract(self, group: str, messages: list[str]) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for message in messages:
            try:
                document = json.loads(message)
                if not isinstance(document, Mapping) or "_aws" not in document:
                    continue
                for namespace, items in metric_data(document).items():
                    by_namespace.setdefault(namespace, []).extend(items)
            except (ValueError, EmfError) as problem:
                if group not in self._warned:  # once per group: one per line would drown the log
                    self._warned.add(group)
                    log.warning(
                        "log group %s has an event that is not valid EMF, kept as a log line: %s", group, problem
                    )
        cloudwatch = self._cloudwatch()
        for namespace, items in by_namespace.items():
            for start in range(0, len(items), PUT_BATCH):
                cloudwatch.put_metric_data(Namespace=namespace, MetricData=items[start : start + PUT_BATCH])


@functools.cache
def _install_hook() -> None:
    """After moto's PutLogEvents, hand the stored events to the running extractor (once per process)."""
    from moto.logs.models import LogsBackend

    original = LogsBackend.put_log_events

    @functools.wraps(original)
    def put_log_events(self: Any, log_group_name: str, log_stream_name: str, log_events: list[dict[str, Any]]) -> Any:
        answer = original(self, log_group_name, log_stream_name, log_events)
        extractor = ACTIVE_EXTRACTOR()
        if extractor is not None:
            extractor.submit(log_group_name, (str(event.get("message", "")) for event in log_events))
        return answer

    LogsBackend.put_log_events = put_log_events  # type: ignore[method-assign]
