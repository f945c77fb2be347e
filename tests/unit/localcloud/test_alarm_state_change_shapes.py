"""The state-change event and the notification of an alarm, in the shapes CloudWatch gives them: the event's detail
has the keys of events/cloudwatch_alarm_state_change.json, and the message AWS's alarm notification fields."""

import json
from datetime import UTC, datetime

from cd4ml.localcloud.cloudwatch_alarm_actions import StateChange, _stamp, event_detail, notification, region_name

ALARM = {
    "name": "cd4ml-dev-QualityAlarm-1TUVWXYZ9ABC",
    "arn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cd4ml-dev-QualityAlarm-1TUVWXYZ9ABC",
    "region": "us-east-1",
    "description": "The monitored PR AUC of the endpoint in service fell below QualityAlarmMinPrAuc.",
    "namespace": "cd4ml",
    "metric_name": "Quality",
    "dimensions": {"Endpoint": "cd4ml-dev-fraud", "Metric": "pr_auc", "service": "cd4ml-dev"},
    "period": 3600,
    "statistic": "Minimum",
    "evaluation_periods": 1,
    "datapoints_to_alarm": None,
    "comparison_operator": "LessThanThreshold",
    "threshold": 0.2,
    "treat_missing_data": "notBreaching",
    "unit": None,
    "configured_at": datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
    "actions_enabled": True,
    "alarm_actions": ["arn:aws:sns:us-east-1:123456789012:topic"],
    "ok_actions": [],
    "insufficient_data_actions": [],
    "has_metrics": False,
}
CHANGE = StateChange(
    alarm=ALARM,
    previous={"value": "OK", "reason": "Threshold Crossed: ...", "timestamp": "2026-12-02T10:04:40.987+0000"},
    state={"value": "ALARM", "reason": "Threshold Crossed: ...", "timestamp": "2026-12-02T11:04:40.989+0000"},
)


def test_the_event_detail_has_the_sample_event_s_shape(sample_event) -> None:
    sample = sample_event("cloudwatch_alarm_state_change.json")["detail"]
    detail = event_detail(CHANGE)
    assert set(detail) == set(sample)
    assert detail["configuration"]["metrics"][0]["metricStat"] == sample["configuration"]["metrics"][0]["metricStat"]
    assert set(detail["state"]) <= set(sample["state"])


def test_the_notification_is_cloudwatch_s_message_with_its_subject() -> None:
    subject, body = notification(CHANGE, "123456789012")
    assert subject == 'ALARM: "cd4ml-dev-QualityAlarm-1TUVWXYZ9ABC" in US East (N. Virginia)'
    message = json.loads(body)
    assert (message["NewStateValue"], message["OldStateValue"], message["Region"]) == (
        "ALARM",
        "OK",
        "US East (N. Virginia)",
    )
    assert message["Trigger"]["Statistic"] == "MINIMUM"
    assert message["Trigger"]["Dimensions"][0] == {"value": "cd4ml-dev-fraud", "name": "Endpoint"}
    assert message["AlarmConfigurationUpdatedTimestamp"] == "2026-12-02T09:00:00.000+0000"


def test_timestamps_and_region_names_are_cloudwatch_s() -> None:
    assert _stamp(datetime(2026, 12, 2, 11, 4, 40, 989_000)) == "2026-12-02T11:04:40.989+0000"  # naive: UTC
    assert region_name("eu-west-1") == "Europe (Ireland)"
    assert region_name("xx-nowhere-1") == "xx-nowhere-1"
