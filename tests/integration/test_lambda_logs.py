"""Function logs reach CloudWatch Logs on the local cloud, where `aws logs tail /aws/lambda/<fn>` looks for them."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cd4ml.localcloud import LocalCloud

pytestmark = pytest.mark.integration

STACK = Path(__file__).parent / "stacks" / "lifetime" / "template.yaml"
STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")
REPORT = re.compile(
    r"^REPORT RequestId: (\S+)\tDuration: \d+\.\d{2} ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
    r"Max Memory Used: \d+ MB(\tInit Duration: \d+\.\d{2} ms)?$"
)


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud.deployed(STACK) as cloud:
        yield cloud


def _events(cloud: LocalCloud, group: str, pattern: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """FilterLogEvents until `count` events match (logs are shipped in the background, as they arrive on AWS)."""
    logs = cloud.client("logs")
    deadline = time.monotonic() + timeout
    while True:
        try:
            events: list[dict[str, Any]] = logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []  # the group is made with the first lines shipped
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.1)


def test_what_a_handler_prints_is_in_its_log_group_with_start_end_and_report(cloud: LocalCloud) -> None:
    function = cloud.physical_id("SpawnerFunction")
    group = f"/aws/lambda/{function}"
    response = cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps({"say": "bonjour"}).encode())
    assert json.loads(response["Payload"].read()) == {"said": "bonjour"}

    [printed] = _events(cloud, group, '"spawner says bonjour"', 1)
    [warned] = _events(cloud, group, '"spawner warns nothing"', 1)  # stderr too
    stream = printed["logStreamName"]
    assert STREAM_NAME.match(stream), stream
    assert warned["logStreamName"] == stream

    lines = [e["message"] for e in _events(cloud, group, "RequestId", 3) if e["logStreamName"] == stream]
    start = next(line for line in lines if line.startswith("START RequestId: "))
    request_id = start.split()[2]
    assert start == f"START RequestId: {request_id} Version: $LATEST"
    assert f"END RequestId: {request_id}" in lines
    [report] = [line for line in lines if line.startswith(f"REPORT RequestId: {request_id}")]
    assert REPORT.match(report), report
    assert "Init Duration" in report  # the environment's first invocation: a cold start

    # the template declared the group (for its retention): the runtime wrote into it rather than failing on it
    [described] = cloud.client("logs").describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 7

    # in order, as PutLogEvents requires and `aws logs tail` shows them
    everything = cloud.client("logs").get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    messages = [e["message"] for e in everything["events"]]
    assert messages.index(start) < messages.index("spawner says bonjour") < messages.index(report)


def test_a_warm_invocation_reports_to_the_same_stream_without_init_duration(cloud: LocalCloud) -> None:
    function = cloud.physical_id("SpawnerFunction")
    group = f"/aws/lambda/{function}"
    lam = cloud.client("lambda")
    lam.invoke(FunctionName=function, Payload=json.dumps({"say": "one"}).encode())
    lam.invoke(FunctionName=function, Payload=json.dumps({"say": "two"}).encode())

    [one] = _events(cloud, group, '"spawner says one"', 1)
    [two] = _events(cloud, group, '"spawner says two"', 1)
    assert one["logStreamName"] == two["logStreamName"]  # one warm environment, one stream
    reports = [e for e in _events(cloud, group, "REPORT", 3) if e["logStreamName"] == two["logStreamName"]]
    assert reports and "Init Duration" not in reports[-1]["message"]


def test_a_deleted_log_group_is_made_again_by_the_next_invocation(cloud: LocalCloud) -> None:
    function = cloud.physical_id("SpawnerFunction")
    group = f"/aws/lambda/{function}"
    cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps({"say": "before"}).encode())
    _events(cloud, group, '"spawner says before"', 1)
    cloud.client("logs").delete_log_group(logGroupName=group)

    cloud.client("lambda").invoke(FunctionName=function, Payload=json.dumps({"say": "after"}).encode())
    [after] = _events(cloud, group, '"spawner says after"', 1)
    assert STREAM_NAME.match(after["logStreamName"])
