"""`cd4ml runs list | show`: a deployed stack's pipeline runs (the executions of its training, batch, deployment and
monitoring state machines) as a person following them needs them: status, how long each state took and how often it
was tried, why a run failed, what it ended with and where its report is. Plain functions over boto3 clients, the
same against AWS and the local cloud; the text and JSON views are separate from the look-ups."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cd4ml_shared.aws.client_errors import error_code
from cd4ml_shared.aws.stage_durations import execution_history as history_pages
from cd4ml_shared.layout import RunLayout
from cd4ml_shared.outcome import TIMED_OUT_EVENTS, error_reason, timeout_cause
from cd4ml_shared.s3_uri import parse_s3_uri
from cd4ml_shared.scoring import OUTCOME_FILE as SCORING_OUTCOME_FILE

from .model_registry import RegistryRefusal, stack_outputs
from .samconfig import DEFAULT_FILE, SamConfigError, read_deploy_config

# The stack's state machines, by the name a person gives them, and the output that names each.
PIPELINES: dict[str, str] = {
    "training": "TrainingPipelineArn",
    "batch": "BatchInferenceStateMachineArn",
    "deployment": "DeploymentStateMachineArn",
    "monitoring": "MonitoringStateMachineArn",
}
STATUSES = ("RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE")
ARTIFACTS_OUTPUT = "ArtifactsBucketName"
DEFAULT_MAX = 20
PRESIGN_SECONDS = 3600
# States that only route the run: milliseconds, and not what a person asks "how long" about.
ROUTING_STATES = ("Choice", "Pass", "Succeed", "Fail")
_STATE_EVENT = re.compile(r"^(?P<kind>[A-Za-z]+)State(?P<edge>Entered|Exited)$")
# Events that start an attempt of a Task state, and those that end one with an error.
ATTEMPT_STARTS = frozenset({"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"})
ATTEMPT_FAILURES = frozenset(
    {
        "TaskFailed",
        "TaskStartFailed",
        "TaskSubmitFailed",
        "LambdaFunctionFailed",
        "LambdaFunctionStartFailed",
        "LambdaFunctionScheduleFailed",
        "ActivityFailed",
        "ActivityScheduleFailed",
        *TIMED_OUT_EVENTS,
    }
)


class RunsRefusal(Exception):
    """A runs command that cannot answer (no such stack or run, a run name found in two state machines): the CLI
    prints it and exits 2."""


# ---- the stack -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackRuns:
    """Where a stack's runs are: its state machines by pipeline, and the bucket its run records are in."""

    name: str
    state_machines: dict[str, str]  # pipeline -> state machine ARN
    artifacts_bucket: str | None


def stack_runs(cloudformation: Any, stack_name: str) -> StackRuns:
    """The state machines of a deployed stack, from its outputs (`TrainingPipelineArn`, ...)."""
    try:
        outputs = stack_outputs(cloudformation, stack_name)
    except RegistryRefusal as refusal:
        raise RunsRefusal(str(refusal)) from None
    machines = {pipeline: outputs[key] for pipeline, key in PIPELINES.items() if outputs.get(key)}
    if not machines:
        raise RunsRefusal(
            f"stack {stack_name!r} has none of the outputs {', '.join(PIPELINES.values())}: not a cd4ml stack?"
        )
    return StackRuns(stack_name, machines, outputs.get(ARTIFACTS_OUTPUT))


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN an execution `name` of a state machine has (started or not)."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


# ---- list ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunSummary:
    name: str
    pipeline: str
    status: str
    started: datetime
    stopped: datetime | None
    execution_arn: str
    outcome: str | None = None  # for people: "registered v3", "quarantined: values.null", ...

    def seconds(self, now: datetime) -> float:
        return ((self.stopped or now) - self.started).total_seconds()


def executions(sfn: Any, state_machine_arn: str, status: str | None, limit: int) -> list[dict[str, Any]]:
    """At most `limit` executions of a state machine, newest first (ListExecutions' order), page by page."""
    found: list[dict[str, Any]] = []
    request: dict[str, Any] = {"stateMachineArn": state_machine_arn, "maxResults": min(max(limit, 1), 1000)}
    if status:
        request["statusFilter"] = status
    while len(found) < limit:
        page = sfn.list_executions(**request)
        found += page.get("executions") or []
        if not page.get("nextToken"):
            break
        request["nextToken"] = page["nextToken"]
    return found[:limit]


def summary_of(pipeline: str, execution: Mapping[str, Any]) -> RunSummary:
    return RunSummary(
        name=str(execution["name"]),
        pipeline=pipeline,
        status=str(execution["status"]),
        started=as_utc(execution["startDate"]),
        stopped=as_utc(execution["stopDate"]) if execution.get("stopDate") else None,
        execution_arn=str(execution["executionArn"]),
    )


def newest_first(runs: Iterable[RunSummary], limit: int) -> list[RunSummary]:
    return sorted(runs, key=lambda run: (run.started, run.name), reverse=True)[:limit]


def list_runs(
    sfn: Any,
    s3: Any,
    stack: StackRuns,
    pipelines: Sequence[str],
    *,
    status: str | None = None,
    limit: int = DEFAULT_MAX,
) -> list[RunSummary]:
    """The stack's newest runs of `pipelines` across their state machines, newest first, each finished training or
    batch run with its outcome from its run record."""
    runs = [
        summary_of(pipeline, execution)
        for pipeline in pipelines
        if pipeline in stack.state_machines
        for execution in executions(sfn, stack.state_machines[pipeline], status, limit)
    ]
    listed = []
    for run in newest_first(runs, limit):
        record = None
        if run.status != "RUNNING" and stack.artifacts_bucket and run.pipeline in ("training", "batch"):
            record = run_record(s3, stack.artifacts_bucket, run.pipeline, run.name)
        listed.append(_with_outcome(run, outcome_text(run.pipeline, record)))
    return listed


def _with_outcome(run: RunSummary, outcome: str | None) -> RunSummary:
    return RunSummary(**{**asdict(run), "outcome": outcome})


def record_key(pipeline: str, run_id: str) -> str:
    """Where a run's record is in the artifacts bucket: record_outcome's `runs/<run>/outcome.json`, record_scoring's
    `runs/<run>/scoring/outcome.json`."""
    layout = RunLayout("", run_id)
    return layout.key(SCORING_OUTCOME_FILE) if pipeline == "batch" else layout.outcome_key


def run_record(s3: Any, bucket: str, pipeline: str, run_id: str) -> dict[str, Any] | None:
    """The run's record (outcome.json), or None when it has none (yet): a running run, a run that failed before its
    record, or a record that is not JSON."""
    try:
        body = s3.get_object(Bucket=bucket, Key=record_key(pipeline, run_id))["Body"].read()
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404", "AccessDenied"):
            return None
        raise
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def outcome_text(pipeline: str, record: Mapping[str, Any] | None) -> str | None:
    """What a run ended with, in a few words, from its record."""
    if not record:
        return None
    status = str(record.get("status") or "")
    reasons = [str(r) for r in record.get("reasons") or []]
    if pipeline == "batch":
        if status == "succeeded":
            rows = (record.get("summary") or {}).get("rows")
            return f"scored {rows} orders" if rows is not None else "scored"
        if status == "quarantined":
            return f"quarantined: {record.get('reason')}"
        return f"failed: {record.get('error')}" if status == "failed" else status or None
    if status == "succeeded":
        version = record.get("model_package_version")
        approval = record.get("approval_status")
        registered = f"registered v{version}" if version is not None else "registered"
        return f"{registered} ({approval})" if approval and approval != "Approved" else registered
    if status == "gated_out":
        return "gated out" + (f": {reasons[0]}" if reasons else "")
    if status == "quarantined":
        code = reasons[0].split(":", 1)[0] if reasons else ""
        return "quarantined" + (f": {code}" if code else "")
    if status == "failed":
        error = record.get("error") or {}
        return f"failed: {error.get('Error')}" if isinstance(error, Mapping) and error.get("Error") else "failed"
    if status == "duplicate":
        earlier = (record.get("earlier_run") or {}).get("run_id")
        return f"same content as run {earlier}" if earlier else "same content as an earlier run"
    return status or None


# ---- show ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    """One try of a Task state: from its Scheduled event to its end; an error when it failed or timed out."""

    started: datetime
    ended: datetime | None
    error: str | None = None
    cause: str | None = None

    @property
    def seconds(self) -> float | None:
        return (self.ended - self.started).total_seconds() if self.ended else None


@dataclass(frozen=True)
class StateRun:
    """One entry of one state: entered, exited (None while it runs), and its attempts (a retried Task's tries)."""

    name: str
    kind: str  # Task, Map, Parallel, Wait, Choice, ...
    entered: datetime
    exited: datetime | None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def seconds(self) -> float | None:
        return (self.exited - self.entered).total_seconds() if self.exited else None


@dataclass(frozen=True)
class Failure:
    state: str | None
    error: str
    cause: str
    retried: bool = False  # another attempt of the state followed (its Retry), so this is not how the run ended


def state_runs(events: Iterable[Mapping[str, Any]]) -> list[StateRun]:
    """Every entry of every state in one execution's history (events in any order, as GetExecutionHistory answers
    them or as JSON), in the order entered. An event belongs to the entry its `previousEventId` chain leads back to,
    so the attempts of concurrent states (Map iterations, Parallel branches) do not mix; a Task's attempts start at
    each Scheduled event and end at the next failure, timeout or success."""
    ordered = sorted((e for e in events if isinstance(e.get("id"), int)), key=lambda e: e["id"])
    entry_of: dict[int, int] = {}  # event id -> the id of the StateEntered event it belongs to
    entries: dict[int, dict[str, Any]] = {}
    for event in ordered:
        shape = _STATE_EVENT.match(str(event.get("type", "")))
        previous = event.get("previousEventId")
        owner = entry_of.get(previous) if isinstance(previous, int) else None
        if shape is not None and shape["edge"] == "Entered":
            name = str((event.get("stateEnteredEventDetails") or {}).get("name") or "?")
            entries[event["id"]] = {"name": name, "kind": shape["kind"], "entered": event, "exited": None, "tries": []}
            entry_of[event["id"]] = event["id"]
            continue
        if shape is not None and shape["edge"] == "Exited":
            name = str((event.get("stateExitedEventDetails") or {}).get("name") or "?")
            if owner is None or entries[owner]["name"] != name:
                # a Map or Parallel state exits after its iterations' events: its own open entry of that name
                owner = next((i for i in reversed(entries) if _open(entries[i], name, shape["kind"])), None)
            if owner is not None:
                entries[owner]["exited"] = event  # what follows an exit belongs to the next state
            continue
        if owner is None:
            continue
        entry = entries[owner]
        entry_of[event["id"]] = owner
        kind = str(event.get("type", ""))
        if kind in ATTEMPT_STARTS:
            entry["tries"].append({"started": event, "ended": None, "error": None, "cause": None})
        elif entry["tries"] and entry["tries"][-1]["ended"] is None and _ends_attempt(kind):
            details = _details(event)
            entry["tries"][-1].update(ended=event, error=details.get("error"), cause=details.get("cause"))
    return [
        StateRun(
            name=entry["name"],
            kind=entry["kind"],
            entered=_timestamp(entry["entered"]),
            exited=_timestamp(entry["exited"]) if entry["exited"] else None,
            attempts=[
                Attempt(
                    started=_timestamp(t["started"]),
                    ended=_timestamp(t["ended"]) if t["ended"] else None,
                    error=t["error"] or (str(t["ended"]["type"]) if t["ended"] and _timed_out(t["ended"]) else None),
                    cause=t["cause"],
                )
                for t in entry["tries"]
            ],
        )
        for entry in entries.values()
    ]


def _open(entry: Mapping[str, Any], name: str, kind: str) -> bool:
    return entry["exited"] is None and entry["name"] == name and entry["kind"] == kind


def _ends_attempt(kind: str) -> bool:
    return kind in ATTEMPT_FAILURES or kind.endswith("Succeeded")


def _timed_out(event: Mapping[str, Any]) -> bool:
    return str(event.get("type")) in TIMED_OUT_EVENTS


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The `...EventDetails` of an event (each type has its own key)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def failures(events: Sequence[Mapping[str, Any]], execution_arn: str) -> list[Failure]:
    """Every failed or timed-out attempt of the run's states, oldest first, with its error and cause; a timeout that
    Step Functions left without a cause is explained from the history (which state, job and limit)."""
    found = []
    for run in state_runs(events):
        for number, attempt in enumerate(run.attempts, start=1):
            if attempt.error is None:
                continue
            cause = attempt.cause or ""
            if not cause and attempt.error in ("States.Timeout", *TIMED_OUT_EVENTS):
                cause = timeout_cause(_history_until(events, run, attempt), execution_arn)
            found.append(Failure(run.name, attempt.error, cause, retried=number < len(run.attempts)))
    return found


def _history_until(events: Sequence[Mapping[str, Any]], run: StateRun, attempt: Attempt) -> list[Mapping[str, Any]]:
    """The events up to the end of `attempt`: timeout_cause explains the last timeout of what it is given."""
    end = attempt.ended or run.exited
    return [e for e in events if end is None or _timestamp(e) <= end]


@dataclass(frozen=True)
class RunDetail:
    summary: RunSummary
    state_machine_arn: str
    inputs: dict[str, Any]
    states: list[StateRun]
    failures: list[Failure]
    error: str | None  # the execution's own error and cause (a Fail state's, or a failure nobody caught)
    cause: str | None
    ended_in: str | None  # the last state entered: ModelRegistered, DataQuarantined, ...
    links: dict[str, str]  # report, evaluation, record...: s3:// URIs (or presigned https URLs)


def find_run(sfn: Any, stack: StackRuns, name: str) -> tuple[str, dict[str, Any]]:
    """(pipeline, DescribeExecution) of the execution `name` in the stack's state machines; a refusal when no state
    machine has it, or more than one does."""
    found = []
    for pipeline, machine in stack.state_machines.items():
        try:
            found.append((pipeline, sfn.describe_execution(executionArn=execution_arn(machine, name))))
        except ClientError as error:
            if error_code(error) not in ("ExecutionDoesNotExist", "InvalidArn"):
                raise
    if not found:
        raise RunsRefusal(
            f"no run {name!r} in stack {stack.name} (looked in its {', '.join(stack.state_machines)} state "
            "machines; `cd4ml runs list` shows the runs there are)"
        )
    if len(found) > 1:
        raise RunsRefusal(
            f"{name!r} names a run of more than one pipeline of stack {stack.name}: "
            + ", ".join(described["executionArn"] for _, described in found)
        )
    return found[0]


def execution_history(sfn: Any, arn: str) -> list[Mapping[str, Any]]:
    """Every event of the execution, oldest first, with its data (the layer's reader, as record_outcome's)."""
    return history_pages(sfn, arn, with_data=True)


def input_summary(pipeline: str, execution_input: Mapping[str, Any]) -> dict[str, Any]:
    """What the run was asked to do, from its execution input."""
    if pipeline in ("training", "batch"):
        dataset = execution_input.get("dataset") or {}
        summary = {
            "dataset": f"s3://{dataset.get('bucket')}/{dataset.get('key')}" if dataset else None,
            "version": dataset.get("version_id") or dataset.get("etag"),
            "job_prefix": execution_input.get("job_prefix"),
            "trigger": (execution_input.get("trigger") or {}).get("detail_type"),
        }
    elif pipeline == "deployment":
        summary = {
            "model_package": execution_input.get("model_package_arn"),
            "version": execution_input.get("version"),
            "endpoint": execution_input.get("endpoint_name"),
            "rollback_of": execution_input.get("rollback_of"),
        }
    else:
        summary = {
            "at": execution_input.get("at") or execution_input.get("time"),
            "trigger": execution_input.get("detail-type"),
        }
    return {key: value for key, value in summary.items() if value is not None}


def final_state(description: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The run's data at its end: the execution's output, or for a failed run (no output) the last state's."""
    for text in [description.get("output")] + [
        (e.get("stateExitedEventDetails") or {}).get("output") for e in reversed(events)
    ]:
        if isinstance(text, str) and text:
            try:
                data = json.loads(text)
            except ValueError:
                continue
            if isinstance(data, dict):
                return data
    return {}


def links_of(pipeline: str, state: Mapping[str, Any], record: Mapping[str, Any] | None) -> dict[str, str]:
    """Where a person reads what the run produced: the report, the evaluation, the run's record."""
    record = record or {}
    if pipeline == "training":
        outcome = state.get("outcome") or {}
        candidates = {
            "report": record.get("report_uri") or outcome.get("report_uri"),
            "evaluation": record.get("evaluation_uri") or (state.get("gate") or {}).get("evaluation_uri"),
            "quality": record.get("quality_report_uri"),
            "record": record.get("outcome_uri") or outcome.get("outcome_uri"),
        }
    elif pipeline == "batch":
        candidates = {
            "scores": (record.get("summary") or {}).get("scores_uri") or (state.get("scores") or {}).get("scores_uri"),
            "quality": record.get("report_uri"),
            "record": (state.get("outcome") or {}).get("outcome_uri"),
        }
    elif pipeline == "deployment":
        candidates = {"record": (state.get("record") or {}).get("record_uri")}
    else:
        measure = state.get("measure") or {}
        candidates = {"report": measure.get("report_html_uri"), "record": measure.get("report_uri")}
    return {name: str(uri) for name, uri in candidates.items() if isinstance(uri, str) and uri.startswith("s3://")}


def presigned(s3: Any, links: Mapping[str, str], expires_s: int = PRESIGN_SECONDS) -> dict[str, str]:
    """Each s3:// link as an https URL anyone holding it can open for `expires_s` seconds."""
    signed = {}
    for name, uri in links.items():
        bucket, key = parse_s3_uri(uri)
        signed[name] = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s
        )
    return signed


def show_run(sfn: Any, s3: Any, stack: StackRuns, name: str, *, presign: bool = False) -> RunDetail:
    pipeline, description = find_run(sfn, stack, name)
    events = execution_history(sfn, description["executionArn"])
    try:
        execution_input = json.loads(description.get("input") or "{}")
    except ValueError:
        execution_input = {}
    record = None
    if stack.artifacts_bucket and pipeline in ("training", "batch"):
        record = run_record(s3, stack.artifacts_bucket, pipeline, name)
    summary = _with_outcome(summary_of(pipeline, description), outcome_text(pipeline, record))
    links = links_of(pipeline, final_state(description, events), record)
    entered = state_runs(events)
    return RunDetail(
        summary=summary,
        state_machine_arn=str(description["stateMachineArn"]),
        inputs=input_summary(pipeline, execution_input if isinstance(execution_input, dict) else {}),
        states=[run for run in entered if run.kind not in ROUTING_STATES],
        failures=failures(events, description["executionArn"]),
        error=description.get("error"),
        cause=description.get("cause"),
        ended_in=entered[-1].name if entered else None,
        links=presigned(s3, links) if presign else links,
    )


# ---- views -----------------------------------------------------------------------------------------------------
def duration(seconds: float | None) -> str:
    """`0.4s`, `12.3s`, `4m05s`, `2h03m`; `-` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


def listing_table(runs: Sequence[RunSummary], stack: str, now: datetime) -> str:
    if not runs:
        return f"No runs in stack {stack}."
    rows = [("RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "OUTCOME")]
    rows += [(r.name, r.pipeline, r.status, _when(r.started), duration(r.seconds(now)), r.outcome or "") for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:5], widths, strict=True)) + "  " + row[5]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def detail_text(detail: RunDetail, now: datetime) -> str:
    run = detail.summary
    lines = [
        f"Run {run.name} ({run.pipeline}, {detail.state_machine_arn.rsplit(':', 1)[-1]})",
        f"  status:     {run.status}" + (f", ended in {detail.ended_in}" if run.stopped and detail.ended_in else ""),
        f"  started:    {_when(run.started)}   stopped: {_when(run.stopped)}   duration: {duration(run.seconds(now))}",
    ]
    if run.outcome:
        lines.append(f"  outcome:    {run.outcome}")
    for key, value in detail.inputs.items():
        lines.append(f"  {key + ':':<11} {value}")
    if detail.states:
        lines.append("  states:")
        width = max(len(state.name) for state in detail.states)
        for state in detail.states:
            took = duration(state.seconds) if state.exited else "running"
            tries = "" if state.exited else f"  (for {duration((now - state.entered).total_seconds())})"
            if len(state.attempts) > 1:
                tried = ", ".join(
                    f"{a.error or 'ok'} after {duration(a.seconds)}" if a.ended else "running" for a in state.attempts
                )
                tries += f"  ({len(state.attempts)} attempts: {tried})"
            lines.append(f"    {state.name:<{width}}  {took:>8}{tries}")
    for failure in detail.failures:
        label = "retried:" if failure.retried else "failure:"
        reason = error_reason({"Error": failure.error, "Cause": failure.cause})
        lines.append(f"  {label:<11} {failure.state}: {reason}")
    if detail.error and run.status != "SUCCEEDED":
        lines.append(f"  error:      {error_reason({'Error': detail.error, 'Cause': detail.cause or ''})}")
    for name, uri in detail.links.items():
        lines.append(f"  {name + ':':<11} {uri}")
    return "\n".join(lines)


def summary_dict(run: RunSummary, now: datetime) -> dict[str, Any]:
    return {**_plain(run), "seconds": run.seconds(now)}


def detail_dict(detail: RunDetail, now: datetime) -> dict[str, Any]:
    """The detail for machines: times in ISO 8601 (UTC), each state's and attempt's seconds beside them."""
    document = _plain(detail)
    document["summary"] = summary_dict(detail.summary, now)
    for state, plain in zip(detail.states, document["states"], strict=True):
        plain["seconds"] = state.seconds
        for attempt, tried in zip(state.attempts, plain["attempts"], strict=True):
            tried["seconds"] = attempt.seconds
    return document


def _plain(value: Any) -> Any:
    """A dataclass as JSON-ready values (datetimes as ISO 8601 in UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


# ---- the command -----------------------------------------------------------------------------------------------
ClientFactory = Callable[[str], Any]


def stack_clients(args: argparse.Namespace) -> tuple[str, ClientFactory]:
    """The stack a command works on and a client factory for its region and endpoint, as `sam deploy` found them:
    --stack-name, else samconfig.toml's stack_name for --config-env; --region, else samconfig's, else the AWS
    configuration's."""
    import boto3

    from .localcloud.aws import DEFAULT_REGION

    path = Path(args.config_file or DEFAULT_FILE)
    if args.config_file and not path.is_file():
        raise SamConfigError(f"{path}: no such SAM configuration file")
    config = read_deploy_config(path, args.config_env)
    region = args.region or config.region or boto3.session.Session().region_name or DEFAULT_REGION
    session = boto3.session.Session(region_name=region)
    return args.stack_name or config.stack_name or "cd4ml", lambda service: session.client(
        service, endpoint_url=args.endpoint_url
    )


def command(args: argparse.Namespace) -> int:
    """`cd4ml runs list | show`: 0 with the answer, 2 when it cannot be given (no stack, no run), 1 on AWS errors."""
    try:
        stack_name, client = stack_clients(args)
        stack = stack_runs(client("cloudformation"), stack_name)
        sfn, s3 = client("stepfunctions"), client("s3")
        now = datetime.now(UTC)
        if args.runs_command == "list":
            pipelines = [args.pipeline] if args.pipeline else list(PIPELINES)
            runs = list_runs(sfn, s3, stack, pipelines, status=args.status, limit=args.max)
            listed = json.dumps([summary_dict(run, now) for run in runs], indent=2)
            print(listed if args.json else listing_table(runs, stack.name, now))
            return 0
        detail = show_run(sfn, s3, stack, args.run_id, presign=args.presign)
        print(json.dumps(detail_dict(detail, now), indent=2) if args.json else detail_text(detail, now))
        return 0
    except (RunsRefusal, SamConfigError) as refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    except (BotoCoreError, ClientError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def as_utc(moment: Any) -> datetime:
    """A boto3 datetime (or an ISO 8601 string, as in a JSON history) as an aware datetime."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if not isinstance(moment, datetime):
        raise ValueError(f"{moment!r} is not a date and time")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _timestamp(event: Mapping[str, Any]) -> datetime:
    return as_utc(event.get("timestamp"))
