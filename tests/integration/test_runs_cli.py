"""A person following runs of the project's template on the local cloud with the CLI, as against AWS: a small
training run that registers a model and a quarantined one, then `cd4ml runs list`, `cd4ml runs show <run>` (each
state's duration, the outcome, the report) and `cd4ml logs <run>` (every function's lines of that run and no other,
by time, with its SageMaker jobs' output), through `cd4ml.cli.main` with the local cloud's --endpoint-url."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest
from cd4ml_shared.run_input import execution_name
from quick_model import FAST_TRAINING
from trained_model import START, published

from cd4ml import run_logs
from cd4ml.cli import main
from cd4ml.data import Fault, generate_orders
from cd4ml.localcloud import LocalCloud
from cd4ml.pipeline_driver import RunResult

pytestmark = pytest.mark.integration

STACK = "cd4ml-dev"
# registration left for a person: no deployment starts, so the runs here are the only ones
PARAMETERS = {"Stage": "dev", "ModelApprovalStatus": "PendingManualApproval", **FAST_TRAINING}
TRAINING_STATES = [
    "ValidateData",
    "FindEarlierRun",
    "BuildFeatures",
    "Train",
    "FindChampion",
    "Evaluate",
    "Gate",
    "Register",
    "RecordSuccess",
]
# the functions a registering run passes through that log what they did
RUN_FUNCTIONS = {
    "StartPipelineFunction",
    "ValidateDatasetFunction",
    "StartJobFunction",
    "JobCompletionFunction",
    "EvaluationGateFunction",
    "RegisterModelFunction",
    "RecordOutcomeFunction",
}


@pytest.fixture(scope="module")
def cloud(root) -> Iterator[LocalCloud]:
    with LocalCloud.deployed(root / "template.yaml", PARAMETERS, stack_name=STACK) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def runs(cloud: LocalCloud) -> dict[str, RunResult]:
    """A run that registers v1, then a run of data with missing values (quarantined)."""
    driver = published(cloud)
    good = driver.run(generate_orders(4_000, seed=1, start=START, days=14), f"datasets/orders/{START:%Y-%m-%d}/a.csv")
    assert good.status == "SUCCEEDED", good.cause
    faulty = generate_orders(4_000, seed=2, start=START, days=14, faults=[Fault.MISSING_VALUES])
    bad = driver.run(faulty, f"datasets/orders/{START:%Y-%m-%d}/b.csv")
    assert bad.status == "FAILED" and bad.outcome["status"] == "quarantined", bad.cause
    return {"good": good, "bad": bad}


def name_of(run: RunResult) -> str:
    return run.execution_arn.rsplit(":", 1)[-1]


def cd4ml(cloud: LocalCloud, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`cd4ml ARGS... --stack-name cd4ml-dev --endpoint-url <local cloud>`: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main([*args, "--stack-name", STACK, "--region", cloud.region, "--endpoint-url", cloud.endpoint_url])
    out, err = capsys.readouterr()
    return code, out, err


def logged(cloud: LocalCloud, capsys: pytest.CaptureFixture[str], run: str, until: set[str]) -> list[str]:
    """`cd4ml logs RUN`'s lines, once lines of every function in `until` are there (the runtime ships function
    output to CloudWatch Logs in the background, a fraction of a second after it is printed)."""
    deadline = time.monotonic() + 20
    while True:
        code, out, err = cd4ml(cloud, capsys, "logs", run)
        assert code == 0, err
        lines = out.splitlines()
        if until <= {line.split(" ", 2)[1] for line in lines} or time.monotonic() > deadline:
            return lines
        time.sleep(0.5)


def test_runs_list_shows_the_stacks_runs_newest_first_with_their_outcome(cloud, runs, capsys):
    good, bad = name_of(runs["good"]), name_of(runs["bad"])

    code, out, err = cd4ml(cloud, capsys, "runs", "list")

    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["RUN", "PIPELINE", "STATUS", "STARTED", "DURATION", "OUTCOME"]
    started = [row.split()[3:5] for row in rows]
    assert started == sorted(started, reverse=True)  # newest first
    ours = [row for row in rows if row.split()[0] in (good, bad)]  # the follow test below may add a run
    assert [row.split()[:3] for row in ours] == [[bad, "training", "FAILED"], [good, "training", "SUCCEEDED"]]
    assert ours[0].endswith("quarantined: values.null")
    assert ours[1].endswith("registered v1 (PendingManualApproval)")

    code, out, err = cd4ml(cloud, capsys, "runs", "list", "--status", "SUCCEEDED", "--pipeline", "training", "--json")
    assert code == 0, err
    [listed] = json.loads(out)
    assert (listed["name"], listed["status"], listed["outcome"]) == (
        good,
        "SUCCEEDED",
        "registered v1 (PendingManualApproval)",
    )
    assert 0 < listed["seconds"] <= runs["good"].seconds


def test_runs_show_gives_each_states_duration_the_outcome_and_the_report(cloud, runs, capsys):
    good = name_of(runs["good"])
    artifacts = cloud.physical_id("ArtifactsBucket")

    code, out, err = cd4ml(cloud, capsys, "runs", "show", good, "--json")

    assert code == 0, err
    shown = json.loads(out)
    assert shown["summary"]["status"] == "SUCCEEDED" and shown["ended_in"] == "ModelRegistered"
    assert shown["summary"]["outcome"] == "registered v1 (PendingManualApproval)"
    assert [state["name"] for state in shown["states"]] == TRAINING_STATES
    assert all(state["seconds"] > 0 and len(state["attempts"]) == 1 for state in shown["states"])
    assert sum(state["seconds"] for state in shown["states"]) <= shown["summary"]["seconds"]
    assert shown["inputs"]["dataset"].endswith(f"datasets/orders/{START:%Y-%m-%d}/a.csv")
    assert shown["inputs"]["version"] and shown["failures"] == [] and shown["error"] is None
    assert shown["links"]["report"] == f"s3://{artifacts}/runs/{good}/report.html"
    assert shown["links"]["evaluation"].startswith(f"s3://{artifacts}/runs/{good}/")

    code, out, err = cd4ml(cloud, capsys, "runs", "show", good)
    assert code == 0, err
    assert "  outcome:    registered v1 (PendingManualApproval)" in out.splitlines()
    assert any(line.split()[:1] == ["Train"] for line in out.splitlines())

    code, out, err = cd4ml(cloud, capsys, "runs", "show", good, "--presign", "--json")
    assert code == 0, err
    url = json.loads(out)["links"]["report"]
    assert url.startswith(cloud.endpoint_url) and "Signature" in url
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert b"<html" in answer.read().lower()


def test_runs_show_says_why_a_quarantined_run_failed(cloud, runs, capsys):
    bad = name_of(runs["bad"])

    code, out, err = cd4ml(cloud, capsys, "runs", "show", bad, "--json")

    assert code == 0, err
    shown = json.loads(out)
    assert (shown["summary"]["status"], shown["ended_in"]) == ("FAILED", "DataQuarantined")
    assert shown["summary"]["outcome"] == "quarantined: values.null"
    assert [state["name"] for state in shown["states"]] == ["ValidateData", "RecordQuarantine"]
    assert shown["error"] == "DataQuality.Quarantined" and "are missing" in shown["cause"]
    code, out, err = cd4ml(cloud, capsys, "runs", "show", bad)
    assert "  error:      DataQuality.Quarantined: " in out


def test_a_run_the_stack_does_not_have_is_refused_by_name(cloud, runs, capsys):
    code, out, err = cd4ml(cloud, capsys, "runs", "show", "orders-2026-01-01-0000000000000000")

    assert code == 2 and out == ""
    assert "no run 'orders-2026-01-01-0000000000000000' in stack cd4ml-dev" in err


def test_logs_of_a_run_are_every_functions_lines_of_that_run_by_time(cloud, runs, capsys):
    good, bad = name_of(runs["good"]), name_of(runs["bad"])
    job_prefix = json.loads(
        cloud.client("stepfunctions").describe_execution(executionArn=runs["good"].execution_arn)["input"]
    )["job_prefix"]

    lines = logged(cloud, capsys, good, RUN_FUNCTIONS)

    sources = [line.split(" ", 3)[1] for line in lines]
    assert set(sources) >= RUN_FUNCTIONS
    functions = {source for source in sources if source.endswith("Function")}
    assert functions <= RUN_FUNCTIONS | {"FindEarlierRunFunction"}  # nothing of the quarantined run's
    jobs = {source for source in sources if not source.endswith("Function")}
    assert jobs == {f"{job_prefix}-features-0", f"{job_prefix}-train-0", f"{job_prefix}-evaluate-0"}
    assert bad not in "\n".join(lines)
    times = [line.split(" ", 1)[0] for line in lines]
    assert times == sorted(times)
    assert any(
        line.split(" ", 3)[1:3] == ["RegisterModelFunction", "INFO"] and "model registered" in line for line in lines
    )

    quarantined = logged(cloud, capsys, bad, {"ValidateDatasetFunction", "RecordOutcomeFunction"})
    assert {line.split(" ", 3)[1] for line in quarantined} == {
        "StartPipelineFunction",
        "ValidateDatasetFunction",
        "RecordOutcomeFunction",
    }
    assert good not in "\n".join(quarantined)


def test_the_local_cloud_filters_function_logs_by_correlation_id_as_cloudwatch_does(cloud, runs, capsys):
    """The lines `cd4ml logs` asks for, asked of the local cloud's CloudWatch Logs directly: with the JSON pattern
    only the run's lines come back, and each carries the run's id as its correlation id and the stack as its service."""
    good = name_of(runs["good"])
    logged(cloud, capsys, good, RUN_FUNCTIONS)  # shipped by now
    logs = cloud.client("logs")
    pattern = f'{{ $.correlation_id = "{good}" }}'

    for logical_id in (
        "ValidateDatasetFunction",
        "StartJobFunction",
        "EvaluationGateFunction",
        "RecordOutcomeFunction",
    ):
        group = f"/aws/lambda/{cloud.physical_id(logical_id)}"
        every = logs.filter_log_events(logGroupName=group)["events"]
        matched = logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"]
        records = [json.loads(event["message"]) for event in matched]
        assert records and all(record["correlation_id"] == good for record in records), logical_id
        # the `service` of every line is the stack (POWERTOOLS_SERVICE_NAME): stages sharing an account stay apart
        assert {record["service"] for record in records} == {STACK}, logical_id
        assert len(matched) < len(every)  # START/REPORT lines, and the other run's lines where it had some

    jobs = logs.filter_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="no-such-job")
    assert jobs["events"] == []


def test_logs_follow_a_run_from_before_it_starts_until_it_has_ended(cloud, runs, capsys, monkeypatch):
    """`cd4ml logs <run> --follow` right after the upload, as a person watching the run: the run is found once it
    starts, its lines print as they come, and the command ends by itself after the execution."""
    monkeypatch.setattr(run_logs, "SETTLE_S", 2.0)  # the last look after the end: seconds here, not ten
    driver = published(cloud)
    upload = driver.upload(
        generate_orders(4_000, seed=3, start=START, days=14, faults=[Fault.MISSING_VALUES]),
        f"datasets/orders/{START:%Y-%m-%d}/c.csv",
    )
    run = execution_name(upload)

    code, out, err = cd4ml(cloud, capsys, "logs", run, "--follow")

    assert code == 0, err
    sources = [line.split(" ", 2)[1] for line in out.splitlines()]
    assert {"StartPipelineFunction", "ValidateDatasetFunction", "RecordOutcomeFunction"} <= set(sources)
    assert sources[-1] == "RecordOutcomeFunction" and "run recorded" in out.splitlines()[-1]
    assert cloud.client("stepfunctions").describe_execution(executionArn=driver.execution_arn(upload))["status"] == (
        "FAILED"
    )
