"""`cd4ml smoke`'s verdicts on AWS's own answers (DescribeStacks, DescribeExecution, the decision API's replies),
the run followed through a Step Functions client, the generated data the API and the validation accept, and the
command's clear failures for a stack that is missing, incomplete or unreachable without credentials."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cd4ml_shared.decisions import parse_order
from cd4ml_shared.ingest import assess
from cd4ml_shared.run_input import DatasetRef
from moto import mock_aws

from cd4ml.cli import main
from cd4ml.decision_client import DecisionReply
from cd4ml.smoke import (
    REQUIRED_OUTPUTS,
    SMOKE_CUSTOMER,
    SmokeFailure,
    code_check,
    decision_check,
    follow_execution,
    run_check,
    smoke_dataset,
    smoke_key,
    smoke_order,
    stack_check,
)

STACK = "cd4ml-staging"
ARTIFACTS = "cd4ml-staging-artifactsbucket-1x2y3z"
PIPELINE = "arn:aws:states:eu-west-1:111122223333:stateMachine:cd4ml-staging-training-pipeline"
RUN = "orders-2026-12-02-smoke-2a8407761c81c650"
EXECUTION = PIPELINE.replace(":stateMachine:", ":execution:") + f":{RUN}"
SHA = "0f3c2a9e41d5b7c8e9f00112233445566778899a"
OUTPUTS = {
    "RawDataBucketName": "cd4ml-staging-rawdatabucket-1a2b3c",
    "ArtifactsBucketName": ARTIFACTS,
    "NotificationTopicArn": "arn:aws:sns:eu-west-1:111122223333:cd4ml-staging-NotificationTopic-AB12",
    "TrainingPipelineArn": PIPELINE,
    "ModelPackageGroupName": f"{STACK}-fraud",
    "EndpointName": f"{STACK}-fraud",
    "ModelCodeUri": f"s3://{ARTIFACTS}/code/{SHA}/",
    "DecisionApiUrl": "https://k3x9q2w1ab.execute-api.eu-west-1.amazonaws.com/",
}
REGISTERED_STATES = [
    "ValidateData", "DataAccepted", "FindEarlierRun", "SameContent", "BuildFeatures", "Train", "FindChampion",
    "Evaluate", "Gate", "GatePassed", "Register", "RecordSuccess", "ModelRegistered",
]  # fmt: skip


def describe_stacks(status: str = "UPDATE_COMPLETE", outputs: dict[str, str] = OUTPUTS, **extra: Any) -> dict:
    """DescribeStacks' answer as boto3 returns it."""
    return {
        "Stacks": [
            {
                "StackId": f"arn:aws:cloudformation:eu-west-1:111122223333:stack/{STACK}/4a1c9e60-8f1e-11ef-9c3b",
                "StackName": STACK,
                "CreationTime": datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
                "LastUpdatedTime": datetime(2026, 12, 2, 7, 0, tzinfo=UTC),
                "StackStatus": status,
                "Capabilities": ["CAPABILITY_IAM"],
                "Outputs": [
                    {"OutputKey": key, "OutputValue": value, "Description": f"{key} of the stack"}
                    for key, value in outputs.items()
                ],
                **extra,
            }
        ],
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }


def describe_execution(status: str, **extra: Any) -> dict:
    """DescribeExecution's answer as boto3 returns it."""
    return {
        "executionArn": EXECUTION,
        "stateMachineArn": PIPELINE,
        "name": RUN,
        "status": status,
        "startDate": datetime(2026, 12, 2, 7, 23, tzinfo=UTC),
        "input": json.dumps({"run_id": RUN}),
        "inputDetails": {"included": True},
        **({} if status == "RUNNING" else {"stopDate": datetime(2026, 12, 2, 7, 41, tzinfo=UTC)}),
        **extra,
    }


# ---- the stack ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"])
def test_a_completed_stack_with_every_output_passes(status: str) -> None:
    verdict, outputs = stack_check(STACK, describe_stacks(status))

    assert verdict.passed, verdict.detail
    assert outputs["TrainingPipelineArn"] == PIPELINE
    assert verdict.detail == f"stack {STACK} {status}, {len(OUTPUTS)} outputs"


@pytest.mark.parametrize(
    "status", ["UPDATE_ROLLBACK_COMPLETE", "ROLLBACK_COMPLETE", "UPDATE_IN_PROGRESS", "DELETE_COMPLETE"]
)
def test_a_stack_not_at_a_completed_deploy_fails_with_its_status(status: str) -> None:
    answer = describe_stacks(status, StackStatusReason="Resource creation cancelled")

    verdict, _ = stack_check(STACK, answer)

    assert not verdict.passed
    assert f"is {status} (Resource creation cancelled)" in verdict.detail


def test_a_stack_missing_an_output_fails_naming_it() -> None:
    outputs = {k: v for k, v in OUTPUTS.items() if k != "DecisionApiUrl"}

    verdict, _ = stack_check(STACK, describe_stacks(outputs=outputs))

    assert not verdict.passed
    assert verdict.detail.startswith(f"stack {STACK} has no output DecisionApiUrl (it has: ArtifactsBucketName, ")
    assert verdict.facts["missing_outputs"] == ["DecisionApiUrl"]


def test_every_output_the_checks_read_is_one_the_template_declares(root: Path) -> None:
    template = (root / "template.yaml").read_text(encoding="utf-8")
    outputs = template[template.index("\nOutputs:\n") :]
    for name in REQUIRED_OUTPUTS:
        assert f"\n  {name}:\n" in outputs, name


# ---- the code -----------------------------------------------------------------------------------------------------
def test_published_code_of_the_deployed_version_passes() -> None:
    manifest = {"version": SHA, "sha256": "1fb36032bc33aacb" + "0" * 48, "files": {"train.py": "ab"}}

    verdict = code_check(OUTPUTS["ModelCodeUri"], SHA, manifest, [])

    assert verdict.passed
    assert verdict.detail == f"code version {SHA} published (sha256 1fb36032bc33, 1 files)"


def test_a_stack_deployed_with_another_code_version_fails() -> None:
    verdict = code_check(f"s3://{ARTIFACTS}/code/dev/", SHA, {"version": "dev"}, [])

    assert not verdict.passed
    assert verdict.detail == f"the stack runs code version 'dev', not '{SHA}': deploy with ModelCodeVersion={SHA}"


def test_unpublished_code_fails_with_the_command_that_publishes_it() -> None:
    verdict = code_check(OUTPUTS["ModelCodeUri"], None, None, ["manifest.json", "sourcedir.tar.gz"])

    assert not verdict.passed
    assert "(no manifest.json, sourcedir.tar.gz)" in verdict.detail
    assert verdict.detail.endswith(f"cd4ml model publish --bucket {ARTIFACTS} --version {SHA}")


def test_a_model_code_uri_outside_the_code_layout_is_refused() -> None:
    with pytest.raises(SmokeFailure, match=r"is not s3://<bucket>/code/<version>/"):
        code_check(f"s3://{ARTIFACTS}/models/{SHA}/", None, None, [])


# ---- the training run ---------------------------------------------------------------------------------------------
def test_a_run_that_registered_a_model_passes() -> None:
    outcome = {
        "run_id": RUN,
        "status": "succeeded",
        "reasons": [],
        "model_package_arn": f"arn:aws:sagemaker:eu-west-1:111122223333:model-package/{STACK}-fraud/4",
        "model_package_version": 4,
        "approval_status": "PendingManualApproval",
        "report_uri": f"s3://{ARTIFACTS}/runs/{RUN}/report.html",
    }

    verdict = run_check(describe_execution("SUCCEEDED", output="{}"), REGISTERED_STATES, outcome)

    assert verdict.passed
    assert verdict.detail == "registered: model package version 4 (PendingManualApproval)"
    assert verdict.facts["report_uri"].endswith("/report.html")


def test_a_challenger_gated_out_also_proves_the_pipeline() -> None:
    states = [*REGISTERED_STATES[:10], "RecordGatedOut", "ChallengerGatedOut"]
    outcome = {"status": "gated_out", "reasons": ["pr_auc 0.18 is below the minimum 0.2"]}

    verdict = run_check(describe_execution("SUCCEEDED"), states, outcome)

    assert verdict.passed
    assert verdict.detail == "gated out (trained and evaluated, not registered): pr_auc 0.18 is below the minimum 0.2"


def test_a_run_that_trained_nothing_fails() -> None:
    states = ["ValidateData", "DataAccepted", "FindEarlierRun", "SameContent", "RecordDuplicate", "SameAsEarlierRun"]
    outcome = {"status": "duplicate", "reasons": ["same dataset bytes, model code and hyperparameters as run x"]}

    verdict = run_check(describe_execution("SUCCEEDED"), states, outcome)

    assert not verdict.passed
    assert verdict.detail.startswith("nothing trained: same dataset bytes")


def test_a_failed_run_names_the_state_and_the_cause_it_recorded() -> None:
    states = [*REGISTERED_STATES[:6], "RecordFailure", "FailureKind", "PipelineFailed"]
    outcome = {"status": "failed", "reasons": ["TrainingJobFailed: cd4ml-4a1c-train-0: AlgorithmError: out of memory"]}
    described = describe_execution("FAILED", error="TrainingJobFailed", cause='{"reason": "AlgorithmError"}')

    verdict = run_check(described, states, outcome)

    assert not verdict.passed
    assert verdict.detail == "FAILED in Train: TrainingJobFailed: cd4ml-4a1c-train-0: AlgorithmError: out of memory"
    assert verdict.facts["failed_state"] == "Train"


def test_a_quarantined_smoke_dataset_fails_in_validation() -> None:
    states = ["ValidateData", "DataAccepted", "RecordQuarantine", "DataQuarantined"]
    outcome = {"status": "quarantined", "reasons": ["time.stale_data: the newest order is 9.0 days old"]}
    described = describe_execution("FAILED", error="DataQuality.Quarantined", cause="time.stale_data")

    verdict = run_check(described, states, outcome)

    assert verdict.detail == "FAILED in DataAccepted: time.stale_data: the newest order is 9.0 days old"


@pytest.mark.parametrize("status", ["TIMED_OUT", "ABORTED"])
def test_a_run_stopped_before_its_record_fails_with_the_execution_s_error(status: str) -> None:
    described = describe_execution(status, error="States.Timeout", cause="execution timed out")

    verdict = run_check(described, REGISTERED_STATES[:6], {})

    assert verdict.detail == f"{status} in Train: States.Timeout: execution timed out"


class FakeStepFunctions:
    """A Step Functions client whose execution appears after `appears` calls and then runs through `states`, one
    state per DescribeExecution call, ending `final`."""

    def __init__(self, states: list[str], final: str, appears: int = 2) -> None:
        self.states, self.final, self.appears, self.calls = states, final, appears, 0
        self.shown = 0

    def describe_execution(self, executionArn: str) -> dict:
        self.calls += 1
        if self.calls <= self.appears:
            error = {
                "Error": {"Code": "ExecutionDoesNotExist", "Message": f"Execution Does Not Exist: '{executionArn}'"}
            }
            raise ClientError(error, "DescribeExecution")
        self.shown = min(self.shown + 1, len(self.states))
        return describe_execution(self.final if self.shown == len(self.states) else "RUNNING")

    def get_execution_history(self, executionArn: str, maxResults: int, nextToken: str | None = None) -> dict:
        # two pages, as AWS pages a long history
        events = [
            {"id": i + 2, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}}
            for i, name in enumerate(self.states[: self.shown])
        ]
        half = len(events) // 2
        if nextToken is None and half:
            return {"events": events[:half], "nextToken": "page-2"}
        return {"events": events[half:] if nextToken else events}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_following_a_run_reports_each_state_once_in_order_and_returns_its_end() -> None:
    sfn, clock = FakeStepFunctions(REGISTERED_STATES, "SUCCEEDED"), FakeClock()
    seen: list[str] = []

    described, entered = follow_execution(
        sfn, EXECUTION, timeout_s=600, progress=lambda state, _at: seen.append(state), clock=clock, sleep=clock.sleep
    )

    assert described["status"] == "SUCCEEDED"
    assert entered == seen == REGISTERED_STATES


def test_a_run_that_never_starts_fails_after_the_start_timeout() -> None:
    sfn, clock = FakeStepFunctions(REGISTERED_STATES, "SUCCEEDED", appears=10**6), FakeClock()

    with pytest.raises(SmokeFailure, match=r"no run started within 180s: no execution arn:aws:states:.*smoke"):
        follow_execution(sfn, EXECUTION, timeout_s=3600, clock=clock, sleep=clock.sleep)
    assert 180 < clock.now < 190


def test_a_run_still_running_at_the_timeout_fails_naming_the_option() -> None:
    sfn, clock = FakeStepFunctions(["ValidateData"] * 10_000, "SUCCEEDED"), FakeClock()

    with pytest.raises(SmokeFailure, match=r"did not finish within 60s \(still RUNNING after \d+ states; --timeout\)"):
        follow_execution(sfn, EXECUTION, timeout_s=60, clock=clock, sleep=clock.sleep)


# ---- the decision -------------------------------------------------------------------------------------------------
def reply(status: int, body: dict[str, Any]) -> DecisionReply:
    return DecisionReply(status, body, 0.085, {"content-type": "application/json"})


APPROVED = {
    "inference_id": "5b0c3a52-0d8f-4a57-8d3c-61f0e8b1a9c2",
    "order_id": "smoke-1",
    "decision": "approve",
    "score": 0.0268,
    "model_version": 3,
    "thresholds": {"review_above": 0.1, "decline_above": 0.5},
}
NO_ENDPOINT = {
    "message": "no decision now: endpoint cd4ml-prod-fraud: Could not find endpoint "
    "'arn:aws:sagemaker:eu-west-1:111122223333:endpoint/cd4ml-prod-fraud'."
}


def test_a_decision_by_a_model_version_passes() -> None:
    verdict = decision_check(reply(200, APPROVED), None, require_decision=True)

    assert verdict.passed
    assert verdict.detail == "approve by model version 3 (score 0.0268, 85.0 ms)"


@pytest.mark.parametrize(
    ("change", "problem"),
    [({"decision": "maybe"}, "200 with decision 'maybe'"), ({"model_version": None}, "200 with model_version None")],
)
def test_a_200_without_a_real_decision_fails(change: dict[str, Any], problem: str) -> None:
    verdict = decision_check(reply(200, {**APPROVED, **change}), None, require_decision=False)

    assert not verdict.passed and verdict.detail.startswith(problem)


@pytest.mark.parametrize("endpoint", ["missing", "Creating"])
def test_no_model_in_service_passes_unless_a_decision_is_required(endpoint: str) -> None:
    optional = decision_check(reply(503, NO_ENDPOINT), endpoint, require_decision=False)
    required = decision_check(reply(503, NO_ENDPOINT), endpoint, require_decision=True)

    assert optional.passed and optional.facts["no_model_in_service"]
    assert optional.detail.startswith("no model in service (the endpoint ")
    assert not required.passed and required.detail.endswith("a decision is required (--require-decision)")


def test_a_503_while_the_endpoint_serves_fails() -> None:
    busy = reply(503, {"message": "no decision now: endpoint cd4ml-prod-fraud: Rate exceeded"})

    verdict = decision_check(busy, "InService", require_decision=False)

    assert not verdict.passed and verdict.detail.startswith("HTTP 503: no decision now")


def test_a_refused_signature_fails_with_the_api_s_message() -> None:
    verdict = decision_check(reply(403, {"message": "Forbidden"}), None, require_decision=False)

    assert not verdict.passed and verdict.detail == "HTTP 403: Forbidden"


# ---- the generated data -------------------------------------------------------------------------------------------
def test_the_smoke_order_is_a_valid_decision_request_of_the_synthetic_customer() -> None:
    now = datetime(2026, 12, 2, 7, 30, tzinfo=UTC)

    first, second = smoke_order(7, now), smoke_order(7, now)

    assert parse_order(json.dumps(first)) == first
    assert first["customer_id"] == SMOKE_CUSTOMER and first["order_ts"] == now.isoformat()
    assert first["order_id"] != second["order_id"]  # a second smoke test is a new order, not a replay


def test_the_smoke_dataset_passes_validation_under_the_template_s_default_freshness() -> None:
    now = datetime.now(UTC)
    body, rows = smoke_dataset(11, now)
    key = smoke_key(now, 11)
    dataset = DatasetRef(bucket="raw", key=key, version_id="v1", etag="e", size=len(body))

    assessment = assess(body, dataset, reference=None, run_id="smoke", now=now, max_age_days=7)

    assert assessment.passed, assessment.summary
    assert rows == assessment.rows == 2_000
    assert dataset.dataset == "orders" and "/smoke/" in key


# ---- the command --------------------------------------------------------------------------------------------------
@pytest.fixture
def aws() -> Any:
    with mock_aws():
        yield boto3.session.Session(region_name="us-east-1")


SAMCONFIG = Path(__file__).resolve().parents[3] / "samconfig.toml"


def smoke(*args: str) -> int:
    return main(["smoke", "--config-file", str(SAMCONFIG), *args])


def test_a_stack_that_does_not_exist_fails_without_a_traceback(
    aws: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = smoke("--stack-name", "cd4ml-nowhere", "--read-only", "--json", str(tmp_path / "smoke.json"))

    out = capsys.readouterr()
    assert code == 1
    lines = out.out.splitlines()
    assert lines[1].startswith("FAIL  stack ") and "stack cd4ml-nowhere does not exist here" in lines[1]
    assert lines[2].startswith("SKIP  decision ")
    assert lines[-1] == "smoke test FAILED: stack, decision"
    assert "Traceback" not in out.out + out.err
    result = json.loads((tmp_path / "smoke.json").read_text())
    assert result["passed"] is False and [c["status"] for c in result["checks"]] == ["fail", "skip"]


def test_a_deployed_stack_missing_outputs_fails_naming_them(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {k: {"Value": v} for k, v in OUTPUTS.items() if k not in ("EndpointName", "ModelCodeUri")},
    }
    aws.client("cloudformation").create_stack(StackName="cd4ml-dev", TemplateBody=json.dumps(template))

    code = smoke("--code-version", SHA)  # dev: samconfig.toml's stack

    out = capsys.readouterr().out
    assert code == 1
    assert "stack cd4ml-dev has no output ModelCodeUri, EndpointName (it has: " in out
    assert [line.split()[:2] for line in out.splitlines()[1:4]] == [
        ["FAIL", "stack"], ["SKIP", "code"], ["SKIP", "training"],
    ]  # fmt: skip


def test_no_credentials_is_said_plainly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    code = smoke("--read-only", "--endpoint-url", "http://127.0.0.1:9")

    out = capsys.readouterr()
    assert code == 1
    assert "FAIL  stack" in out.out and "no AWS credentials found" in out.out
    assert "Traceback" not in out.out + out.err


def test_an_unknown_samconfig_environment_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke("--config-env", "qa") == 2
    assert "has no environment 'qa'" in capsys.readouterr().err
