"""`cd4ml smoke`: a deployed stack checked as CI checks it after `sam deploy`, against AWS or the local cloud: its
state and outputs, the model code of the deployed version, a small generated dataset through the training pipeline,
and one signed decision. `--read-only` (production) keeps to the outputs and the decision and writes nothing.

The verdicts (`stack_check`, `code_check`, `run_check`, `decision_check`) are plain functions of AWS's answers; the
rest asks AWS and tells the story line by line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from cd4ml_shared.aws.client_errors import error_code, error_message
from cd4ml_shared.layout import code_prefix
from cd4ml_shared.run_input import DatasetRef, execution_name
from cd4ml_shared.s3_uri import parse_s3_uri

from .decision_client import DecisionClient, DecisionReply, decision_requests
from .pipeline_driver import STAGES
from .samconfig import DEFAULT_FILE, SamConfigError, read_deploy_config

# Every output a check reads; a stack without one of them is not the project's stack (or an old version of it).
REQUIRED_OUTPUTS = (
    "RawDataBucketName",
    "ArtifactsBucketName",
    "TrainingPipelineArn",
    "ModelCodeUri",
    "ModelPackageGroupName",
    "EndpointName",
    "DecisionApiUrl",
)
DECISIONS = ("approve", "review", "decline")
# The smoke dataset: over the contract's 1,000-row minimum with enough positives for the evaluation and the gate
# to compute their metrics, small enough to train in seconds on the local cloud. It ends at today's midnight
# (`recent_start`), so the freshness rule (DatasetMaxAgeDays, 7 by default) accepts it.
SMOKE_ROWS = 2_000
SMOKE_DAYS = 14
SMOKE_FRAUD_RATE = 0.05
# Under `datasets/orders/`: the dataset name picks the contract (a `datasets/smoke/` upload would be quarantined as
# `dataset.unknown`); the `smoke/` folder names the run `orders-<date>-smoke-<digest>`, recognisable in any listing.
SMOKE_FOLDER = "smoke"
# The decision's customer: one synthetic customer whose online state the smoke decisions fold into, so that a
# production smoke test never touches a real customer's features.
SMOKE_CUSTOMER = "cd4ml-smoke"
DEFAULT_TIMEOUT_S = 2_700.0  # GPU training on AWS takes 15-30 minutes with its feature and evaluation jobs
START_TIMEOUT_S = 180.0  # EventBridge delivers an upload's event in seconds; a run not started by then never will
MAX_POLL_S = 5.0  # Step Functions' DescribeExecution/GetExecutionHistory are throttled per account: poll gently
MAX_RETRY_AFTER_S = 10.0
DECISION_ATTEMPTS = 3  # a 503 with an endpoint in service is a brief one (throttled, contended): tried again
OUTCOMES = {"succeeded": "registered", "gated_out": "gated out"}  # run statuses that prove the pipeline

Status = Literal["pass", "fail", "skip"]


class SmokeFailure(Exception):
    """A check cannot go on: the fact that went wrong, said for the person reading the CI log."""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    seconds: float = 0.0
    facts: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.status.upper():<4}  {self.name:<12} {self.seconds:7.1f}s  {self.detail}"


@dataclass(frozen=True)
class SmokeOptions:
    stack_name: str
    read_only: bool = False
    require_decision: bool = False
    code_version: str | None = None  # None: whatever version the stack's ModelCodeUri names
    timeout_s: float = DEFAULT_TIMEOUT_S
    seed: int | None = None  # None: from the clock, so that every smoke run uploads new content and trains


@dataclass(frozen=True)
class Aws:
    """Where the checks reach AWS: a client per service (bound to the region and endpoint), and what signs the
    decision request."""

    client: Callable[[str], Any]
    region: str
    credentials: Credentials | None


# ---- verdicts: plain values in, a verdict out ---------------------------------------------------------------------
def healthy_stack_status(status: str) -> bool:
    """CREATE_COMPLETE, UPDATE_COMPLETE, IMPORT_COMPLETE: a stack that is what its last deploy asked for. A rolled-back
    update (UPDATE_ROLLBACK_COMPLETE) is complete but runs the previous template; DELETE_COMPLETE is gone."""
    return status.endswith("_COMPLETE") and "ROLLBACK" not in status and not status.startswith("DELETE")


def stack_check(stack_name: str, answer: Mapping[str, Any]) -> tuple[Verdict, dict[str, str]]:
    """The verdict on DescribeStacks' answer for the stack, and its outputs by name."""
    stacks = answer.get("Stacks") or []
    if not stacks:
        return Verdict(False, f"stack {stack_name}: DescribeStacks answered no stack"), {}
    stack = stacks[0]
    status = str(stack.get("StackStatus", ""))
    outputs = {o["OutputKey"]: str(o.get("OutputValue") or "") for o in stack.get("Outputs") or []}
    facts: dict[str, Any] = {"stack_status": status, "outputs": sorted(outputs)}
    if not healthy_stack_status(status):
        reason = f" ({stack['StackStatusReason']})" if stack.get("StackStatusReason") else ""
        return Verdict(False, f"stack {stack_name} is {status}{reason}, not a completed deploy", facts), outputs
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        facts["missing_outputs"] = missing
        have = ", ".join(sorted(outputs)) or "none"
        return (
            Verdict(False, f"stack {stack_name} has no output {', '.join(missing)} (it has: {have})", facts),
            outputs,
        )
    return Verdict(True, f"stack {stack_name} {status}, {len(outputs)} outputs", facts), outputs


def code_version_of(model_code_uri: str) -> str:
    """The version in the stack's `ModelCodeUri` output (`s3://<artifacts>/code/<version>/`)."""
    try:
        _, prefix = parse_s3_uri(model_code_uri)
    except ValueError as error:
        raise SmokeFailure(f"output ModelCodeUri {model_code_uri!r}: {error}") from None
    version = prefix.removeprefix(code_prefix("").rstrip("/") + "/").strip("/")  # code/<version>/
    if not version or "/" in version or code_prefix(version) != prefix.rstrip("/") + "/":
        raise SmokeFailure(f"output ModelCodeUri {model_code_uri!r} is not s3://<bucket>/{code_prefix('<version>')}")
    return version


def code_check(
    model_code_uri: str, wanted: str | None, manifest: Mapping[str, Any] | None, missing: Sequence[str]
) -> Verdict:
    """Whether the stack runs the code version CI published: the version the stack names (its ModelCodeVersion) is
    `wanted`, and its manifest and training tarball are there (`missing`: the files that are not)."""
    version = code_version_of(model_code_uri)
    facts: dict[str, Any] = {"code_version": version, "model_code_uri": model_code_uri}
    if wanted is not None and version != wanted:
        return Verdict(
            False,
            f"the stack runs code version {version!r}, not {wanted!r}: deploy with ModelCodeVersion={wanted}",
            facts,
        )
    if missing or manifest is None:
        bucket, _ = parse_s3_uri(model_code_uri)
        absent = ", ".join(missing) or "manifest.json"
        return Verdict(
            False,
            f"code version {version} is not published at {model_code_uri} (no {absent}): "
            f"cd4ml model publish --bucket {bucket} --version {version}",
            facts,
        )
    if manifest.get("version") != version:
        return Verdict(
            False, f"{model_code_uri}manifest.json names version {manifest.get('version')!r}, not {version!r}", facts
        )
    facts.update(sha256=manifest.get("sha256"), git_commit=manifest.get("git_commit"))
    files = len(manifest.get("files") or {})
    return Verdict(
        True, f"code version {version} published (sha256 {str(manifest.get('sha256'))[:12]}, {files} files)", facts
    )


def failed_state(entered: Sequence[str]) -> str | None:
    """The state a failed run failed in: the last one entered before the pipeline started recording the failure
    (or the quarantine); the last state entered when it never got there (a timeout, an abort)."""
    for recorder in ("RecordFailure", "RecordQuarantine"):
        if recorder in entered:
            index = entered.index(recorder)
            return entered[index - 1] if index else None
    return entered[-1] if entered else None


def run_check(description: Mapping[str, Any], entered: Sequence[str], outcome: Mapping[str, Any]) -> Verdict:
    """The verdict on a finished training run: DescribeExecution's answer, the states it entered in order, and the
    run's outcome.json ({} when it wrote none). A model registered or a challenger gated out both prove every stage
    ran; anything else fails with the state and the cause."""
    status = str(description.get("status"))
    run_status = str(outcome.get("status") or "")
    reasons = "; ".join(str(r) for r in outcome.get("reasons") or [])
    facts: dict[str, Any] = {
        "execution_arn": description.get("executionArn"),
        "execution_status": status,
        "run_status": run_status or None,
        "states": list(entered),
        "report_uri": outcome.get("report_uri"),
    }
    if status == "SUCCEEDED":
        if run_status == "succeeded":
            version, approval = outcome.get("model_package_version"), outcome.get("approval_status")
            facts.update(model_package_arn=outcome.get("model_package_arn"), model_package_version=version)
            return Verdict(True, f"registered: model package version {version} ({approval})", facts)
        if run_status == "gated_out":
            return Verdict(True, f"gated out (trained and evaluated, not registered): {reasons}", facts)
        if run_status == "duplicate":
            return Verdict(False, f"nothing trained: {reasons}", facts)
        last = entered[-1] if entered else "no state"
        return Verdict(False, f"the run SUCCEEDED in {last} with outcome {run_status or 'none'}: {reasons}", facts)
    state = failed_state(entered)
    facts["failed_state"] = state
    cause = reasons or ": ".join(str(p) for p in (description.get("error"), description.get("cause")) if p)
    return Verdict(False, f"{status} in {state or 'no state'}: {cause or 'no cause given'}", facts)


def decision_check(reply: DecisionReply, endpoint_status: str | None, *, require_decision: bool) -> Verdict:
    """The verdict on one decision. A 503 while the endpoint is missing or not InService (`endpoint_status`:
    "missing", "Creating", ...; None when not looked up) is the answer of a stack with no model in service yet:
    it passes unless a decision is required (production)."""
    body = reply.body
    facts: dict[str, Any] = {"http_status": reply.status, "milliseconds": round(reply.seconds * 1000, 1)}
    if reply.status == 200:
        decision, version = body.get("decision"), body.get("model_version")
        facts.update(decision=decision, model_version=version, score=body.get("score"))
        if decision not in DECISIONS:
            return Verdict(False, f"200 with decision {decision!r}, not one of {', '.join(DECISIONS)}", facts)
        if not isinstance(version, int) or isinstance(version, bool):
            return Verdict(False, f"200 with model_version {version!r}, not a version number", facts)
        return Verdict(
            True,
            f"{decision} by model version {version} (score {_score(body.get('score'))}, {facts['milliseconds']} ms)",
            facts,
        )
    message = str(body.get("message", body))[:300]
    if reply.status == 503 and endpoint_status is not None and endpoint_status != "InService":
        facts["no_model_in_service"] = True
        where = "does not exist" if endpoint_status == "missing" else f"is {endpoint_status}"
        text = f"no model in service (the endpoint {where}): 503 {message}"
        if require_decision:
            return Verdict(False, f"{text}; a decision is required (--require-decision)", facts)
        return Verdict(True, text, facts)
    return Verdict(False, f"HTTP {reply.status}: {message}", facts)


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


# ---- what the checks ask AWS ---------------------------------------------------------------------------------------
def describe_stack(cloudformation: Any, stack_name: str) -> dict[str, Any]:
    try:
        answer: dict[str, Any] = cloudformation.describe_stacks(StackName=stack_name)
    except ClientError as error:
        if error_code(error) == "ValidationError":
            raise SmokeFailure(f"stack {stack_name} does not exist here: {error_message(error)}") from None
        raise
    return answer


def published_code(s3: Any, model_code_uri: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The manifest of the code at `model_code_uri` (None if absent) and the files a run needs that are missing."""
    bucket, prefix = parse_s3_uri(model_code_uri)
    missing: list[str] = []
    manifest: dict[str, Any] | None = None
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}manifest.json")["Body"].read())
    except ClientError as error:
        if error_code(error) not in ("NoSuchKey", "404"):
            raise
        missing.append("manifest.json")
    try:
        s3.head_object(Bucket=bucket, Key=f"{prefix}sourcedir.tar.gz")
    except ClientError as error:
        if error_code(error) not in ("NoSuchKey", "404", "NotFound"):
            raise
        missing.append("sourcedir.tar.gz")
    return manifest, missing


def smoke_dataset(seed: int, today: datetime) -> tuple[bytes, int]:
    """The generated orders as CSV bytes, and their count."""
    from .data import generate_orders, write_dataset  # numpy and pyarrow: only when a run is made
    from .data.orders import recent_start

    table = generate_orders(
        SMOKE_ROWS, seed=seed, start=recent_start(SMOKE_DAYS, today=today.date()), days=SMOKE_DAYS,
        fraud_rate=SMOKE_FRAUD_RATE,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="cd4ml-smoke-") as scratch:
        path = Path(scratch) / "orders.csv"
        write_dataset(table, path)
        return path.read_bytes(), table.num_rows


def smoke_key(now: datetime, seed: int) -> str:
    return f"datasets/orders/{now:%Y-%m-%d}/{SMOKE_FOLDER}/{now:%H%M%S}Z-{seed}.csv"


def upload(s3: Any, bucket: str, key: str, body: bytes) -> DatasetRef:
    """The object as the upload's event names it (version id, ETag without quotes), which names its run."""
    put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    return DatasetRef(
        bucket=bucket, key=key, version_id=put.get("VersionId"), etag=str(put["ETag"]).strip('"'), size=len(body)
    )


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def entered_states(sfn: Any, arn: str) -> list[str]:
    """The states an execution entered, in order (every page of its history)."""
    names: list[str] = []
    request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**request)
        names += [e["stateEnteredEventDetails"]["name"] for e in page["events"] if "stateEnteredEventDetails" in e]
        if not page.get("nextToken"):
            return names
        request["nextToken"] = page["nextToken"]


def follow_execution(
    sfn: Any,
    arn: str,
    *,
    timeout_s: float,
    start_timeout_s: float = START_TIMEOUT_S,
    progress: Callable[[str, float], None] = lambda _state, _at: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], list[str]]:
    """DescribeExecution's answer once the execution `arn` has ended, and the states it entered; each state is
    reported as it is entered. The execution may not exist yet (its event is on the way): waited for up to
    `start_timeout_s`. Polls quickly while things change, then backs off to MAX_POLL_S."""
    started = clock()
    seen = 0
    interval = 0.2
    exists = False
    while True:
        elapsed = clock() - started
        try:
            described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        except ClientError as error:
            if error_code(error) != "ExecutionDoesNotExist":
                raise
            if elapsed > start_timeout_s:
                raise SmokeFailure(
                    f"no run started within {start_timeout_s:.0f}s: no execution {arn} (is the upload rule's "
                    "EventBridge notification on the raw bucket delivered?)"
                ) from None
        else:
            exists = True
            entered = entered_states(sfn, arn)
            for state in entered[seen:]:
                progress(state, clock() - started)
            if len(entered) > seen:
                seen, interval = len(entered), 0.2
            if described["status"] != "RUNNING":
                return described, entered
        if clock() - started > timeout_s:
            state = "not started" if not exists else f"still RUNNING after {seen} states"
            raise SmokeFailure(f"the run {arn} did not finish within {timeout_s:.0f}s ({state}; --timeout)")
        sleep(interval)
        interval = min(interval * 1.5, MAX_POLL_S)


def run_outcome(s3: Any, artifacts_bucket: str, run_id: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=artifacts_bucket, Key=f"runs/{run_id}/outcome.json")["Body"].read()
    except ClientError as error:
        if error_code(error) not in ("NoSuchKey", "404"):
            raise
        return {}
    document: dict[str, Any] = json.loads(body)
    return document


def endpoint_status(sagemaker: Any, endpoint: str) -> str:
    """The endpoint's EndpointStatus, or "missing" when SageMaker does not know it."""
    try:
        return str(sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"])
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ValidationError"):
            return "missing"
        raise


def smoke_order(seed: int, now: datetime) -> dict[str, Any]:
    """One generated order as a decision request: a fresh order id, now's timestamp, the synthetic customer."""
    from .data import generate_orders

    (order,) = decision_requests(generate_orders(1, seed=seed, start=now - timedelta(days=1), days=1).to_pylist())
    order.update(order_id=f"smoke-{uuid.uuid4()}", customer_id=SMOKE_CUSTOMER, order_ts=now.isoformat())
    return order


# ---- the checks ---------------------------------------------------------------------------------------------------
class Smoke:
    """The checks of one stack, in order; each prints its line when it ends."""

    def __init__(self, aws: Aws, options: SmokeOptions, say: Callable[[str], None]) -> None:
        self.aws, self.options, self.say = aws, options, say
        self.outputs: dict[str, str] = {}
        self.checks: list[Check] = []
        self.seed = options.seed if options.seed is not None else int(time.time() * 1000) % 2**31

    def run(self) -> list[Check]:
        stack = self._check("stack", self._stack)
        names = ["code", "training run"] if not self.options.read_only else []
        if stack.status != "pass":
            for name in [*names, "decision"]:
                self._record(Check(name, "skip", "the stack check failed"))
            return self.checks
        if names:
            code = self._check("code", self._code)
            if code.status == "pass":
                self._check("training run", self._training_run)
            else:
                self._record(Check("training run", "skip", "no published model code to train with"))
        self._check("decision", self._decision)
        return self.checks

    def _check(self, name: str, body: Callable[[], Verdict]) -> Check:
        started = time.monotonic()
        try:
            verdict = body()
        except SmokeFailure as failure:
            verdict = Verdict(False, str(failure))
        except NoCredentialsError:
            verdict = Verdict(False, "no AWS credentials found (CI: configure-aws-credentials; local cloud: export "
                              "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing)")  # fmt: skip
        except ClientError as error:
            operation = getattr(error, "operation_name", "a call")
            verdict = Verdict(False, f"AWS refused {operation}: {error_code(error)}: {error_message(error)}")
        except (BotoCoreError, OSError) as error:
            verdict = Verdict(False, f"cannot reach AWS: {error}")
        check = Check(name, "pass" if verdict.passed else "fail", verdict.detail, time.monotonic() - started,
                      verdict.facts)  # fmt: skip
        return self._record(check)

    def _record(self, check: Check) -> Check:
        self.checks.append(check)
        self.say(check.line())
        return check

    def _stack(self) -> Verdict:
        answer = describe_stack(self.aws.client("cloudformation"), self.options.stack_name)
        verdict, self.outputs = stack_check(self.options.stack_name, answer)
        return verdict

    def _code(self) -> Verdict:
        uri = self.outputs["ModelCodeUri"]
        code_version_of(uri)  # a malformed output fails here, before S3 is asked
        manifest, missing = published_code(self.aws.client("s3"), uri)
        return code_check(uri, self.options.code_version, manifest, missing)

    def _training_run(self) -> Verdict:
        s3, sfn = self.aws.client("s3"), self.aws.client("stepfunctions")
        now = datetime.now(UTC)
        body, rows = smoke_dataset(self.seed, now)
        dataset = upload(s3, self.outputs["RawDataBucketName"], smoke_key(now, self.seed), body)
        name = execution_name(dataset)
        self.say(f"      uploaded {dataset.uri} ({rows:,} orders, {len(body):,} bytes, seed {self.seed}); run {name}")

        def progress(state: str, at: float) -> None:
            self.say(f"      {at:7.1f}s  {state}" + (f": {STAGES[state]}" if state in STAGES else ""))

        arn = execution_arn(self.outputs["TrainingPipelineArn"], name)
        described, entered = follow_execution(sfn, arn, timeout_s=self.options.timeout_s, progress=progress)
        outcome = run_outcome(s3, self.outputs["ArtifactsBucketName"], name)
        verdict = run_check(described, entered, outcome)
        return Verdict(verdict.passed, verdict.detail, {**verdict.facts, "dataset_uri": dataset.uri, "run_id": name})

    def _decision(self) -> Verdict:
        if self.aws.credentials is None:
            raise NoCredentialsError()
        client = DecisionClient(
            self.outputs["DecisionApiUrl"], region=self.aws.region, credentials=self.aws.credentials
        )
        order = smoke_order(self.seed, datetime.now(UTC))
        status: str | None = None
        for attempt in range(1, DECISION_ATTEMPTS + 1):
            reply = client.decide(order)  # the same order id each time: a retry, never a second decision
            if reply.status != 503:
                break
            status = endpoint_status(self.aws.client("sagemaker"), self.outputs["EndpointName"])
            if status != "InService" or attempt == DECISION_ATTEMPTS:
                break
            time.sleep(min(float(reply.headers.get("retry-after", "1") or 1), MAX_RETRY_AFTER_S))
        verdict = decision_check(reply, status, require_decision=self.options.require_decision)
        return Verdict(verdict.passed, verdict.detail, {**verdict.facts, "order_id": order["order_id"]})


def summary(options: SmokeOptions, region: str, checks: Sequence[Check]) -> dict[str, Any]:
    """The machine-readable result (`--json`)."""
    return {
        "stack": options.stack_name,
        "region": region,
        "mode": "read-only" if options.read_only else "full",
        "require_decision": options.require_decision,
        "passed": all(c.status == "pass" for c in checks),
        "checks": [asdict(c) for c in checks],
    }


# ---- the command --------------------------------------------------------------------------------------------------
def command(args: argparse.Namespace) -> int:
    """`cd4ml smoke`: 0 when every check passes, 1 when one fails, 2 when the command cannot start."""
    import boto3

    from .localcloud.aws import DEFAULT_REGION

    try:
        path = Path(args.config_file or DEFAULT_FILE)
        if args.config_file and not path.is_file():
            raise SamConfigError(f"{path}: no such SAM configuration file")
        config = read_deploy_config(path, args.config_env)
    except SamConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stack_name = args.stack_name or config.stack_name or "cd4ml"
    try:
        session = boto3.session.Session(
            region_name=args.region or config.region or boto3.session.Session().region_name or DEFAULT_REGION
        )
        credentials = session.get_credentials()
    except BotoCoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    region = str(session.region_name)
    aws = Aws(
        client=lambda service: session.client(service, endpoint_url=args.endpoint_url),
        region=region,
        credentials=credentials,
    )
    options = SmokeOptions(
        stack_name=stack_name,
        read_only=args.read_only,
        require_decision=args.require_decision,
        code_version=args.code_version,
        timeout_s=args.timeout,
        seed=args.seed,
    )
    where = aws.client("cloudformation").meta.endpoint_url  # --endpoint-url, AWS_ENDPOINT_URL or AWS's own
    mode = "read-only: stack and decision" if options.read_only else "stack, code, training run, decision"
    print(f"Smoke test of stack {stack_name} on {where} ({mode})", flush=True)
    checks = Smoke(aws, options, lambda line: print(line, flush=True)).run()
    result = summary(options, region, checks)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        except OSError as error:
            print(f"error: cannot write {args.json}: {error.strerror or error}", file=sys.stderr)
            return 2
    failed = [c.name for c in checks if c.status != "pass"]
    print("smoke test passed" if not failed else f"smoke test FAILED: {', '.join(failed)}", flush=True)
    return 0 if not failed else 1
