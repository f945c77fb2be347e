"""`cd4ml logs`' logic with plain values: the filter pattern it asks CloudWatch Logs for, the check of each line that
comes back (another run's line, a platform line or another job's stream never gets through, even from a service that
ignores the pattern), every source merged by time, the line's text, and --follow printing each line once until the
run ends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cd4ml import run_logs
from cd4ml.run_logs import LogLine, Target

RUN = "orders-2026-11-25-3cf9a8ac133a728a"
OTHER = "orders-2026-11-26-0b1c2d3e4f506172"
PREFIX = "cd4ml-1a2b3c4d-3cf9a8ac133a728a-"
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MS = int(T0.timestamp() * 1000)


def powertools(message: str, at_ms: int, correlation: str | None, **extra: Any) -> dict[str, Any]:
    """A CloudWatch event of a function's powertools line."""
    record = {
        "level": "INFO",
        "location": "handler:40",
        "message": message,
        "timestamp": "2026-11-25 12:00:00,000+0000",
        "service": "cd4ml-dev",
        "cold_start": False,
        "function_name": "cd4ml-dev-ValidateDatasetFunction-ABC",
        "function_request_id": "6f7e6b0e",
        **({"correlation_id": correlation} if correlation else {}),
        **extra,
    }
    return {"timestamp": at_ms, "message": json.dumps(record), "eventId": f"e{at_ms}", "logStreamName": "2026/11/25/x"}


def test_the_pattern_asks_for_the_correlation_id_or_the_run_id_key():
    assert run_logs.filter_pattern([RUN]) == f'{{ $.correlation_id = "{RUN}" || $.run_id = "{RUN}" }}'
    two = run_logs.filter_pattern(["exec-1", "20261123T120000Z--20261124T120000Z"])
    assert two.count("||") == 3 and '$.correlation_id = "20261123T120000Z--20261124T120000Z"' in two


@pytest.mark.parametrize("bad", ['a" || $.level = "INFO', "two words", "", "a{b}"])
def test_an_id_that_would_break_out_of_the_pattern_is_refused(bad):
    with pytest.raises(run_logs.LogsRefusal, match="is not a run id"):
        run_logs.filter_pattern([bad])


def test_only_the_run_s_structured_lines_are_kept_without_powertools_context():
    kept = run_logs.function_line(
        powertools("dataset validated", MS, RUN, run_id=RUN, rows=4000), "ValidateDatasetFunction", [RUN]
    )
    by_key = run_logs.function_line(
        powertools("run already exists", MS, None, run_id=RUN), "StartPipelineFunction", [RUN]
    )

    assert kept == LogLine(MS, "ValidateDatasetFunction", "INFO", "dataset validated", {"rows": 4000}, f"e{MS}")
    assert by_key is not None and by_key.message == "run already exists"
    assert run_logs.function_line(powertools("dataset validated", MS, OTHER), "ValidateDatasetFunction", [RUN]) is None
    start = {"timestamp": MS, "message": "START RequestId: 1 Version: $LATEST", "eventId": "s"}
    assert run_logs.function_line(start, "ValidateDatasetFunction", [RUN]) is None


def test_a_job_line_is_the_run_s_when_its_stream_starts_with_the_run_s_job_prefix():
    ours = {"timestamp": MS, "message": "train: 2,772 rows\n", "logStreamName": f"{PREFIX}train-0/algo-1-179"}
    theirs = {"timestamp": MS, "message": "x", "logStreamName": "cd4ml-1a2b3c4d-0b1c2d3e4f506172-train-0/algo-1-1"}

    line = run_logs.job_line(ours, [PREFIX])

    assert line is not None and (line.source, line.level, line.message) == (
        f"{PREFIX}train-0",
        "-",
        "train: 2,772 rows",
    )
    assert run_logs.job_line(theirs, [PREFIX]) is None


class LooseLogs:
    """FilterLogEvents that, like moto before the local cloud's hook, ignores the pattern and the stream prefix, in
    pages of two; a group it does not hold does not exist."""

    def __init__(self, groups: dict[str, list[dict[str, Any]]]) -> None:
        self.groups = groups
        self.requests: list[dict[str, Any]] = []

    def get_paginator(self, operation: str) -> LooseLogs:
        assert operation == "filter_log_events"
        return self

    def paginate(self, **request: Any) -> Any:
        self.requests.append(request)
        if request["logGroupName"] not in self.groups:
            raise ClientError(
                {"Error": {"Code": "ResourceNotFoundException", "Message": "no group"}}, "FilterLogEvents"
            )
        events = [e for e in self.groups[request["logGroupName"]] if e["timestamp"] >= request["startTime"]]
        for start in range(0, len(events), 2):
            yield {"events": events[start : start + 2]}


def test_every_function_s_and_job_s_lines_of_the_run_are_merged_by_time():
    logs = LooseLogs(
        {
            "/aws/lambda/cd4ml-dev-ValidateDatasetFunction-ABC": [
                {"timestamp": MS, "message": "START RequestId: 1", "eventId": "s1"},
                powertools("dataset validated", MS + 10, RUN),
                powertools("dataset validated", MS + 20, OTHER),
            ],
            "/aws/lambda/cd4ml-dev-StartJobFunction-DEF": [
                powertools("job started", MS + 30, RUN, job_name=f"{PREFIX}train-0"),
                powertools("job started", MS + 35, OTHER),
                powertools("job started", MS + 90, RUN, job_name=f"{PREFIX}evaluate-0"),
            ],
            "/aws/sagemaker/TrainingJobs": [
                {"timestamp": MS + 40, "message": "device: cpu", "logStreamName": f"{PREFIX}train-0/algo-1-1"},
                {"timestamp": MS + 41, "message": "other run", "logStreamName": "cd4ml-1a2b3c4d-0b1c-train-0/algo-1"},
            ],
        }
    )
    functions = {
        "cd4ml-dev-ValidateDatasetFunction-ABC": "ValidateDatasetFunction",
        "cd4ml-dev-StartJobFunction-DEF": "StartJobFunction",
        "cd4ml-dev-RegisterModelFunction-GHI": "RegisterModelFunction",  # never invoked: no group yet
    }
    target = Target(ids=(RUN,), start=T0 - timedelta(minutes=5), end=T0 + timedelta(hours=1), job_prefixes=(PREFIX,))

    lines = run_logs.run_lines(logs, functions, target)

    assert [(line.timestamp_ms - MS, line.source, line.message) for line in lines] == [
        (10, "ValidateDatasetFunction", "dataset validated"),
        (30, "StartJobFunction", "job started"),
        (40, f"{PREFIX}train-0", "device: cpu"),
        (90, "StartJobFunction", "job started"),
    ]
    lambda_requests = [r for r in logs.requests if r["logGroupName"].startswith("/aws/lambda/")]
    assert {r["filterPattern"] for r in lambda_requests} == {run_logs.filter_pattern([RUN])}
    assert all(r["endTime"] == int((T0 + timedelta(hours=1)).timestamp() * 1000) for r in lambda_requests)
    job_requests = [r for r in logs.requests if r["logGroupName"].startswith("/aws/sagemaker/")]
    assert {r["logStreamNamePrefix"] for r in job_requests} == {PREFIX} and len(job_requests) == 3


def test_a_line_reads_time_source_level_message_and_its_own_keys():
    line = LogLine(MS + 7, "RegisterModelFunction", "INFO", "model registered", {"version": 3})

    assert (
        run_logs.line_text(line)
        == '2026-11-25T12:00:00.007Z RegisterModelFunction INFO model registered {"version": 3}'
    )
    assert run_logs.line_text(LogLine(MS, "job-1", "-", "done", {})) == "2026-11-25T12:00:00.000Z job-1 - done"


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("45s", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
    ],
)
def test_since_reads_a_number_and_a_unit(text, span):
    assert run_logs.parse_since(text) == span


def test_since_without_a_unit_is_refused():
    with pytest.raises(run_logs.LogsRefusal, match="--since expects a number and one of s, m, h, d, w"):
        run_logs.parse_since("90")


def test_follow_prints_each_line_once_until_the_run_ended_and_looks_once_more():
    arrivals = [
        [LogLine(MS, "A", "INFO", "one", {}, "1")],
        [LogLine(MS, "A", "INFO", "one", {}, "1"), LogLine(MS + 5, "B", "INFO", "two", {}, "2")],
        [LogLine(MS + 5, "B", "INFO", "two", {}, "2")],
        [LogLine(MS + 9, "C", "INFO", "last", {}, "3")],  # written after the execution ended
    ]
    searched: list[datetime] = []
    slept: list[float] = []
    printed: list[str] = []
    ended = iter([False, False, True])

    def fetch(start: datetime) -> list[LogLine]:
        searched.append(start)
        return arrivals[len(searched) - 1]

    count = run_logs.follow(
        fetch,
        lambda line: printed.append(line.message),
        start=T0,
        ended=lambda: next(ended),
        sleep=slept.append,
        clock=lambda: T0 + timedelta(minutes=10),
        interval_s=2.0,
        settle_s=10.0,
    )

    assert printed == ["one", "two", "last"] and count == 3
    assert slept == [2.0, 2.0, 10.0]
    assert searched[0] == T0 and searched[1] == T0 + timedelta(minutes=10) - run_logs.LATE_ARRIVAL


class Executions:
    """DescribeExecution and GetExecutionHistory of one monitoring execution; any other is ExecutionDoesNotExist."""

    def __init__(self, arn: str, described: dict[str, Any]) -> None:
        self.arn, self.described = arn, described

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        if executionArn != self.arn:
            raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": "none"}}, "DescribeExecution")
        return self.described

    def get_execution_history(self, **_: Any) -> dict[str, Any]:
        return {"events": []}


def test_a_monitoring_run_is_searched_by_its_name_and_its_window_and_any_other_id_over_a_day():
    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-monitoring"
    stack = run_logs.StackRuns("cd4ml-dev", {"monitoring": machine}, "artifacts")
    name = "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
    arn = machine.replace(":stateMachine:", ":execution:") + f":{name}"
    window = "20261123T120000Z--20261124T120000Z"
    sfn = Executions(
        arn,
        {
            "executionArn": arn,
            "startDate": T0,
            "stopDate": T0 + timedelta(seconds=30),
            "input": "{}",
            "output": json.dumps({"measure": {"status": "measured", "window": window}}),
        },
    )

    monitoring = run_logs.target_of(sfn, stack, name, since=None, now=T0 + timedelta(hours=1))
    decision = run_logs.target_of(sfn, stack, "3f0c6a52-8f1e-4d57-9a7e-0b1c2d3e4f50", since=None, now=T0)

    assert monitoring.ids == (name, window) and monitoring.job_prefixes == ()
    assert (monitoring.start, monitoring.end) == (
        T0 - run_logs.BEFORE_START,
        T0 + timedelta(seconds=30) + run_logs.AFTER_STOP,
    )
    assert decision.ids == ("3f0c6a52-8f1e-4d57-9a7e-0b1c2d3e4f50",) and decision.end is None
    assert decision.start == T0 - timedelta(days=1)
