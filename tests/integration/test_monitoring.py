"""The monitoring state machine of template.yaml on the local cloud, on its schedule, with the clock jumped rather than
slept: a model trained and deployed by the stack, orders decided through the decision API (captured by the endpoint),
their labels put on the ground-truth stream, and the scheduled run that measures the window they fall in. A healthy
window is healthy (no alarm, no drift, quality judged within its interval); a window of drifted orders (other
merchants, larger amounts) whose labels no longer follow the scores breaches on drift and on quality, is notified,
and emits RetrainingRequested naming its episode."""

import io
import json
import time
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from quick_model import FAST_TRAINING
from trained_model import DEV_APPROVED, QUICK_ROLLOUT, Inbox, deployed_model

from cd4ml.data import generate_orders
from cd4ml.decision_client import DecisionClient, decision_requests
from cd4ml.demo_serving import decide_each
from cd4ml.ground_truth import Label, put_labels
from cd4ml.localcloud import JumpClock, LocalCloud
from cd4ml.localcloud.aws import LOCAL_CREDENTIALS
from cd4ml.online_store import customer_states, write_states
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)
MONITORING = {
    "MonitoringSchedule": "rate(1 hour)",
    "MonitorStartOffsetSeconds": "7200",
    "MonitorEndOffsetSeconds": "3600",
}
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START = DAY - timedelta(days=14)


@pytest.fixture(scope="module")
def cloud(root):
    parameters = {**DEV_APPROVED, **FAST_TRAINING, **QUICK_ROLLOUT, **MONITORING}
    with LocalCloud.deployed(root / "template.yaml", parameters, clock=JumpClock()) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def orders():
    """15 days of orders of one population: 14 to train on, the last day's orders (the same customers) live, in two
    draws across the whole day (an hour's orders would differ from the reference by the hour's country mix)."""
    table = generate_orders(8_600, seed=11, start=START, days=15).sort_by("order_ts")
    is_live = pc.greater_equal(table.column("order_ts"), pa.scalar(DAY, pa.timestamp("us", tz="UTC")))
    live = table.filter(is_live)
    draw = np.random.default_rng(2).permutation(live.num_rows)
    first, second = np.sort(draw[:300]), np.sort(draw[300:600])
    return table.filter(pc.invert(is_live)), live.take(first), live.take(second)


@pytest.fixture(scope="module")
def served(cloud, orders):
    history = orders[0]
    driver = PipelineDriver(cloud)
    driver.publish_code("dev")
    run = driver.run(history, f"datasets/orders/{DAY:%Y-%m-%d}/orders.csv")
    assert run.status == "SUCCEEDED", run.cause
    model = deployed_model(cloud)
    folded = customer_states(history)  # `cd4ml features backfill`: live orders see their customers' history
    write_states(cloud.client("dynamodb"), cloud.stack.outputs["CustomerFeaturesTableName"], folded.states)
    return model


@pytest.fixture(scope="module")
def client(cloud, served):
    credentials = boto3.Session(**LOCAL_CREDENTIALS).get_credentials()
    return DecisionClient(cloud.stack.outputs["DecisionApiUrl"], region=cloud.region, credentials=credentials)


@pytest.fixture(scope="module")
def inbox(cloud):
    """RetrainingRequested events, through a rule on the default bus to a queue, as the retraining guard sees them."""
    inbox = Inbox(cloud, "retraining-requested")
    events = cloud.client("events")
    pattern = {"source": ["cd4ml.monitoring"], "detail-type": ["RetrainingRequested"]}
    events.put_rule(Name="retraining-requested", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="retraining-requested", Targets=[{"Id": "inbox", "Arn": inbox.arn}])
    return inbox


def decide_and_label(cloud, client, orders: list[dict], labels: list[int]) -> list[str]:
    """Decide each order, then put its label on the stream; wait until record_feedback stored them all."""
    tally, replies = decide_each(client, orders, threads=2)
    assert tally.failed == 0, tally.failures
    ids = [reply.body["inference_id"] for reply in replies]
    at = cloud.clock.now()
    put = put_labels(
        cloud.client("kinesis"),
        cloud.physical_id("GroundTruthStream"),
        [Label(i, int(y), at, "chargeback") for i, y in zip(ids, labels, strict=True)],
    )
    assert put == len(ids)
    wait_for_labels(cloud, set(ids))
    return ids


def wait_for_labels(cloud, ids: set[str], timeout: float = 60.0) -> None:
    import pyarrow.parquet as pq

    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="ground-truth/"):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                seen.update(pq.read_table(io.BytesIO(body)).column("inference_id").to_pylist())
        if ids <= seen:
            return
        time.sleep(0.5)
    raise AssertionError(f"{len(ids - seen)} of {len(ids)} labels not stored after {timeout} s")


def run_window_holding(cloud, moment: datetime) -> dict:
    """Jump the clock to the scheduled run whose evaluated window [run - 2 h, run - 1 h) holds `moment`, wait for
    every run that fired, and return that window's report."""
    [(_, next_at)] = [p for p in cloud.scheduler.pending() if "MonitoringStateMachine" in p[0]]
    target = next_at
    while target <= moment + HOUR:
        target += HOUR
    before = len(cloud.executions("MonitoringStateMachine"))
    fired = int((target - next_at) / HOUR) + 1
    cloud.advance((target - cloud.clock.now()).total_seconds() + 1)
    runs = cloud.wait_for_executions("MonitoringStateMachine", count=before + fired, timeout=180)
    assert all(run["status"] == "SUCCEEDED" for run in runs), [(r["name"], r["status"]) for r in runs]
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    start = target - 2 * HOUR
    name = f"{start:%Y%m%dT%H%M%SZ}--{start + HOUR:%Y%m%dT%H%M%SZ}"
    key = f"monitoring/{cloud.stack.outputs['EndpointName']}/{name}/report.json"
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_a_healthy_window_is_measured_on_schedule_without_an_alarm(cloud, orders, client, inbox):
    _, rows, _ = orders
    decided_at = cloud.clock.now()
    ids = decide_and_label(cloud, client, decision_requests(rows.to_pylist()), rows.column("is_fraud").to_pylist())

    report = run_window_holding(cloud, decided_at)
    assert report["traffic"]["requests"] == len(ids)
    assert report["traffic"]["labelled"] == len(ids) and report["traffic"]["label_rate"] == 1.0
    assert report["drift"]["drifted"] == [], [f["why"] for f in report["drift"]["features"] if f["drifted"]]
    assert report["breach"]["any"] is False, report["breach"]
    assert report["quality"]["labels"] == len(ids)
    assert report["quality"]["degraded"] == []
    assert inbox.take() == []
    html = cloud.client("s3").get_object(
        Bucket=cloud.physical_id("ArtifactsBucket"), Key=report["links"]["report_html"].split("/", 3)[3]
    )
    assert b"<svg" in html["Body"].read()


def test_drifted_traffic_whose_labels_no_longer_follow_the_scores_breaches_and_requests_retraining(
    cloud, orders, client, inbox
):
    _, _, rows = orders
    drifted = []
    for index, order in enumerate(decision_requests(rows.to_pylist())):
        order["order_amount"] = min(order["order_amount"] * 4.0, 99_000.0)
        if index % 3:
            order["merchant_category"] = "digital_goods"
        drifted.append(order)
    labels = (np.random.default_rng(5).random(len(drifted)) < 0.15).astype(int).tolist()  # unrelated to the scores
    notifications = Inbox.notifications(cloud, "monitoring-notifications")
    decided_at = cloud.clock.now()
    decide_and_label(cloud, client, drifted, labels)

    report = run_window_holding(cloud, decided_at)
    assert report["breach"]["any"] is True
    kinds = {reason["kind"] for reason in report["breach"]["reasons"]}
    assert {"drift", "quality"} <= kinds, report["breach"]
    assert {"merchant_category", "order_amount"} <= set(report["drift"]["drifted"])
    assert "pr_auc" in report["quality"]["degraded"]

    # the run before may have breached already, on the estimate of its recent window (the same orders, before their
    # labels were due): then both requests name the episode that run began, and the guard starts one retraining
    details = [event["detail"] for event in inbox.take(wait_s=5)]
    assert details and {d["episode"] for d in details} == {report["breach"]["episode"]}
    assert report["window"]["name"] in [d["windows"][0] for d in details]
    assert all(d["reason"] == "quality" and d["model_package_group"] == report["model_package_group"] for d in details)
    subjects = [m.get("Subject", "") for m in notifications.take(wait_s=5)]
    assert any("drift" in s and "quality" in s for s in subjects), subjects
