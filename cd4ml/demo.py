"""The main job on one machine (`make demo`): deploy template.yaml on the local cloud with the dev stage's parameters,
publish the model code, upload a generated orders dataset and follow the training pipeline it starts to a
registered model; follow the deployment its approval starts to a serving endpoint, and score one test row there;
then upload a dataset with a stale column and show it quarantined. Ends with the model, its metrics, the gate's
decision and the run's HTML report (copied out of the local cloud before it stops).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from cd4ml_shared.aws.smoke import read_smoke_rows, smoke_uri_of_package
from cd4ml_shared.deployment import execution_name, version_of_package
from cd4ml_shared.gate import LOWER_IS_BETTER
from cd4ml_shared.smoke import parse_scores

from .data import Fault, generate_orders
from .localcloud import LocalCloud
from .pipeline_driver import STAGES, PipelineDriver, RunResult
from .samconfig import read_deploy_config

DEFAULT_OUT = Path(".cd4ml") / "demo"
HEADLINE_METRICS = ("pr_auc", "auc", "f1", "precision", "recall", "brier_score", "threshold")
# what each deployment state does (statemachines/deployment.asl.json), for progress lines
DEPLOYMENT_STAGES = {
    "CreateModel": "model from the package",
    "CreateEndpointConfig": "endpoint config (data capture on)",
    "InspectEndpoint": "the endpoint as it is",
    "Rollout": "create, or blue/green update of, the endpoint (waits for its state-change event)",
    "Verify": "the endpoint serves the requested config",
    "SmokeTest": "test rows scored as the evaluation scored them",
    "Autoscale": "auto scaling (prod only)",
    "RecordSuccess": "recording the deployment",
    "RecordFailure": "recording the failure",
}


class DeploymentNotFinished(TimeoutError):
    """The deployment the approval started did not end within the time allowed."""


def run(
    template: Path = Path("template.yaml"),
    out: TextIO = sys.stdout,
    *,
    rows: int = 100_000,
    days: int = 28,
    seed: int = 7,
    output_dir: Path = DEFAULT_OUT,
    now: datetime | None = None,
) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    config = read_deploy_config(template.parent / "samconfig.toml", "dev")  # what `sam deploy --config-env dev` uses
    parameters = config.parameter_overrides if config.path is not None else {"Stage": "dev"}
    stack_name = config.stack_name or "cd4ml-dev"
    with LocalCloud() as cloud:
        say(f"[1/7] Deploying {template} onto the local cloud ({cloud.endpoint_url})")
        listed = " ".join(f"{k}={v}" for k, v in parameters.items())
        say(f"      stack {stack_name}, parameters of the dev stage (samconfig.toml): {listed}")
        stack = cloud.deploy(template, parameters, stack_name=stack_name)
        say(f"      {len(stack.resources)} resources ready in {time.perf_counter() - started:.1f}s")
        driver = PipelineDriver(cloud)

        say("[2/7] Publishing the model code the SageMaker jobs run")
        version = parameters.get("ModelCodeVersion", "dev")  # the template's default when dev does not set it
        code = driver.publish_code(version, progress=lambda line: say(f"      {line}"))
        say(f"      code version {code.version}, sha256 {code.sha256[:16]}...")

        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        first_day = day - timedelta(days=days)
        say(f"[3/7] Generating {rows:,} orders from {first_day:%Y-%m-%d} to {day - timedelta(days=1):%Y-%m-%d}")
        orders = generate_orders(rows, seed=seed, start=first_day, days=days)
        key = f"datasets/orders/{day:%Y-%m-%d}/orders.csv"
        dataset = driver.upload(orders, key)
        say(f"      uploaded s3://{dataset.bucket}/{key} ({dataset.size:,} bytes, version {dataset.version_id})")

        say("[4/7] Following the training pipeline this upload started")
        result = driver.follow(dataset, timeout=900, progress=lambda state, at: say(_progress(state, at)))
        say(f"      run {result.outcome.get('run_id')} ended {result.status} in {result.seconds:.1f}s")

        deployed = _deploy(cloud, result.outcome.get("model_package_arn"), say)

        say(f"[6/7] Uploading a faulty dataset ({Fault.STALE_COLUMN.value}: account tenure stuck at 54)")
        stale = generate_orders(rows // 4, seed=seed + 1, start=first_day, days=days, faults=[Fault.STALE_COLUMN])
        faulty = driver.follow(driver.upload(stale, f"datasets/orders/{day:%Y-%m-%d}/orders-stale.csv"), timeout=300)
        say(f"      {faulty.run_status}: {'; '.join(faulty.outcome.get('reasons', []))}")
        say(f"      quarantined copy: {faulty.outcome.get('quarantine_uri')}")

        say("[7/7] Result")
        report = _save_report(driver, result, output_dir)
        _summarise(result, report, say)
    say(f"Done in {time.perf_counter() - started:.1f}s")
    return 0 if result.run_status == "succeeded" and deployed else 1


def _deploy(cloud: LocalCloud, package_arn: str | None, say: Callable[[str], None]) -> bool:
    """Follow the deployment the registered model's approval started (dev approves at registration), then show the
    endpoint and one of the model's own test rows scored there beside the evaluation's score. Whether it serves."""
    if not package_arn:
        say("[5/7] No model was registered: nothing to deploy")
        return False
    name = execution_name(version_of_package(package_arn))
    say(f"[5/7] Following the deployment the approval started ({name})")
    status, seconds, cause = _follow_deployment(cloud, name, timeout=300, progress=lambda s, at: say(_deploying(s, at)))
    say(f"      deployment {name} ended {status} in {seconds:.1f}s" + (f": {cause}" if cause else ""))
    if status != "SUCCEEDED":
        return False
    endpoint = cloud.stack.outputs["EndpointName"]
    described = cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    say(f"      endpoint {endpoint}: {described['EndpointStatus']} on {described['EndpointConfigName']}")
    smoke = read_smoke_rows(cloud.client("s3"), smoke_uri_of_package(cloud.client("sagemaker"), package_arn))
    request = next(q for q in smoke.requests if q.content_type == "application/json")
    instance = json.loads(request.body)["instances"][0]
    answer = cloud.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Accept=request.accept,
        Body=json.dumps({"instances": [instance]}),
        InferenceId="demo-1",
    )
    (score,) = parse_scores(answer["Body"].read(), answer.get("ContentType", request.accept))
    row = smoke.rows[0]
    say(f"      InvokeEndpoint of test row {row.test_row} (label {row.label}): score {score:.6f}")
    say(f"                the evaluation scored it {row.score:.6f}")
    return bool(described["EndpointStatus"] == "InService")


def _follow_deployment(
    cloud: LocalCloud, name: str, *, timeout: float, progress: Callable[[str, float], None]
) -> tuple[str, float, str | None]:
    """(status, seconds, cause) of the deployment execution `name`, reporting each state it enters."""
    sfn = cloud.client("stepfunctions")
    arn = cloud.physical_id("DeploymentStateMachine").replace(":stateMachine:", ":execution:") + f":{name}"
    started = time.monotonic()
    seen = 0
    while time.monotonic() - started < timeout:
        try:
            described = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:  # the approval event is still on its way
            time.sleep(0.05)
            continue
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        for state in entered[seen:]:
            progress(state, time.monotonic() - started)
        seen = len(entered)
        if described["status"] != "RUNNING":
            return str(described["status"]), time.monotonic() - started, described.get("cause")
        time.sleep(0.1)
    raise DeploymentNotFinished(f"the deployment {arn} did not finish within {timeout:.0f} s")


def _deploying(state: str, at: float) -> str:
    what = DEPLOYMENT_STAGES.get(state)
    return f"      {at:6.1f}s  {state}" + (f": {what}" if what else "")


def _progress(state: str, at: float) -> str:
    what = STAGES.get(state)
    return f"      {at:6.1f}s  {state}" + (f": {what}" if what else "")


def _save_report(driver: PipelineDriver, result: RunResult, output_dir: Path) -> Path | None:
    run_id = result.outcome.get("run_id")
    if not run_id:
        return None
    target = (output_dir / run_id).resolve()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("report.html", "outcome.json"):
        body = driver.s3.get_object(Bucket=driver.artifacts_bucket, Key=f"runs/{run_id}/{name}")["Body"].read()
        (target / name).write_bytes(body)
    return target / "report.html"


def _summarise(result: RunResult, report: Path | None, say: Any) -> None:
    outcome = result.outcome
    gate = outcome.get("gate") or {}
    say(f"      outcome:  {outcome.get('status', result.status)}")
    for reason in outcome.get("reasons", []):
        say(f"      reason:   {reason}")
    if outcome.get("model_package_arn"):
        say(f"      model:    {outcome['model_package_arn']}")
        say(f"      approval: {outcome.get('approval_status')}")
    metrics = gate.get("metrics") or {}
    if metrics:
        say("      metrics (test set): " + ", ".join(f"{k} {metrics[k]:.4f}" for k in HEADLINE_METRICS if k in metrics))
    if gate:
        say(f"      gate:     {'passed' if gate.get('passed') else 'gated out'}")
        for check in gate.get("checks", []):
            lower = check["kind"] == "maximum" or (check["kind"] == "champion" and check["metric"] in LOWER_IS_BETTER)
            sign = "<=" if lower else ">="
            value = "missing" if check["value"] is None else f"{check['value']:.4f}"
            verdict = "ok" if check["passed"] else "FAILED"
            say(f"                {check['metric']} {value} {sign} {check['bound']:.4f} ({check['kind']}): {verdict}")
        if not gate.get("champion"):
            say("                no champion yet: this is the group's first approved model")
    training = result.output.get("training") or {}
    if training:
        say(f"      training: {training.get('job_name')} ({training.get('billable_seconds')}s billable)")
    say(f"      report:   {report if report else 'none'}")
    say(f"                (in the stack: {outcome.get('report_uri')})")
