"""The stack's QualityAlarm on the local cloud closes the loop as on AWS: a monitored PR AUC under
QualityAlarmMinPrAuc, printed as EMF, puts the alarm into ALARM by itself, and its state change starts
RequestRetrainingFunction."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cd4ml.localcloud import LocalCloud
from cd4ml.localcloud.context import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(root: Path) -> Iterator[LocalCloud]:
    with LocalCloud(settings=Settings(alarm_evaluation_interval_s=0.5)) as cloud:
        cloud.deploy(root / "template.yaml", {"Stage": "dev"}, stack_name="cd4ml-dev")
        yield cloud


def test_the_stack_s_quality_alarm_asks_for_a_retraining_on_its_own(project: LocalCloud) -> None:
    """The closed loop's alarm path, as on AWS: a monitored PR AUC under QualityAlarmMinPrAuc (what
    MonitorWindowFunction prints as EMF) puts QualityAlarm into ALARM, whose state change starts
    RequestRetrainingFunction (reason `alarm`), which records the request; with no approved version yet it is
    dropped: there is nothing to retrain from."""
    stack, group = "cd4ml-dev", "cd4ml-dev-fraud"
    document = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": "cd4ml",
                    "Dimensions": [["Endpoint", "Metric", "service"]],
                    "Metrics": [{"Name": "Quality"}],
                }
            ],
        },
        "Endpoint": f"{stack}-fraud",
        "Metric": "pr_auc",
        "service": stack,
        "Quality": 0.04,
    }
    logs = project.client("logs")
    group_name, stream = "/aws/lambda/quality-probe", "2026/12/02/[$LATEST]probe"
    logs.create_log_group(logGroupName=group_name)
    logs.create_log_stream(logGroupName=group_name, logStreamName=stream)
    logs.put_log_events(
        logGroupName=group_name,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(document)}],
    )

    s3, bucket = project.client("s3"), project.physical_id("ArtifactsBucket")
    deadline, records = time.monotonic() + 30, []
    while not records and time.monotonic() < deadline:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"retraining/{group}/requests/").get("Contents", [])
        records = [json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listed]
        time.sleep(0.3)
    [record] = records
    assert record["reason"] == "alarm" and record["started"] is False
    assert record["why"] == f"group {group} has no approved version: nothing to retrain from"
    alarm = project.client("cloudwatch").describe_alarms(AlarmNames=[project.physical_id("QualityAlarm")])
    assert alarm["MetricAlarms"][0]["StateValue"] == "ALARM"
