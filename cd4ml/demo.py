"""The main job on one machine (`make demo`): the whole loop on the local cloud. Deploy template.yaml with the dev
stage's parameters (hourly monitoring windows, the clock jumped rather than waited for), publish the model code,
train version 1 on a generated dataset and deploy it; decide orders through the stack's `DecisionApiUrl` and put
their labels on the ground-truth stream; jump to the monitoring run of their window (healthy); decide drifted orders
whose labels follow a new pattern and jump to their window's run (a breach: drift and a quality drop); follow the
retraining it requests (the guard's verdicts, the dataset of the champion's data and the labelled production orders,
its training run and the gate on the same rows) and, when version 2 passes, its canary rollout under traffic; score
a file in batch; quarantine a dataset with a stale column. Ends with the reports (training, monitoring) copied out
of the local cloud and where the time went. Exits 1 when any of it fails.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cd4ml_shared.aws.smoke import read_smoke_rows, smoke_uri_of_package
from cd4ml_shared.contract import ORDERS
from cd4ml_shared.deployment import execution_name, version_of_package
from cd4ml_shared.gate import LOWER_IS_BETTER
from cd4ml_shared.scoring import scoring_run_id
from cd4ml_shared.smoke import parse_scores

from .data import Fault, generate_orders
from .decision_client import DecisionClient, decision_requests
from .demo_loop import (
    MONITORING_PARAMETERS,
    decide_and_label,
    drifted,
    retraining_dataset_ref,
    run_window_holding,
    wait_for_records,
)
from .demo_serving import SteadyTraffic, follow_execution
from .localcloud import JumpClock, LocalCloud
from .localcloud.aws import LOCAL_CREDENTIALS
from .online_store import customer_states, write_states
from .pipeline_driver import STAGES, PipelineDriver, RunResult
from .samconfig import read_deploy_config

DEFAULT_OUT = Path(".cd4ml") / "demo"
HEADLINE_METRICS = ("pr_auc", "auc", "f1", "precision", "recall", "brier_score", "threshold")
STEPS = 13
DECIDED_ORDERS = 300  # decided through the API in each monitored window
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
    rows: int = 50_000,
    days: int = 28,
    seed: int = 7,
    output_dir: Path = DEFAULT_OUT,
    now: datetime | None = None,
) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)

    timings: list[tuple[str, float]] = []
    mark = [time.perf_counter()]

    def step(number: int, text: str) -> None:
        took = time.perf_counter() - mark[0]
        if number > 1:
            timings.append((current[0], took))
        mark[0], current[0] = time.perf_counter(), text.split(" (")[0]
        say(f"[{number}/{STEPS}] {text}")

    current = [""]
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    config = read_deploy_config(template.parent / "samconfig.toml", "dev")  # what `sam deploy --config-env dev` uses
    parameters = dict(config.parameter_overrides) if config.path is not None else {"Stage": "dev"}
    parameters.update(MONITORING_PARAMETERS)  # hourly windows, the clock jumped: the demo does not wait a day
    stack_name = config.stack_name or "cd4ml-dev"
    problems: list[str] = []
    reports: dict[str, Path] = {}
    output_dir.mkdir(parents=True, exist_ok=True)
    with LocalCloud(clock=JumpClock()) as cloud:
        step(1, f"Deploying {template} onto the local cloud ({cloud.endpoint_url})")
        listed = " ".join(f"{k}={v}" for k, v in parameters.items())
        say(
            f"      stack {stack_name}, the dev stage's parameters (samconfig.toml) and the demo's monitoring: {listed}"
        )
        stack = cloud.deploy(template, parameters, stack_name=stack_name)
        say(f"      {len(stack.resources)} resources ready in {time.perf_counter() - started:.1f}s")
        driver = PipelineDriver(cloud)

        step(2, "Publishing the model code the SageMaker jobs run")
        version = parameters.get("ModelCodeVersion", "dev")  # the template's default when dev does not set it
        code = driver.publish_code(version, progress=lambda line: say(f"      {line}"))
        say(f"      code version {code.version}, sha256 {code.sha256[:16]}...")

        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        first_day, yesterday = day - timedelta(days=days), day - timedelta(days=1)
        step(3, f"Generating {rows:,} orders from {first_day:%Y-%m-%d} to {yesterday - timedelta(days=1):%Y-%m-%d}")
        # one population up to today: the days before yesterday to train on, yesterday's orders of the same customers
        # to decide (in the past: a retraining dataset with orders from the future would be quarantined)
        everything = generate_orders(rows * days // (days - 1), seed=seed, start=first_day, days=days)
        everything = everything.sort_by(ORDERS.timestamp.name)
        timestamps = everything.column(ORDERS.timestamp.name)
        is_live = pc.greater_equal(timestamps, pa.scalar(yesterday, pa.timestamp("us", "UTC")))
        orders, today = everything.filter(pc.invert(is_live)), everything.filter(is_live)
        key = f"datasets/orders/{day:%Y-%m-%d}/orders.csv"
        dataset = driver.upload(orders, key)
        say(f"      uploaded s3://{dataset.bucket}/{key} ({dataset.size:,} bytes, {orders.num_rows:,} orders)")

        step(4, "Following the training pipeline this upload started")
        result = driver.follow(dataset, timeout=900, progress=lambda state, at: say(_progress(state, at)))
        say(f"      run {result.outcome.get('run_id')} ended {result.status} in {result.seconds:.1f}s")

        step(5, "Following the deployment the approval started")
        if not _deploy(cloud, result.outcome.get("model_package_arn"), say):
            problems.append("the first version was not deployed")
        client = DecisionClient(
            cloud.stack.outputs["DecisionApiUrl"],
            region=cloud.region,
            credentials=boto3.Session(**LOCAL_CREDENTIALS).get_credentials(),
        )
        draw = np.random.default_rng(seed).permutation(today.num_rows)  # across the day (docs/monitoring.md)
        healthy, later, flowing = (today.take(np.sort(draw[a:b])) for a, b in _slices(today.num_rows))
        if not problems:
            problems += _loop(
                cloud, driver, client, orders, healthy, later, flowing, day, seed, say, step, reports, output_dir
            )
        else:
            say("      (the loop is skipped: no model in service)")

        step(STEPS, f"Uploading a faulty dataset ({Fault.STALE_COLUMN.value}: account tenure stuck at 54)")
        stale = generate_orders(rows // 4, seed=seed + 1, start=first_day, days=days, faults=[Fault.STALE_COLUMN])
        faulty = driver.follow(driver.upload(stale, f"datasets/orders/{day:%Y-%m-%d}/orders-stale.csv"), timeout=300)
        say(f"      {faulty.run_status}: {'; '.join(faulty.outcome.get('reasons', []))}")
        say(f"      quarantined copy: {faulty.outcome.get('quarantine_uri')}")
        timings.append((current[0], time.perf_counter() - mark[0]))

        say("Result")
        report = _save_report(driver, result, output_dir)
        _summarise(result, report, say)
        for name, path in reports.items():
            say(f"      {name}: {path}")
        say("Where the time went")
        for name, seconds in timings:
            say(f"      {seconds:6.1f}s  {name}")
    if result.run_status != "succeeded":
        problems.insert(0, f"the first training run {result.run_status}")
    for problem in problems:
        say(f"PROBLEM: {problem}")
    say(f"Done in {time.perf_counter() - started:.1f}s")
    return 1 if problems else 0


def _slices(count: int) -> list[tuple[int, int]]:
    """The live day's orders in three draws: the healthy window's, the drifted window's, and those that flow during v2's
    rollout."""
    first = min(DECIDED_ORDERS, count // 3)
    return [(0, first), (first, 2 * first), (2 * first, count)]


def _loop(
    cloud: LocalCloud,
    driver: PipelineDriver,
    client: DecisionClient,
    orders: pa.Table,
    healthy: pa.Table,
    later: pa.Table,
    flowing: pa.Table,
    day: datetime,
    seed: int,
    say: Callable[[str], None],
    step: Callable[[int, str], None],
    reports: dict[str, Path],
    output_dir: Path,
) -> list[str]:
    """Steps 6 to 12: decisions and their labels, a healthy window, drifted traffic and its breach, the retraining
    it starts, version 2's canary under traffic and a file scored in batch. The problems seen."""
    problems: list[str] = []
    label = ORDERS.label.name
    step(6, f"Deciding {healthy.num_rows:,} orders through POST {client.url}, then their labels on the stream")
    # what `cd4ml features backfill <the dataset>` does, with the live day's other orders too: the healthy window is a
    # sample of the day, and its orders' 24-hour counts must see the customers' orders that were not sampled (without
    # them, customer_orders_24h drifts in a healthy window). Later draws are then in the state twice: an order never
    # counts itself (orders within one second do not see each other), and their windows are not healthy anyway.
    folded = customer_states(pa.concat_tables([orders, later, flowing]))
    filled = write_states(cloud.client("dynamodb"), cloud.stack.outputs["CustomerFeaturesTableName"], folded.states)
    say(
        "      online features backfilled from the training dataset and the day's other orders:"
        f" {filled.written:,} customers ({folded.orders:,} orders) in {filled.seconds:.1f}s"
    )
    decided_at = cloud.clock.now()
    first = decide_and_label(cloud, client, decision_requests(healthy.to_pylist()), healthy.column(label).to_pylist())
    say(f"      latency {first.tally.latency_line()}")
    say(f"      decisions: {first.tally.outcome_line()}")
    say(
        f"      {len(first.ids):,} labels on GroundTruthStream; labels and decision log stored"
        f" {first.seconds_to_store:.1f}s later"
    )

    step(7, "Jumping the clock to the monitoring run whose window holds these decisions")
    report = run_window_holding(cloud, decided_at)
    _say_report(report, say)
    reports["monitoring report, healthy window"] = _save_monitoring_report(cloud, report, output_dir)
    if report["breach"]["any"]:
        problems.append(f"the healthy window breached: {report['breach']['reasons']}")

    step(8, f"Deciding {later.num_rows:,} drifted orders (merchants to digital_goods, amounts x 4; new fraud pattern)")
    shifted, labels = drifted(decision_requests(later.to_pylist()), seed)
    decided_at = cloud.clock.now()
    second = decide_and_label(cloud, client, shifted, labels)
    say(f"      decisions: {second.tally.outcome_line()}; {sum(labels)} of {len(labels)} labelled fraud")

    step(9, "Jumping the clock to the monitoring run whose window holds the drifted decisions")
    report = run_window_holding(cloud, decided_at)
    _say_report(report, say)
    reports["monitoring report, drifted window"] = _save_monitoring_report(cloud, report, output_dir)
    if not report["breach"]["any"]:
        return [*problems, "the drifted window did not breach"]

    step(10, "Following the retraining the breach requested")
    records = wait_for_records(cloud, 1)
    started = [r for r in records if r["started"]]
    for record in records:
        verdict = "started" if record["started"] else f"dropped ({record['dropped']})"
        asked = f"{record['reason']}, episode {record['episode']}"
        say(f"      request {record['request_id']} ({asked}): {verdict}: {record['why']}")
    if not started:
        return [*problems, "no retraining started"]
    lineage = started[0]["dataset"]["lineage"]
    say(
        f"      dataset {started[0]['dataset']['uri']}: {started[0]['dataset']['rows']:,} rows, the champion's"
        f" {lineage['accepted_rows']:,} and {lineage['production_rows']:,} labelled production orders"
    )
    retrained = driver.follow(
        retraining_dataset_ref(cloud, started[0]), timeout=900, progress=lambda state, at: say(_progress(state, at))
    )
    say(
        f"      run {retrained.outcome.get('run_id')} ended {retrained.status} in {retrained.seconds:.1f}s:"
        f" {retrained.run_status}"
    )
    compared = (retrained.outcome.get("gate") or {}).get("comparison")
    if compared:  # the champion scored on the challenger's test rows: the paired interval the gate judged
        say(
            f"      on the same {compared['rows']:,} test rows: challenger - champion {compared['difference']:+.4f},"
            f" interval [{compared['lower']:+.4f}, {compared['upper']:+.4f}]"
        )
    for reason in retrained.outcome.get("reasons", []):
        say(f"      reason: {reason}")
    package_v2 = retrained.outcome.get("model_package_arn")
    if package_v2:
        step(11, f"Rolling version 2 out by canary while orders keep flowing ({ROLLOUT_RATE:.0f} requests/s)")
        with SteadyTraffic(client, iter(decision_requests(flowing.to_pylist())), ROLLOUT_RATE) as traffic:
            deployed_v2 = _follow_deployment(cloud, package_v2, say)
        rollout = traffic.tally
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(rollout.versions.items()))
        say(f"      {rollout.sent} orders during the rollout, {rollout.failed} failed; answered by {versions}")
        if not deployed_v2:
            problems.append("version 2 was not deployed")
        if rollout.failed:
            problems.append(f"{rollout.failed} decisions failed during the rollout: {rollout.failures}")
    else:
        step(11, "Version 2 was gated out: the champion stays in service (no rollout)")
    step(12, f"Scoring a file of {SCORED_ORDERS:,} orders in batch")
    problems.extend(_score_in_batch(cloud, driver, day, seed, say))
    return problems


def _say_report(report: Mapping[str, Any], say: Callable[[str], None]) -> None:
    traffic, quality, drift = report["traffic"], report.get("quality") or {}, report.get("drift") or {}
    rate = traffic.get("label_rate")
    say(
        f"      window {report['window']['name']} of v{report['model_version']}: {traffic['requests']} requests,"
        f" label rate {rate:.2f}"
        if rate is not None
        else f"      window {report['window']['name']}: no traffic"
    )
    pr = (quality.get("metrics") or {}).get("pr_auc")
    if pr and pr.get("value") is not None:
        say(
            f"      PR AUC {pr['value']:.3f} [{pr['lower']:.3f}, {pr['upper']:.3f}], baseline {pr['baseline']:.3f}:"
            f" {'degraded' if pr['degraded'] else 'within its interval'}"
        )
    elif quality:
        say(f"      quality not judged: {quality.get('why_not_judged')}")
    say(f"      drifted: {', '.join(drift.get('drifted') or []) or 'nothing'}")
    breach = report["breach"]
    if breach["any"]:
        kinds = sorted({r["kind"] for r in breach["reasons"]})
        say(f"      BREACH ({', '.join(kinds)}), episode {breach['episode']}: RetrainingRequested and a notification")
    else:
        say("      healthy: no alarm")
    say(f"      measured in {sum((report.get('seconds') or {}).values()):.2f}s: {report['links']['report_html']}")


def _save_monitoring_report(cloud: LocalCloud, report: Mapping[str, Any], output_dir: Path) -> Path:
    bucket, key = str(report["links"]["report_html"]).removeprefix("s3://").split("/", 1)
    target = (output_dir / "monitoring" / report["window"]["name"] / "report.html").resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    return target


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
