"""FilterLogEvents on the local cloud answers as CloudWatch Logs does: a JSON filter pattern selects the structured
lines it describes (moto alone answers every event), `logStreamNamePrefix` the streams that start with it (moto alone
ignores it), and a pattern that does not parse is refused instead of matching everything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from cd4ml.localcloud import cloudwatch_logs
from cd4ml.localcloud.cloudwatch_logs import FilterPatternError, json_pattern, matches

LINE = json.dumps(
    {
        "level": "ERROR",
        "message": "job failed",
        "correlation_id": "orders-2026-11-25-3cf9",
        "latency_ms": 420,
        "cold_start": False,
        "error": None,
        "jobs": [{"name": "train-0", "status": "Failed"}],
    }
)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.correlation_id = "orders-2026-11-25-3cf9" }', True),
        ('{ $.correlation_id = "orders-2026-11-26-0000" }', False),
        ('{ $.correlation_id = "orders-2026-11-25-*" }', True),
        ('{ $.correlation_id = "*-11-26-*" }', False),
        ("{ $.level = ERROR }", True),
        ('{ $.level != "ERROR" }', False),
        ('{ $.missing != "x" }', False),  # a field that is not there is not "other than x"
        ('{ $.run_id = "orders-2026-11-25-3cf9" || $.correlation_id = "orders-2026-11-25-3cf9" }', True),
        ('{ $.level = "ERROR" || $.latency_ms > 500 && $.cold_start IS TRUE }', True),  # && binds tighter
        ('{ ($.level = "INFO" || $.latency_ms > 400) && $.cold_start IS TRUE }', False),
        ("{ $.latency_ms >= 420 && $.latency_ms <= 420 && $.latency_ms != 421 }", True),
        ('{ $.latency_ms = "420" }', False),  # a number is no string
        ("{ $.error IS NULL }", True),
        ("{ $.run_id NOT EXISTS }", True),
        ("{ $.level NOT EXISTS }", False),
        ('{ $.jobs[0].status = "Failed" }', True),
        ('{ $.jobs[1].status = "Failed" }', False),
    ],
)
def test_a_json_pattern_matches_what_cloudwatch_would(pattern, expected):
    assert matches(pattern, LINE) is expected


def test_a_line_that_is_not_a_json_object_never_matches():
    assert not matches("{ $.level = ERROR }", "START RequestId: 1 Version: $LATEST")
    assert not matches("{ $.level = ERROR }", '["ERROR"]')


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ('{ $.level = "ERROR"', "ends too early"),
        ('{ level = "ERROR" }', r"expected a selector \(\$\.field\)"),
        ('{ $.level ~ "ERROR" }', "cannot read"),
        ('{ $.level > "ERROR" }', "compares numbers"),
        ("{ $.error IS EMPTY }", "IS expects TRUE, FALSE or NULL"),
        ('{ $.level = "ERROR" } trailing', "unexpected"),
    ],
)
def test_a_pattern_that_does_not_parse_is_refused_by_name(pattern, why):
    with pytest.raises(FilterPatternError, match=why):
        json_pattern(pattern)


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's CloudWatch Logs with the local cloud's hook: one function's group, two streams, lines of two runs."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    cloudwatch_logs.install()
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName="/aws/lambda/fn")
        for stream, run, at in (("2026/11/25/[$LATEST]aaa", "run-1", 1), ("2026/11/25/[$LATEST]bbb", "run-2", 2)):
            client.create_log_stream(logGroupName="/aws/lambda/fn", logStreamName=stream)
            client.put_log_events(
                logGroupName="/aws/lambda/fn",
                logStreamName=stream,
                logEvents=[
                    {"timestamp": 1_795_608_000_000 + at, "message": "START RequestId: x"},
                    {"timestamp": 1_795_608_000_010 + at, "message": json.dumps({"correlation_id": run})},
                ],
            )
        yield client


def messages(answer: dict[str, Any]) -> list[str]:
    return [event["message"] for event in answer["events"]]


def test_filter_log_events_selects_the_lines_of_one_correlation_id(logs):
    answer = logs.filter_log_events(logGroupName="/aws/lambda/fn", filterPattern='{ $.correlation_id = "run-1" }')

    assert messages(answer) == ['{"correlation_id": "run-1"}']
    assert len(logs.filter_log_events(logGroupName="/aws/lambda/fn")["events"]) == 4  # no pattern: all of them
    assert messages(logs.filter_log_events(logGroupName="/aws/lambda/fn", filterPattern="START")) == [
        "START RequestId: x",
        "START RequestId: x",
    ]  # a term pattern is still moto's


def test_filter_log_events_searches_only_the_streams_with_the_prefix(logs):
    first = logs.filter_log_events(logGroupName="/aws/lambda/fn", logStreamNamePrefix="2026/11/25/[$LATEST]a")
    none = logs.filter_log_events(logGroupName="/aws/lambda/fn", logStreamNamePrefix="2026/11/26/")

    assert {event["logStreamName"] for event in first["events"]} == {"2026/11/25/[$LATEST]aaa"}
    assert none["events"] == []


def test_a_malformed_pattern_or_both_stream_filters_are_refused_as_aws_refuses_them(logs):
    with pytest.raises(ClientError) as malformed:
        logs.filter_log_events(logGroupName="/aws/lambda/fn", filterPattern="{ $.correlation_id = }")
    with pytest.raises(ClientError) as both:
        logs.filter_log_events(logGroupName="/aws/lambda/fn", logStreamNames=["a"], logStreamNamePrefix="a")

    assert malformed.value.response["Error"]["Code"] == "InvalidParameterException"
    assert "Invalid filter pattern" in malformed.value.response["Error"]["Message"]
    assert both.value.response["Error"]["Code"] == "InvalidParameterException"
