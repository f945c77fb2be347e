"""The main job on one machine (`make demo`): deploy template.yaml on the local cloud with the dev stage's parameters,
publish the model code, upload a generated orders dataset and follow the training pipeline it starts to a
registered model; follow the deployment its approval starts to a serving endpoint; decide 1,000 orders through the
stack's `DecisionApiUrl` (latency printed); train version 2 on a second dataset and follow its blue/green canary
rollout while orders keep flowing (every request must be answered); score a file of orders in batch; then upload a
dataset with a stale column and show it quarantined. Ends with the model, its metrics, the gate's decision and the
run's HTML report (copied out of the local cloud before it stops). Exits 1 when any of it fails.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3
import pyarrow as pa
from cd4ml_shared.aws.smoke import read_smoke_rows, smoke_uri_of_package
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.deployment import execution_name, version_of_package
from cd4ml_shared.gate import LOWER_IS_BETTER
from cd4ml_shared.scoring import scoring_run_id
from cd4ml_shared.smoke import parse_scores

from .data import Fault, generate_orders
from .decision_client import DecisionClient, decision_requests
from .demo_serving import SteadyTraffic, decide_all, follow_execution
from .localcloud import LocalCloud
from .localcloud.aws import LOCAL_CREDENTIALS
from .online_store import customer_states, write_states
from .pipeline_driver import STAGES, PipelineDriver, RunResult
from .samconfig import read_deploy_config

DEFAULT_OUT = Path(".cd4ml") / "demo"
HEADLINE_METRICS = ("pr_auc", "auc", "f1", "precision", "recall", "brier_score", "threshold")
STEPS = 10
DECIDED_ORDERS = 1_000  # decided through the API after the first deployment
DECISION_THREADS = 2  # requests in flight at once (a payment service's few connections; 2 cores here)
ROLLOUT_RATE = 20.0  # requests per second kept flowing while version 2 rolls out
SCORED_ORDERS = 20_000  # the batch scoring file
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

    def step(number: int, text: str) -> None:
        say(f"[{number}/{STEPS}] {text}")

    started = time.perf_counter()
    now = now or datetime.now(UTC)
    config = read_deploy_config(template.parent / "samconfig.toml", "dev")  # what `sam deploy --config-env dev` uses
    parameters = dict(config.parameter_overrides) if config.path is not None else {"Stage": "dev"}
    stack_name = config.stack_name or "cd4ml-dev"
    problems: list[str] = []
    with LocalCloud() as cloud:
        step(1, f"Deploying {template} onto the local cloud ({cloud.endpoint_url})")
        listed = " ".join(f"{k}={v}" for k, v in parameters.items())
        say(f"      stack {stack_name}, parameters of the dev stage (samconfig.toml): {listed}")
        stack = cloud.deploy(template, parameters, stack_name=stack_name)
        say(f"      {len(stack.resources)} resources ready in {time.perf_counter() - started:.1f}s")
        driver = PipelineDriver(cloud)

        step(2, "Publishing the model code the SageMaker jobs run")
        version = parameters.get("ModelCodeVersion", "dev")  # the template's default when dev does not set it
        code = driver.publish_code(version, progress=lambda line: say(f"      {line}"))
        say(f"      code version {code.version}, sha256 {code.sha256[:16]}...")

        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        first_day = day - timedelta(days=days)
        yesterday = day - timedelta(days=1)  # its orders arrive later: version 2 is trained with them
        step(3, f"Generating {rows:,} orders from {first_day:%Y-%m-%d} to {yesterday - timedelta(days=1):%Y-%m-%d}")
        orders = generate_orders(rows, seed=seed, start=first_day, days=days - 1)
        key = f"datasets/orders/{day:%Y-%m-%d}/orders.csv"
        dataset = driver.upload(orders, key)
        say(f"      uploaded s3://{dataset.bucket}/{key} ({dataset.size:,} bytes, version {dataset.version_id})")

        step(4, "Following the training pipeline this upload started")
        result = driver.follow(dataset, timeout=900, progress=lambda state, at: say(_progress(state, at)))
        say(f"      run {result.outcome.get('run_id')} ended {result.status} in {result.seconds:.1f}s")

        step(5, "Following the deployment the approval started")
        if not _deploy(cloud, result.outcome.get("model_package_arn"), say):
            problems.append("the first version was not deployed")

        # today's orders of the same customers (same seed, reference date and daily volume as the training data)
        live = generate_orders(rows // (days - 1), seed=seed, start=day, days=1, reference_date=first_day)
        live_orders = decision_requests(live.sort_by(ORDERS.timestamp.name).to_pylist())
        client = DecisionClient(
            cloud.stack.outputs["DecisionApiUrl"],
            region=cloud.region,
            credentials=boto3.Session(**LOCAL_CREDENTIALS).get_credentials(),
        )
        if not problems:
            signed = f"SigV4-signed, {DECISION_THREADS} in flight"
            step(6, f"Deciding {DECIDED_ORDERS:,} orders through POST {client.url} ({signed})")
            table = cloud.stack.outputs["CustomerFeaturesTableName"]
            folded = customer_states(orders)  # what `cd4ml features backfill <the dataset>` does
            filled = write_states(cloud.client("dynamodb"), table, folded.states)
            say(
                f"      online features backfilled from the training dataset first: {filled.written:,} customers"
                f" ({folded.orders:,} orders) in {filled.seconds:.1f}s"
            )
            tally = decide_all(client, live_orders[:DECIDED_ORDERS], threads=DECISION_THREADS)
            say(f"      latency {tally.latency_line()}")
            say(f"      decisions: {tally.outcome_line()}")
            if tally.failed:
                problems.append(f"{tally.failed} of {tally.sent} decisions failed: {tally.failures}")

            step(7, f"Training version 2 on a second dataset: the first one and {yesterday:%Y-%m-%d}'s orders")
            late = generate_orders(rows // (days - 1), seed=seed + 2, start=yesterday, days=1, reference_date=first_day)
            grown = pa.concat_tables([orders, late])
            second = driver.follow(
                driver.upload(grown, f"datasets/orders/{day:%Y-%m-%d}/orders-with-{yesterday:%Y-%m-%d}.csv"),
                timeout=900,
                progress=lambda state, at: say(_progress(state, at)),
            )
            say(f"      run {second.outcome.get('run_id')} ended {second.status} in {second.seconds:.1f}s")
            for check in (second.outcome.get("gate") or {}).get("checks", []):
                if check["kind"] == "champion":
                    value = "missing" if check["value"] is None else f"{check['value']:.4f}"
                    verdict = "ok" if check["passed"] else "FAILED"
                    bound = f"{check['bound']:.4f}"
                    say(f"      gate against the champion: {check['metric']} {value}, bound {bound}: {verdict}")
            compared = (second.outcome.get("gate") or {}).get("comparison")
            if compared:  # the champion scored on version 2's test rows: the paired interval the check judged
                say(
                    f"      on the same {compared['rows']:,} test rows: challenger - champion "
                    f"{compared['difference']:+.4f}, interval [{compared['lower']:+.4f}, {compared['upper']:+.4f}]"
                )
            package_v2 = second.outcome.get("model_package_arn")
            if not package_v2:
                problems.append(f"version 2 was not registered: {'; '.join(second.outcome.get('reasons', []))}")
            else:
                step(8, f"Rolling version 2 out by canary while orders keep flowing ({ROLLOUT_RATE:.0f} requests/s)")
                flowing = iter(live_orders[DECIDED_ORDERS:])
                with SteadyTraffic(client, flowing, ROLLOUT_RATE) as traffic:
                    deployed_v2 = _follow_deployment(cloud, package_v2, say)
                rollout = traffic.tally
                versions = ", ".join(f"v{v}: {n}" for v, n in sorted(rollout.versions.items()))
                say(f"      {rollout.sent} orders during the rollout, {rollout.failed} failed; answered by {versions}")
                say(f"      latency {rollout.latency_line()}")
                if not deployed_v2:
                    problems.append("version 2 was not deployed")
                if rollout.failed:
                    problems.append(f"{rollout.failed} decisions failed during the rollout: {rollout.failures}")

            step(9, f"Scoring a file of {SCORED_ORDERS:,} orders in batch")
            problems.extend(_score_in_batch(cloud, driver, day, seed, say))
        else:
            say("      (steps 6-9 skipped: no model in service)")

        step(10, f"Uploading a faulty dataset ({Fault.STALE_COLUMN.value}: account tenure stuck at 54)")
        stale = generate_orders(rows // 4, seed=seed + 1, start=first_day, days=days, faults=[Fault.STALE_COLUMN])
        faulty = driver.follow(driver.upload(stale, f"datasets/orders/{day:%Y-%m-%d}/orders-stale.csv"), timeout=300)
        say(f"      {faulty.run_status}: {'; '.join(faulty.outcome.get('reasons', []))}")
        say(f"      quarantined copy: {faulty.outcome.get('quarantine_uri')}")

        say("Result")
        report = _save_report(driver, result, output_dir)
        _summarise(result, report, say)
    if result.run_status != "succeeded":
        problems.insert(0, f"the first training run {result.run_status}")
    for problem in problems:
        say(f"PROBLEM: {problem}")
    say(f"Done in {time.perf_counter() - started:.1f}s")
    return 1 if problems else 0


def _deploy(cloud: LocalCloud, package_arn: str | None, say: Callable[[str], None]) -> bool:
    """Follow the deployment the registered model's approval started (dev approves at registration), then show the
    endpoint and one of the model's own test rows scored there beside the evaluation's score. Whether it serves."""
    if not package_arn:
        say("      no model was registered: nothing to deploy")
        return False
    if not _follow_deployment(cloud, package_arn, say):
        return False
    endpoint = cloud.stack.outputs["EndpointName"]
    described = cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)
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


def _follow_deployment(cloud: LocalCloud, package_arn: str, say: Callable[[str], None]) -> bool:
    """Follow `deploy-v<N>` of the package's version to its end; whether it succeeded and the endpoint serves it."""
    name = execution_name(version_of_package(package_arn))
    say(f"      {name} ({package_arn})")
    status, seconds, described = follow_execution(
        cloud, "DeploymentStateMachine", name, timeout=300, progress=lambda s, at: say(_deploying(s, at))
    )
    cause = described.get("cause")
    say(f"      deployment {name} ended {status} in {seconds:.1f}s" + (f": {cause}" if cause else ""))
    if status != "SUCCEEDED":
        return False
    endpoint = cloud.stack.outputs["EndpointName"]
    served = cloud.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    say(f"      endpoint {endpoint}: {served['EndpointStatus']} on {served['EndpointConfigName']}")
    return bool(served["EndpointStatus"] == "InService")


def _score_in_batch(
    cloud: LocalCloud, driver: PipelineDriver, day: datetime, seed: int, say: Callable[[str], None]
) -> list[str]:
    """Upload a label-less file of yesterday's orders under scoring/ and follow the batch inference run it starts;
    the problems seen (none when the scores were written)."""
    orders = generate_orders(SCORED_ORDERS, seed=seed + 3, start=day - timedelta(days=1), days=1)
    dataset = driver.upload(orders.drop_columns([ORDERS.label.name]), f"scoring/orders/{day:%Y-%m-%d}/orders.csv")
    say(f"      uploaded s3://{dataset.bucket}/{dataset.key} ({dataset.size:,} bytes, no labels)")
    status, seconds, described = follow_execution(
        cloud,
        "BatchInferenceStateMachine",
        scoring_run_id(dataset),
        timeout=600,
        progress=lambda state, at: say(f"      {at:6.1f}s  {state}"),
    )
    if status != "SUCCEEDED":
        return [f"batch scoring ended {status}: {described.get('cause')}"]
    scores = json.loads(described.get("output") or "{}").get("scores") or {}
    rows = int(scores.get("rows") or 0)
    say(f"      {rows:,} orders scored in {seconds:.1f}s end to end: {scores.get('scores_uri')}")
    say(f"      decisions: {', '.join(f'{k} {v}' for k, v in (scores.get('decisions') or {}).items())}")
    return [] if rows == SCORED_ORDERS else [f"batch scoring wrote {rows} scores for {SCORED_ORDERS} orders"]


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
