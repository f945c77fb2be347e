"""What a function prints in CloudWatch's embedded metric format becomes metrics on the local cloud, as CloudWatch
Logs extracts them on AWS: `get-metric-statistics` answers them, by their dimensions, and a line that only looks like
EMF stays a log line without stopping the others."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

STACK = Path(__file__).parent / "stacks" / "lifetime" / "template.yaml"


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud.deployed(STACK) as cloud:
        yield cloud


def emf(timestamp_ms: int, **members: Any) -> dict[str, Any]:
    """What aws-lambda-powertools' Metrics prints for a function of service `checkout`."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": "cd4ml-test",
                    "Dimensions": [["service"]],
                    "Metrics": [{"Name": "Decisions", "Unit": "Count"}, {"Name": "LatencyMs", "Unit": "Milliseconds"}],
                }
            ],
        },
        "service": "checkout",
        **members,
    }


def statistics(cloud: LocalCloud, name: str, service: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The metric's datapoints of the last ten minutes, waited for: logs and their metrics arrive in the background."""
    cloudwatch, now = cloud.client("cloudwatch"), datetime.now(UTC)
    deadline = time.monotonic() + timeout
    while True:
        points: list[dict[str, Any]] = cloudwatch.get_metric_statistics(
            Namespace="cd4ml-test",
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": service}],
            StartTime=now - timedelta(minutes=10),
            EndTime=now + timedelta(minutes=1),
            Period=3600,
            Statistics=["Sum", "SampleCount", "Maximum"],
        )["Datapoints"]
        if points or time.monotonic() > deadline:
            return points
        time.sleep(0.1)


def test_a_function_s_emf_lines_are_metrics_by_their_dimensions(cloud: LocalCloud) -> None:
    now_ms = int(time.time() * 1000)
    documents = [
        emf(now_ms, Decisions=1, LatencyMs=[12.5, 30.0]),
        emf(now_ms + 1, Decisions=2, LatencyMs=7.5),
        '{"_aws": {"Timestamp": "yesterday"}, "Decisions": 100}',  # EMF in looks only: a log line
        emf(now_ms + 2, Decisions=3),
    ]
    response = cloud.client("lambda").invoke(
        FunctionName=cloud.physical_id("SpawnerFunction"), Payload=json.dumps({"emf": documents}).encode()
    )
    assert "FunctionError" not in response

    [decisions] = statistics(cloud, "Decisions", "checkout")
    assert (decisions["Sum"], decisions["SampleCount"]) == (6.0, 3.0)  # the malformed line counted nothing
    [latency] = statistics(cloud, "LatencyMs", "checkout")
    assert (latency["Sum"], latency["SampleCount"], latency["Maximum"]) == (50.0, 3.0, 30.0)
    assert statistics(cloud, "Decisions", "another-service", timeout=0.5) == []
    # and the lines are still in the function's log, as on AWS
    group = f"/aws/lambda/{cloud.physical_id('SpawnerFunction')}"
    logged = cloud.client("logs").filter_log_events(logGroupName=group, filterPattern='{ $.service = "checkout" }')
    assert len(logged["events"]) == 3
