"""What a CloudWatch alarm does when its state changes, on the local cloud: moto records the new state and nothing
else. Here, as on AWS, every change (an evaluation's, or a person's `aws cloudwatch set-alarm-state`):
- puts a `CloudWatch Alarm State Change` event from `aws.cloudwatch` on the default bus (the shape of
  events/cloudwatch_alarm_state_change.json), which rules on the alarm's ARN receive;
- when the alarm's actions are enabled, publishes AWS's alarm notification (the JSON message and the
  `ALARM: "<name>" in <region name>` subject) to each SNS topic among the new state's actions (AlarmActions,
  OKActions, InsufficientDataActions). Other actions (Auto Scaling policies, EC2, Systems Manager) are not carried
  out: they are logged once per alarm.

And the alarms are evaluated every `Settings.alarm_evaluation_interval_s` (AWS: every minute), each as
cloudwatch_alarms.py evaluates one, so an alarm on a stack's own metrics (EMF, emf.py) goes into ALARM by itself.
The side effects run on a thread of their own, off the SetAlarmState call.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .cloudwatch_alarms import ALARM, INSUFFICIENT_DATA, OK, AlarmEvaluator
from .context import ActiveSlot, ServiceContext

log = logging.getLogger(__name__)

DETAIL_TYPE = "CloudWatch Alarm State Change"
SOURCE = "aws.cloudwatch"
_ACTIONS_OF = {ALARM: "alarm_actions", OK: "ok_actions", INSUFFICIENT_DATA: "insufficient_data_actions"}


@dataclass(frozen=True)
class StateChange:
    """An alarm's change, as the alarm stood right after it (moto's Alarm, copied off its thread)."""

    alarm: dict[str, Any]
    previous: dict[str, Any]
    state: dict[str, Any]


def _stamp(moment: datetime) -> str:
    """CloudWatch's timestamps in its events and messages: `2026-12-02T11:04:40.989+0000`."""
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _state(value: str, reason: str, reason_data: str, when: datetime) -> dict[str, Any]:
    state = {"value": value, "reason": reason, "timestamp": _stamp(when)}
    if reason_data and reason_data != "{}":
        state["reasonData"] = reason_data
    return state


def _snapshot(alarm: Any) -> dict[str, Any]:
    return {
        "name": alarm.name,
        "arn": alarm.alarm_arn,
        "region": alarm.region_name,
        "description": alarm.description,
        "namespace": alarm.namespace,
        "metric_name": alarm.metric_name,
        "dimensions": {d.name: d.value for d in alarm.dimensions},
        "period": alarm.period,
        "statistic": alarm.statistic,
        "evaluation_periods": alarm.evaluation_periods,
        "datapoints_to_alarm": alarm.datapoints_to_alarm,
        "comparison_operator": alarm.comparison_operator,
        "threshold": alarm.threshold,
        "treat_missing_data": alarm.treat_missing_data,
        "unit": alarm.unit,
        "configured_at": alarm.configuration_updated_timestamp,
        "actions_enabled": alarm.actions_enabled,
        "alarm_actions": list(alarm.alarm_actions or []),
        "ok_actions": list(alarm.ok_actions or []),
        "insufficient_data_actions": list(alarm.insufficient_data_actions or []),
        "has_metrics": bool(alarm.metric_data_queries),
    }


def event_detail(change: StateChange) -> dict[str, Any]:
    """The `detail` of the state-change event, as CloudWatch writes it for a single-metric alarm."""
    alarm = change.alarm
    configuration: dict[str, Any] = {"description": alarm["description"] or ""}
    if not alarm["has_metrics"]:
        configuration["metrics"] = [
            {
                "id": alarm["arn"].rsplit(":", 1)[-1],
                "metricStat": {
                    "metric": {
                        "dimensions": alarm["dimensions"],
                        "name": alarm["metric_name"],
                        "namespace": alarm["namespace"],
                    },
                    "period": alarm["period"],
                    "stat": alarm["statistic"],
                },
                "returnData": True,
            }
        ]
    return {
        "alarmName": alarm["name"],
        "configuration": configuration,
        "previousState": change.previous,
        "state": change.state,
    }


@functools.cache
def region_name(region: str) -> str:
    """`US East (N. Virginia)` for us-east-1: the name CloudWatch's notifications give a region."""
    import botocore.session

    for partition in botocore.session.get_session().get_data("endpoints")["partitions"]:
        described = partition.get("regions", {}).get(region, {}).get("description")
        if described:
            return str(described)
    return region


def notification(change: StateChange, account_id: str) -> tuple[str, str]:
    """(subject, message) of the alarm notification CloudWatch publishes to an SNS action."""
    alarm, new, old = change.alarm, change.state, change.previous
    where = region_name(alarm["region"])
    message = {
        "AlarmName": alarm["name"],
        "AlarmDescription": alarm["description"],
        "AWSAccountId": account_id,
        "AlarmConfigurationUpdatedTimestamp": _stamp(alarm["configured_at"]),
        "NewStateValue": new["value"],
        "NewStateReason": new["reason"],
        "StateChangeTime": new["timestamp"],
        "Region": where,
        "AlarmArn": alarm["arn"],
        "OldStateValue": old["value"],
        "OKActions": alarm["ok_actions"],
        "AlarmActions": alarm["alarm_actions"],
        "InsufficientDataActions": alarm["insufficient_data_actions"],
        "Trigger": {
            "MetricName": alarm["metric_name"],
            "Namespace": alarm["namespace"],
            "StatisticType": "Statistic",
            "Statistic": str(alarm["statistic"] or "").upper(),
            "Unit": alarm["unit"],
            "Dimensions": [{"value": v, "name": k} for k, v in alarm["dimensions"].items()],
            "Period": alarm["period"],
            "EvaluationPeriods": alarm["evaluation_periods"],
            "DatapointsToAlarm": alarm["datapoints_to_alarm"],
            "ComparisonOperator": alarm["comparison_operator"],
            "Threshold": alarm["threshold"],
            "TreatMissingData": alarm["treat_missing_data"] or "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }
    subject = f'{new["value"]}: "{alarm["name"]}" in {where}'
    return subject[:100], json.dumps(message)


ACTIVE_ALARM_ACTIONS: ActiveSlot[AlarmActions] = ActiveSlot()


class AlarmActions:
    """The local cloud's service: alarm state changes become events and notifications; alarms are evaluated."""

    def __init__(self, ctx: ServiceContext, interval_s: float) -> None:
        self.ctx = ctx
        self.interval_s = interval_s
        self.evaluator = AlarmEvaluator(ctx.clients("cloudwatch"))
        self._changes: queue.Queue[StateChange | None] = queue.Queue()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._warned: set[tuple[str, str]] = set()
        self._idle = threading.Condition()
        self._pending = 0

    def install(self) -> None:
        _install_hook()
        ACTIVE_ALARM_ACTIONS.hold(self)
        for target, name in ((self._carry_out, "alarm-actions"), (self._evaluate_loop, "alarm-evaluation")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        ACTIVE_ALARM_ACTIONS.release(self)
        self._stop.set()
        self._changes.put(None)
        for thread in self._threads:
            thread.join(10.0)

    def changed(self, change: StateChange) -> None:
        with self._idle:
            self._pending += 1
        self._changes.put(change)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every change so far has had its event and notifications."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _evaluate_loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.evaluator.evaluate()
            except Exception:
                log.exception("evaluating the CloudWatch alarms failed")

    def _carry_out(self) -> None:
        while (change := self._changes.get()) is not None:
            try:
                self._emit(change)
                self._notify(change)
            except Exception:
                log.exception("the state change of alarm %s was not carried out", change.alarm["name"])
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _emit(self, change: StateChange) -> None:
        self.ctx.emit(SOURCE, DETAIL_TYPE, event_detail(change), resources=[change.alarm["arn"]])

    def _notify(self, change: StateChange) -> None:
        alarm = change.alarm
        if not alarm["actions_enabled"]:
            return
        actions = alarm[_ACTIONS_OF[change.state["value"]]]
        topics = [a for a in actions if a.startswith("arn:") and a.split(":")[2] == "sns"]
        for action in sorted(set(actions) - set(topics)):
            key = (alarm["name"], action)
            if key not in self._warned:
                self._warned.add(key)
                log.warning("alarm %s: action %s is not carried out on the local cloud", alarm["name"], action)
        if not topics:
            return
        subject, message = notification(change, self.ctx.account_id)
        sns = self.ctx.clients("sns")
        for topic in topics:
            try:
                sns.publish(TopicArn=topic, Subject=subject, Message=message)
            except Exception as problem:  # a deleted topic: CloudWatch records a failed action and goes on
                log.warning("alarm %s could not notify %s: %s", alarm["name"], topic, problem)


@functools.cache
def _install_hook() -> None:
    """After moto records an alarm's new state, hand a changed one to the running service (once per process)."""
    from moto.cloudwatch.models import Alarm

    original = Alarm.update_state

    @functools.wraps(original)
    def update_state(self: Any, reason: str, reason_data: str, state_value: str) -> None:
        before = (self.state_value, self.state_reason, self.state_reason_data, self.state_updated_timestamp)
        original(self, reason, reason_data, state_value)
        service = ACTIVE_ALARM_ACTIONS()
        if service is None or before[0] == state_value:
            return
        service.changed(
            StateChange(
                alarm=_snapshot(self),
                previous=_state(*before),
                state=_state(state_value, reason, reason_data, self.state_updated_timestamp),
            )
        )

    Alarm.update_state = update_state  # type: ignore[method-assign]
