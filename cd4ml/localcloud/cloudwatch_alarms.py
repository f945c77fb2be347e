"""CloudWatch metric alarms evaluated on the local cloud: moto stores alarms and metrics but never evaluates them.

An alarm is evaluated as CloudWatch does: its `Statistic` over each of the last `EvaluationPeriods` periods of
`Period` seconds, compared with `Threshold` by `ComparisonOperator`; ALARM when at least `DatapointsToAlarm`
of them breach, with missing periods treated as `TreatMissingData` says. The state is written back to moto with
SetAlarmState (so DescribeAlarms shows it). Locally the periods end at the moment of evaluation instead of being
aligned to the minute, so a fresh datapoint counts at once.

Not evaluated (left in their state, logged once): metric-math alarms (`Metrics`), percentile statistics
(`ExtendedStatistic`), anomaly-detection operators, composite alarms. What a change of state does (its event, its
SNS actions) is cloudwatch_alarm_actions.py's.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger(__name__)

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
TREAT_MISSING = ("missing", "notBreaching", "breaching", "ignore")


@dataclass(frozen=True)
class AlarmEvaluation:
    """The outcome of one evaluation: the state, AWS's style of reason, and the datapoints (newest first)."""

    name: str
    state: str
    reason: str
    datapoints: tuple[float | None, ...] = field(default_factory=tuple)


def unsupported_reason(alarm: Mapping[str, Any]) -> str | None:
    """Why the local cloud cannot evaluate `alarm` (a DescribeAlarms MetricAlarm), or None when it can."""
    if alarm.get("Metrics"):
        return "metric-math alarms (Metrics) are not evaluated locally"
    if alarm.get("ExtendedStatistic"):
        return "percentile statistics (ExtendedStatistic) are not evaluated locally"
    if alarm.get("Statistic") not in STATISTICS:
        return f"statistic {alarm.get('Statistic')!r} is not one of {', '.join(STATISTICS)}"
    if alarm.get("ComparisonOperator") not in COMPARISONS:
        return f"comparison {alarm.get('ComparisonOperator')!r} (anomaly detection) is not evaluated locally"
    return None


def evaluate_alarm(
    alarm: Mapping[str, Any], datapoints: Sequence[float | None], current_state: str = INSUFFICIENT_DATA
) -> AlarmEvaluation:
    """The state `alarm` should be in, given one datapoint per evaluation period, newest first (None: missing).

    "M out of N": ALARM when at least DatapointsToAlarm (default EvaluationPeriods) datapoints breach. Missing
    periods count as breaching (`breaching`), as good (`notBreaching`), or not at all (`missing`, `ignore`); with
    no datapoint at all the alarm goes to INSUFFICIENT_DATA (`missing`) or keeps its state (`ignore`).
    """
    name = str(alarm.get("AlarmName", ""))
    periods = int(alarm["EvaluationPeriods"])
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    threshold = float(alarm["Threshold"])
    compare, phrase = COMPARISONS[alarm["ComparisonOperator"]]
    treat = alarm.get("TreatMissingData") or "missing"
    points = tuple(datapoints[:periods])
    present = [value for value in points if value is not None]
    missing = len(points) - len(present) + max(periods - len(points), 0)
    breaching = [value for value in present if compare(value, threshold)]
    counted = len(breaching) + (missing if treat == "breaching" else 0)
    shown = ", ".join(_number(value) for value in present) or "no datapoints"
    if counted >= needed:
        reason = (
            f"Threshold Crossed: {counted} out of the last {periods} datapoints [{shown}] "
            f"{'was' if counted == 1 else 'were'} {phrase} the threshold ({_number(threshold)}) "
            f"(minimum {needed} datapoint{'s' if needed != 1 else ''} for OK -> ALARM transition)."
        )
        return AlarmEvaluation(name, ALARM, reason, points)
    if not present and treat == "missing":
        reason = f"Insufficient Data: {periods} datapoint{'s were' if periods != 1 else ' was'} unknown."
        return AlarmEvaluation(name, INSUFFICIENT_DATA, reason, points)
    if not present and treat == "ignore":
        return AlarmEvaluation(
            name, current_state, "No datapoints: the state is kept (TreatMissingData: ignore).", points
        )
    reason = (
        f"Threshold Crossed: {len(present) - len(breaching)} out of the last {periods} datapoints [{shown}] "
        f"{'was' if len(present) - len(breaching) == 1 else 'were'} not {phrase} the threshold "
        f"({_number(threshold)}) (minimum {needed} datapoint{'s' if needed != 1 else ''} for ALARM -> OK transition)."
    )
    return AlarmEvaluation(name, OK, reason, points)


def _number(value: float) -> str:
    return repr(float(value))


class AlarmEvaluator:
    """Evaluates alarms against the metrics stored in the local CloudWatch and writes their state back."""

    def __init__(self, cloudwatch: Any, now: Callable[[], float] = time.time) -> None:
        self.cloudwatch = cloudwatch  # a boto3 CloudWatch client bound to the local cloud
        self.now = now
        self._warned: set[tuple[str, str]] = set()

    def evaluate(
        self, names: Iterable[str] | None = None, namespaces: Iterable[str] | None = None
    ) -> dict[str, AlarmEvaluation]:
        """Evaluate the alarms named (or all of them, or those on metrics of `namespaces`); return their outcome.

        Alarms that cannot be evaluated locally are left out of the answer and keep their state.
        """
        alarms = self._describe(list(names) if names is not None else None)
        wanted = set(namespaces) if namespaces is not None else None
        results: dict[str, AlarmEvaluation] = {}
        now = self.now()
        for alarm in alarms:
            if wanted is not None and alarm.get("Namespace") not in wanted:
                continue
            problem = unsupported_reason(alarm)
            if problem is not None:
                key = (alarm["AlarmName"], problem)
                if key not in self._warned:
                    self._warned.add(key)
                    log.warning("alarm %s is not evaluated: %s", alarm["AlarmName"], problem)
                continue
            datapoints = self.datapoints(alarm, now)
            outcome = evaluate_alarm(alarm, datapoints, alarm.get("StateValue") or INSUFFICIENT_DATA)
            results[outcome.name] = outcome
            if outcome.state != alarm.get("StateValue"):
                self._set_state(alarm, outcome, now)
        return results

    def datapoints(self, alarm: Mapping[str, Any], now: float) -> list[float | None]:
        """One value of the alarm's statistic per period, newest first; None where the period has no data."""
        period = int(alarm["Period"])
        # moto compares timestamps at whole seconds: end on the next second so that a datapoint of this second counts
        end = datetime.fromtimestamp(math.floor(now) + 1, UTC)
        values: list[float | None] = []
        for index in range(int(alarm["EvaluationPeriods"])):
            window_end = end - timedelta(seconds=period * index)
            request: dict[str, Any] = {
                "Namespace": alarm["Namespace"],
                "MetricName": alarm["MetricName"],
                "Dimensions": alarm.get("Dimensions") or [],
                "StartTime": window_end - timedelta(seconds=period),
                "EndTime": window_end,
                "Period": period,
                "Statistics": [alarm["Statistic"]],
            }
            if alarm.get("Unit"):
                request["Unit"] = alarm["Unit"]
            points = self.cloudwatch.get_metric_statistics(**request)["Datapoints"]
            values.append(_combine(alarm["Statistic"], [p[alarm["Statistic"]] for p in points]) if points else None)
        return values

    def _describe(self, names: list[str] | None) -> list[dict[str, Any]]:
        alarms: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
        if names is not None:
            if not names:
                return []
            kwargs["AlarmNames"] = names
        for page in self.cloudwatch.get_paginator("describe_alarms").paginate(**kwargs):
            alarms.extend(page.get("MetricAlarms", []))
        return alarms

    def _set_state(self, alarm: Mapping[str, Any], outcome: AlarmEvaluation, now: float) -> None:
        reason_data = {
            "version": "1.0",
            "queryDate": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
            "statistic": alarm["Statistic"],
            "period": alarm["Period"],
            "recentDatapoints": [value for value in outcome.datapoints if value is not None],
            "threshold": alarm["Threshold"],
        }
        self.cloudwatch.set_alarm_state(
            AlarmName=alarm["AlarmName"],
            StateValue=outcome.state,
            StateReason=outcome.reason[:1023],
            StateReasonData=json.dumps(reason_data),
        )
        log.info("alarm %s: %s -> %s (%s)", alarm["AlarmName"], alarm.get("StateValue"), outcome.state, outcome.reason)


def _combine(statistic: str, values: list[float]) -> float:
    """moto answers one datapoint per window; if it ever splits one, fold the parts (Average: their mean)."""
    if statistic in ("Sum", "SampleCount"):
        return float(sum(values))
    if statistic == "Minimum":
        return float(min(values))
    if statistic == "Maximum":
        return float(max(values))
    return float(sum(values) / len(values))


# ---- GetMetricStatistics by the exact dimension set ---------------------------------------------------------------
_exact = threading.local()


def install() -> None:
    """moto's GetMetricStatistics counts every datapoint whose dimensions *include* those asked for; CloudWatch
    counts only the metric with exactly those dimensions. With SageMaker's metrics published both per variant and
    per variant and endpoint config (the new fleet of a blue/green update), the per-variant statistic (and an alarm
    on it) would count each invocation twice. Installed once per process; the filter applies to the calling thread
    only, for the duration of its call."""
    from moto.cloudwatch.models import CloudWatchBackend

    if getattr(CloudWatchBackend.get_metric_statistics, "_cd4ml_hook", False):
        return
    all_metrics = CloudWatchBackend.get_all_metrics
    statistics = CloudWatchBackend.get_metric_statistics

    @functools.wraps(all_metrics)
    def get_all_metrics(self: Any) -> Any:
        metrics = all_metrics(self)
        wanted = getattr(_exact, "dimensions", None)
        if wanted is None:
            return metrics
        return [m for m in metrics if frozenset((d.name, d.value) for d in m.dimensions) == wanted]

    @functools.wraps(statistics)
    def get_metric_statistics(self: Any, *args: Any, **kwargs: Any) -> Any:
        dimensions = kwargs["dimensions"] if "dimensions" in kwargs else args[6]
        _exact.dimensions = frozenset((d["Name"], d.get("Value")) for d in dimensions or [])
        try:
            return statistics(self, *args, **kwargs)
        finally:
            _exact.dimensions = None

    get_metric_statistics._cd4ml_hook = True  # type: ignore[attr-defined]
    CloudWatchBackend.get_all_metrics = get_all_metrics  # type: ignore[method-assign]
    CloudWatchBackend.get_metric_statistics = get_metric_statistics  # type: ignore[method-assign]
