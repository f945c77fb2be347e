"""`cd4ml runs`' logic with plain values: each state's duration and attempts from a real-shaped execution history (a
Train task throttled once, then timed out), the failure explained, runs of several pipelines merged newest first,
an execution name looked up in every state machine of the stack, and what a run ended with in a few words."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cd4ml_shared.stage_durations import stage_spans

from cd4ml import runs

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:cd4ml-dev-training-pipeline:orders-2026-11-25-f3dbe6d1"
MACHINES = {
    "training": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-training-pipeline",
    "deployment": "arn:aws:states:us-east-1:123456789012:stateMachine:cd4ml-dev-deployment",
}
STACK = runs.StackRuns("cd4ml-dev", MACHINES, "cd4ml-dev-artifacts")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def timed_out(sample_event) -> list[dict]:
    """The newest ten events of a run whose Train task was throttled once, then waited past its timeout."""
    return sample_event("sfn_execution_history_train_timed_out.json")["events"]


def test_a_retried_state_has_one_duration_and_each_of_its_attempts(timed_out):
    train, record = runs.state_runs(timed_out)  # BuildFeatures' entry is older than these events: left out

    assert (train.name, train.kind, record.name) == ("Train", "Task", "RecordFailure")
    assert train.seconds == pytest.approx(timedelta(hours=2, minutes=10, seconds=5.504).total_seconds())
    assert [(a.error, a.seconds) for a in train.attempts] == [
        ("JobThrottled", pytest.approx(5.266)),
        ("States.Timeout", pytest.approx(timedelta(hours=2, minutes=10, seconds=0.224).total_seconds())),
    ]
    assert record.exited is None and record.seconds is None  # still running when the history was read


def test_the_durations_are_the_spans_record_outcome_publishes(timed_out):
    finished = [run for run in runs.state_runs(timed_out) if run.exited]

    assert [(run.name, run.seconds) for run in finished] == [(s.stage, s.seconds) for s in stage_spans(timed_out)]


def test_a_timeout_without_a_cause_is_explained_and_the_throttling_is_marked_retried(timed_out):
    throttled, timeout = runs.failures(timed_out, EXECUTION)

    assert (throttled.state, throttled.error, throttled.retried) == ("Train", "JobThrottled", True)
    assert "CreateJob throttled" in throttled.cause
    assert (timeout.state, timeout.error, timeout.retried) == ("Train", "States.Timeout", False)
    assert timeout.cause.startswith("Train timed out after 7800 s (timeouts.training")
    assert "training job cd4ml-1a2b3c4d-f3dbe6d10cbde9ca-train-1" in timeout.cause


def event(id_: int, previous: int, kind: str, at: float, **details: Any) -> dict[str, Any]:
    return {"id": id_, "previousEventId": previous, "type": kind, "timestamp": T0 + timedelta(seconds=at), **details}


def entered(id_: int, previous: int, kind: str, name: str, at: float) -> dict[str, Any]:
    return event(id_, previous, f"{kind}StateEntered", at, stateEnteredEventDetails={"name": name})


def exited(id_: int, previous: int, kind: str, name: str, at: float) -> dict[str, Any]:
    return event(id_, previous, f"{kind}StateExited", at, stateExitedEventDetails={"name": name})


def test_a_map_state_exits_after_its_iterations_and_keeps_its_own_span():
    history = [
        entered(2, 1, "Map", "ScoreShards", 0),
        event(3, 2, "MapStateStarted", 0.1),
        event(4, 3, "MapIterationStarted", 0.2),
        entered(5, 4, "Task", "Score", 0.3),
        event(6, 5, "LambdaFunctionScheduled", 0.3),
        event(7, 6, "LambdaFunctionSucceeded", 2.3),
        exited(8, 7, "Task", "Score", 2.4),
        event(9, 8, "MapIterationSucceeded", 2.5),
        event(10, 9, "MapStateSucceeded", 2.6),
        exited(11, 10, "Map", "ScoreShards", 2.7),
        entered(12, 11, "Choice", "Scored", 2.7),
        exited(13, 12, "Choice", "Scored", 2.8),
    ]

    shards, score, choice = runs.state_runs(history)

    assert (shards.name, shards.seconds) == ("ScoreShards", pytest.approx(2.7))
    assert (score.name, score.seconds, len(score.attempts)) == ("Score", pytest.approx(2.1), 1)
    assert choice.kind == "Choice"


def test_the_text_shows_each_state_its_attempts_and_the_failure(timed_out):
    summary = runs.RunSummary(
        "orders-2026-11-25-f3dbe6d1", "training", "FAILED", T0, T0 + timedelta(hours=3), EXECUTION, "failed: X"
    )
    detail = runs.RunDetail(
        summary=summary,
        state_machine_arn=MACHINES["training"],
        inputs={"dataset": "s3://raw/datasets/orders/2026-11-25/orders.csv", "version": "v1"},
        states=runs.state_runs(timed_out),
        failures=runs.failures(timed_out, EXECUTION),
        error="Pipeline.Failed",
        cause="Train timed out",
        ended_in="PipelineFailed",
        links={"report": "s3://cd4ml-dev-artifacts/runs/orders-2026-11-25-f3dbe6d1/report.html"},
    )

    text = runs.detail_text(detail, now=T0 + timedelta(hours=4)).splitlines()

    assert text[0] == "Run orders-2026-11-25-f3dbe6d1 (training, cd4ml-dev-training-pipeline)"
    assert "    Train             2h10m  (2 attempts: JobThrottled after 5.3s, States.Timeout after 2h10m)" in text
    assert "    RecordFailure   running  (for 1h28m)" in text
    assert "  retried:    Train: JobThrottled: CreateJob throttled: Rate exceeded" in text
    assert any(line.startswith("  failure:    Train: States.Timeout: Train timed out after 7800 s") for line in text)
    assert "  report:     s3://cd4ml-dev-artifacts/runs/orders-2026-11-25-f3dbe6d1/report.html" in text
    document = runs.detail_dict(detail, now=T0 + timedelta(hours=4))
    assert document["states"][0]["attempts"][0]["seconds"] == pytest.approx(5.266)
    assert json.loads(json.dumps(document))["summary"]["seconds"] == 3 * 3600


class FakeStepFunctions:
    """ListExecutions in pages of two, DescribeExecution of the executions it holds (ExecutionDoesNotExist else)."""

    def __init__(self, executions: dict[str, list[dict[str, Any]]]) -> None:
        self.by_machine = executions
        self.calls: list[dict[str, Any]] = []

    def list_executions(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        found = [
            e
            for e in self.by_machine.get(request["stateMachineArn"], [])
            if "statusFilter" not in request or e["status"] == request["statusFilter"]
        ]
        start = int(request.get("nextToken", 0))
        page: dict[str, Any] = {"executions": found[start : start + 2]}
        if start + 2 < len(found):
            page["nextToken"] = str(start + 2)
        return page

    def describe_execution(self, executionArn: str) -> dict[str, Any]:
        for executions in self.by_machine.values():
            for execution in executions:
                if execution["executionArn"] == executionArn:
                    return execution
        raise ClientError({"Error": {"Code": "ExecutionDoesNotExist", "Message": executionArn}}, "DescribeExecution")


def execution(machine: str, name: str, status: str, started_min: int) -> dict[str, Any]:
    started = T0 + timedelta(minutes=started_min)
    found = {
        "executionArn": runs.execution_arn(MACHINES[machine], name),
        "stateMachineArn": MACHINES[machine],
        "name": name,
        "status": status,
        "startDate": started,
    }
    return found if status == "RUNNING" else {**found, "stopDate": started + timedelta(minutes=1)}


class NoRecords:
    """An artifacts bucket without run records (the listing then says no outcome)."""

    def get_object(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "gone"}}, "GetObject")


def test_runs_of_several_pipelines_are_merged_newest_first_page_by_page():
    sfn = FakeStepFunctions(
        {
            MACHINES["training"]: [execution("training", f"orders-{n}", "SUCCEEDED", n) for n in (9, 7, 3, 1)],
            MACHINES["deployment"]: [
                execution("deployment", "deploy-v2", "FAILED", 8),
                execution("deployment", "deploy-v1", "SUCCEEDED", 2),
            ],
        }
    )

    listed = runs.list_runs(sfn, NoRecords(), STACK, ["training", "deployment"], limit=4)

    assert [(r.name, r.pipeline) for r in listed] == [
        ("orders-9", "training"),
        ("deploy-v2", "deployment"),
        ("orders-7", "training"),
        ("orders-3", "training"),
    ]
    assert [c.get("nextToken") for c in sfn.calls if c["stateMachineArn"] == MACHINES["training"]] == [None, "2"]
    only_failed = runs.list_runs(sfn, NoRecords(), STACK, list(MACHINES), status="FAILED")
    assert [r.name for r in only_failed] == ["deploy-v2"]


def test_a_run_is_found_in_whichever_state_machine_has_it_and_refused_when_none_or_two_do():
    sfn = FakeStepFunctions(
        {
            MACHINES["training"]: [
                execution("training", "orders-1", "SUCCEEDED", 1),
                execution("training", "twice", "FAILED", 2),
            ],
            MACHINES["deployment"]: [
                execution("deployment", "deploy-v1", "RUNNING", 3),
                execution("deployment", "twice", "FAILED", 4),
            ],
        }
    )

    assert runs.find_run(sfn, STACK, "deploy-v1")[0] == "deployment"
    with pytest.raises(runs.RunsRefusal, match=r"no run 'deploy-v9' in stack cd4ml-dev \(looked in its training, "):
        runs.find_run(sfn, STACK, "deploy-v9")
    with pytest.raises(runs.RunsRefusal, match="'twice' names a run of more than one pipeline"):
        runs.find_run(sfn, STACK, "twice")


def test_a_stack_without_state_machine_outputs_is_refused_by_name():
    class Stack:
        def describe_stacks(self, StackName: str) -> dict[str, Any]:
            return {"Stacks": [{"Outputs": [{"OutputKey": "Other", "OutputValue": "x"}]}]}

    with pytest.raises(runs.RunsRefusal, match="stack 'other' has none of the outputs TrainingPipelineArn"):
        runs.stack_runs(Stack(), "other")


@pytest.mark.parametrize(
    ("pipeline", "record", "said"),
    [
        (
            "training",
            {"status": "succeeded", "model_package_version": 3, "approval_status": "Approved"},
            "registered v3",
        ),
        (
            "training",
            {"status": "succeeded", "model_package_version": 4, "approval_status": "PendingManualApproval"},
            "registered v4 (PendingManualApproval)",
        ),
        ("training", {"status": "gated_out", "reasons": ["pr_auc 0.41 < 0.50"]}, "gated out: pr_auc 0.41 < 0.50"),
        ("training", {"status": "quarantined", "reasons": ["values.null: 3 missing"]}, "quarantined: values.null"),
        ("training", {"status": "failed", "error": {"Error": "JobFailed", "Cause": "..."}}, "failed: JobFailed"),
        ("training", {"status": "duplicate", "earlier_run": {"run_id": "orders-1"}}, "same content as run orders-1"),
        ("batch", {"status": "succeeded", "summary": {"rows": 120}}, "scored 120 orders"),
        ("batch", {"status": "quarantined", "reason": "schema.missing_column"}, "quarantined: schema.missing_column"),
        ("training", None, None),
    ],
)
def test_what_a_run_ended_with_in_a_few_words(pipeline, record, said):
    assert runs.outcome_text(pipeline, record) == said


def test_a_monitoring_run_links_its_report_and_a_deployment_its_record():
    measured = {
        "measure": {"report_html_uri": "s3://a/monitoring/e/w/report.html", "report_uri": "s3://a/m/report.json"}
    }

    assert runs.links_of("monitoring", measured, None) == {
        "report": "s3://a/monitoring/e/w/report.html",
        "record": "s3://a/m/report.json",
    }
    assert runs.links_of("deployment", {"record": {"record_uri": "s3://a/deployments/x.json"}}, None) == {
        "record": "s3://a/deployments/x.json"
    }
    assert runs.links_of("deployment", {"record": {"record_uri": None}}, None) == {}


def test_the_final_state_of_a_failed_run_is_its_last_state_s_output():
    history = [
        exited(5, 4, "Task", "RecordFailure", 1.0)
        | {
            "stateExitedEventDetails": {
                "name": "RecordFailure",
                "output": '{"outcome": {"report_uri": "s3://a/r.html"}}',
            }
        }
    ]

    assert runs.final_state({"status": "FAILED"}, history) == {"outcome": {"report_uri": "s3://a/r.html"}}
    assert runs.final_state({"output": '{"measure": {}}'}, history) == {"measure": {}}


@pytest.mark.parametrize(
    ("seconds", "said"), [(None, "-"), (0.04, "0.0s"), (12.34, "12.3s"), (245, "4m05s"), (7380, "2h03m")]
)
def test_durations_read_as_people_say_them(seconds, said):
    assert runs.duration(seconds) == said
