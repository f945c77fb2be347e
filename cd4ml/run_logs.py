"""`cd4ml logs <run>`: what every function of a stack logged about one run, merged by time, with the SageMaker jobs'
own output. A run is followed by its correlation id (cd4ml_shared/correlation.py: a training or batch run's id, a
deployment's execution name, a monitoring window, a retraining request, an inference id): each function's lines are
asked of CloudWatch Logs with a JSON filter pattern on `correlation_id` (or the `run_id` key), and checked again
here, so that a service answering the pattern loosely cannot let another run's line through. Plain functions over
boto3 clients, the same against AWS and the local cloud."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cd4ml_shared.aws.client_errors import error_code

from .runs import RunsRefusal, StackRuns, as_utc, execution_history, final_state, find_run, stack_clients, stack_runs
from .samconfig import SamConfigError

FUNCTION_TYPE = "AWS::Lambda::Function"
# Where SageMaker jobs log; each job's streams are named `<job name>/<host>-<epoch>`.
JOB_LOG_GROUPS = ("/aws/sagemaker/ProcessingJobs", "/aws/sagemaker/TrainingJobs", "/aws/sagemaker/TransformJobs")
CORRELATION_KEYS = ("correlation_id", "run_id")
# What powertools puts on every line: said once by the line's source, not repeated after each message.
CONTEXT_KEYS = frozenset(
    {
        "level",
        "location",
        "message",
        "timestamp",
        "service",
        "cold_start",
        "function_name",
        "function_memory_size",
        "function_arn",
        "function_request_id",
        "correlation_id",
        "xray_trace_id",
        "sampling_rate",
    }
)
DEFAULT_SINCE = timedelta(days=1)
# A run's lines start before its execution (the starter names it) and end after it (the last function's lines
# reach CloudWatch Logs seconds later): its window, widened by these.
BEFORE_START = timedelta(minutes=5)
AFTER_STOP = timedelta(minutes=5)
FOLLOW_INTERVAL_S = 2.0
LATE_ARRIVAL = timedelta(minutes=2)  # a line is searched for again this long after its time: ingestion lags
SETTLE_S = 10.0  # after the execution ended, one last look this much later
_SINCE = re.compile(r"^(?P<n>\d+)(?P<unit>[smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Step Functions names, inference ids and windows never hold these; a pattern must not be broken out of.
_UNSAFE_ID = re.compile(r'["\\\s{}]')


class LogsRefusal(Exception):
    """`cd4ml logs` cannot look (an id that is no id, a --since that is no duration): exit 2 with the reason."""


@dataclass(frozen=True)
class LogLine:
    timestamp_ms: int
    source: str  # the function's logical id, or the SageMaker job's name
    level: str
    message: str
    extra: dict[str, Any]
    event_id: str = ""  # CloudWatch's, for a line seen twice (follow's overlapping searches)

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


@dataclass(frozen=True)
class Target:
    """What `cd4ml logs <run>` searches: the correlation ids, the time window, and the run's job-name prefixes."""

    ids: tuple[str, ...]
    start: datetime
    end: datetime | None  # None: until now (a running run, or an id that is not an execution)
    job_prefixes: tuple[str, ...] = ()
    execution_arn: str | None = None


def parse_since(text: str) -> timedelta:
    """`30s`, `15m`, `6h`, `1d`, `2w`."""
    match = _SINCE.match(text.strip())
    if match is None:
        raise LogsRefusal(f"--since expects a number and one of s, m, h, d, w (e.g. 1d, 6h), got {text!r}")
    return timedelta(**{_UNITS[match["unit"]]: int(match["n"])})


def filter_pattern(ids: Sequence[str]) -> str:
    """CloudWatch Logs' JSON filter pattern matching the lines whose correlation id (or `run_id` key) is one of
    `ids`: `{ $.correlation_id = "<id>" || $.run_id = "<id>" }`."""
    for value in ids:
        if not value or _UNSAFE_ID.search(value):
            raise LogsRefusal(f"{value!r} is not a run id, execution name, window or inference id")
    terms = [f'$.{key} = "{value}"' for value in ids for key in CORRELATION_KEYS]
    return "{ " + " || ".join(terms) + " }"


def belongs(record: Mapping[str, Any], ids: Iterable[str]) -> bool:
    wanted = set(ids)
    return any(isinstance(record.get(key), str) and record[key] in wanted for key in CORRELATION_KEYS)


def function_line(event: Mapping[str, Any], source: str, ids: Sequence[str]) -> LogLine | None:
    """A function's CloudWatch event as a line of the run, or None when it is not the run's (another run's, or not
    a structured line: START/END/REPORT, a warning printed to stderr)."""
    try:
        record = json.loads(str(event.get("message") or ""))
    except ValueError:
        return None
    if not isinstance(record, dict) or not belongs(record, ids):
        return None
    message = record.get("message")
    extra = {k: v for k, v in record.items() if k not in CONTEXT_KEYS and not (k == "run_id" and v in ids)}
    return LogLine(
        timestamp_ms=int(event["timestamp"]),
        source=source,
        level=str(record.get("level") or "-"),
        message=message if isinstance(message, str) else json.dumps(message, default=str),
        extra=extra,
        event_id=str(event.get("eventId") or ""),
    )


def job_line(event: Mapping[str, Any], prefixes: Sequence[str]) -> LogLine | None:
    """A SageMaker job's CloudWatch event as a line of the run (its stream starts with one of the run's job-name
    prefixes), else None."""
    stream = str(event.get("logStreamName") or "")
    if not any(stream.startswith(prefix) for prefix in prefixes):
        return None
    return LogLine(
        timestamp_ms=int(event["timestamp"]),
        source=stream.split("/", 1)[0],
        level="-",
        message=str(event.get("message") or "").rstrip("\n"),
        extra={},
        event_id=str(event.get("eventId") or ""),
    )


def merged(lines: Iterable[LogLine]) -> list[LogLine]:
    """The lines of every source in the order they were written (a source's own order kept within a millisecond)."""
    return sorted(lines, key=lambda line: line.timestamp_ms)


def line_text(line: LogLine) -> str:
    """`time function level message {extra keys}`."""
    when = line.time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{line.timestamp_ms % 1000:03d}Z"
    extra = f" {json.dumps(line.extra, default=str)}" if line.extra else ""
    return f"{when} {line.source} {line.level} {line.message}{extra}"


# ---- CloudWatch Logs ---------------------------------------------------------------------------------------------
def stack_functions(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's functions: physical name (its log group is `/aws/lambda/<name>`) -> logical id."""
    functions: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for resource in page.get("StackResourceSummaries") or []:
            if resource.get("ResourceType") == FUNCTION_TYPE and resource.get("PhysicalResourceId"):
                functions[resource["PhysicalResourceId"]] = resource["LogicalResourceId"]
    return functions


def group_events(
    logs: Any,
    group: str,
    *,
    start: datetime,
    end: datetime | None,
    pattern: str | None = None,
    stream_prefix: str | None = None,
) -> list[dict[str, Any]]:
    """FilterLogEvents over one group, every page; none when the group does not exist (a function never invoked
    has no group yet)."""
    request: dict[str, Any] = {"logGroupName": group, "startTime": _millis(start)}
    if end is not None:
        request["endTime"] = _millis(end)
    if pattern:
        request["filterPattern"] = pattern
    if stream_prefix:
        request["logStreamNamePrefix"] = stream_prefix
    events: list[dict[str, Any]] = []
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**request):
            events += page.get("events") or []
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return []
        raise
    return events


def run_lines(
    logs: Any, functions: Mapping[str, str], target: Target, *, start: datetime | None = None
) -> list[LogLine]:
    """Every line of the run from `start` (the target's start by default) to its end, merged by time."""
    since = start or target.start
    pattern = filter_pattern(target.ids)
    lines: list[LogLine] = []
    for name, logical_id in sorted(functions.items(), key=lambda item: item[1]):
        for event in group_events(logs, f"/aws/lambda/{name}", start=since, end=target.end, pattern=pattern):
            if (line := function_line(event, logical_id, target.ids)) is not None:
                lines.append(line)
    for prefix in target.job_prefixes:
        for group in JOB_LOG_GROUPS:
            for event in group_events(logs, group, start=since, end=target.end, stream_prefix=prefix):
                if (line := job_line(event, [prefix])) is not None:
                    lines.append(line)
    return merged(lines)


# ---- which run -------------------------------------------------------------------------------------------------
def target_of(sfn: Any, stack: StackRuns, run: str, *, since: timedelta | None, now: datetime) -> Target:
    """What to search for `run`: an execution of the stack (its name, its window of time, its jobs; a monitoring
    run's window too), or any other correlation id (an inference id, a retraining request, a Kinesis batch) over the
    last `since` (default 1 day)."""
    filter_pattern([run])  # refuse a malformed id before any call
    try:
        pipeline, description = find_run(sfn, stack, run)
    except RunsRefusal as refusal:
        if "more than one pipeline" in str(refusal):
            raise
        return Target(ids=(run,), start=now - (since or DEFAULT_SINCE), end=None)
    started = as_utc(description["startDate"])
    stopped = as_utc(description["stopDate"]) if description.get("stopDate") else None
    ids = [run]
    if pipeline == "monitoring":
        # monitor_window and announce_breach follow the window the run measured (the execution's name is a
        # scheduler's id, which they are not given); a run that failed before measuring is followed by its name
        measured = final_state(description, execution_history(sfn, description["executionArn"])).get("measure")
        if isinstance(measured, Mapping) and isinstance(measured.get("window"), str):
            ids.append(measured["window"])
    try:
        execution_input = json.loads(description.get("input") or "{}")
    except ValueError:
        execution_input = {}
    prefix = execution_input.get("job_prefix") if isinstance(execution_input, dict) else None
    return Target(
        ids=tuple(ids),
        start=now - since if since else started - BEFORE_START,
        end=stopped + AFTER_STOP if stopped else None,
        job_prefixes=(f"{prefix}-",) if isinstance(prefix, str) and prefix else (),
        execution_arn=str(description["executionArn"]),
    )


def follow(
    fetch: Callable[[datetime], list[LogLine]],
    emit: Callable[[LogLine], None],
    *,
    start: datetime,
    ended: Callable[[], bool],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    interval_s: float | None = None,
    settle_s: float | None = None,
) -> int:
    """Print new lines as they arrive until `ended()` (the run's execution is over: one last look `settle_s` later)
    or Ctrl-C. Each search goes back LATE_ARRIVAL from the last one (CloudWatch Logs takes lines in late), and a
    line is printed once."""
    interval_s = FOLLOW_INTERVAL_S if interval_s is None else interval_s
    settle_s = SETTLE_S if settle_s is None else settle_s
    seen: set[tuple[str, str, int]] = set()
    cursor = start
    printed = 0
    finishing = False
    while True:
        for line in fetch(cursor):
            key = (line.source, line.event_id or line.message, line.timestamp_ms)
            if key not in seen:
                seen.add(key)
                emit(line)
                printed += 1
        if finishing:
            return printed
        if ended():
            finishing = True
            sleep(settle_s)
            continue
        sleep(interval_s)
        cursor = max(cursor, clock() - LATE_ARRIVAL)


# ---- the command -----------------------------------------------------------------------------------------------
def command(args: argparse.Namespace) -> int:
    """`cd4ml logs RUN`: 0 with the lines (none found is said on stderr), 2 when it cannot look, 1 on AWS errors."""
    try:
        since = parse_since(args.since) if args.since else None
        stack_name, client = stack_clients(args)
        stack = stack_runs(client("cloudformation"), stack_name)
        sfn, logs = client("stepfunctions"), client("logs")
        functions = stack_functions(client("cloudformation"), stack_name)
        now = datetime.now(UTC)
        target = target_of(sfn, stack, args.run_id, since=since, now=now)

        def emit(line: LogLine) -> None:
            print(line_text(line), flush=True)

        if args.follow:
            # no end while following; a run not started yet (followed right after its upload) is looked for again
            live = [replace(target, end=None)]

            def ended() -> bool:
                if live[0].execution_arn is None:
                    found = target_of(sfn, stack, args.run_id, since=since, now=now)
                    if found.execution_arn is None:
                        return False
                    live[0] = replace(found, start=live[0].start, end=None)
                return str(sfn.describe_execution(executionArn=live[0].execution_arn)["status"]) != "RUNNING"

            try:
                printed = follow(
                    lambda s: run_lines(logs, functions, live[0], start=s), emit, start=target.start, ended=ended
                )
            except KeyboardInterrupt:
                return 0
        else:
            lines = run_lines(logs, functions, target)
            for line in lines:
                emit(line)
            printed = len(lines)
        if not printed:
            print(
                f"no log lines of {args.run_id} in stack {stack.name} since {target.start:%Y-%m-%d %H:%M:%SZ}",
                file=sys.stderr,
            )
        return 0
    except (LogsRefusal, RunsRefusal, SamConfigError) as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
