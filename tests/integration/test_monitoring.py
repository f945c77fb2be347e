"""The closed loop of template.yaml on the local cloud, on its schedule, with the clock jumped rather than slept: a
model trained and deployed by the stack, orders decided through the decision API (captured by the endpoint, logged
with their raw fields), their labels put on the ground-truth stream, and the scheduled run that measures the window
they fall in. A healthy window is healthy (no alarm, no drift, quality within its interval); a window of drifted
orders (other merchants, larger amounts) whose labels no longer follow the scores breaches on drift and on quality,
is notified, and emits RetrainingRequested naming its episode; the retraining guard starts one retraining for the
episode, however many requests come (100 within the hour: one run, each other one recorded with why); the retraining
dataset (the champion's data and the labelled production orders) runs through the training pipeline, and the run's
end releases the guard."""

import json
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from quick_model import FAST_TRAINING
from trained_model import DEV_APPROVED, QUICK_ROLLOUT, Inbox, deployment, version_of

from cd4ml.data import generate_orders
from cd4ml.decision_client import DecisionClient, decision_requests
from cd4ml.demo_loop import (
    MONITORING_PARAMETERS,
    decide_and_label,
    drifted,
    retraining_records,
    run_window_holding,
    wait_for_records,
)
from cd4ml.localcloud import JumpClock, LocalCloud
from cd4ml.localcloud.aws import LOCAL_CREDENTIALS
from cd4ml.online_store import customer_states, write_states
from cd4ml.pipeline_driver import PipelineDriver

pytestmark = pytest.mark.integration

DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START = DAY - timedelta(days=15)
LIVE = DAY - timedelta(days=1)  # yesterday's orders are the live ones: none lies in the future


@pytest.fixture(scope="module")
def cloud(root):
    parameters = {**DEV_APPROVED, **FAST_TRAINING, **QUICK_ROLLOUT, **MONITORING_PARAMETERS}
    with LocalCloud.deployed(root / "template.yaml", parameters, clock=JumpClock()) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def orders():
    """15 days of orders of one population, up to today: 14 to train on, yesterday's (the same customers) live, in two
    draws across the whole day (an hour's orders would differ from the reference by the hour's country mix)."""
    table = generate_orders(8_600, seed=11, start=START, days=15).sort_by("order_ts")
    is_live = pc.greater_equal(table.column("order_ts"), pa.scalar(LIVE, pa.timestamp("us", tz="UTC")))
    live = table.filter(is_live)
    draw = np.random.default_rng(2).permutation(live.num_rows)
    first, second = np.sort(draw[:300]), np.sort(draw[300:])  # about 550 orders that day
    return table.filter(pc.invert(is_live)), live.take(first), live.take(second)


@pytest.fixture(scope="module")
def served(cloud, orders):
    history = orders[0]
    driver = PipelineDriver(cloud)
    driver.publish_code("dev")
    run = driver.run(history, f"datasets/orders/{DAY:%Y-%m-%d}/orders.csv")
    assert run.status == "SUCCEEDED", run.cause
    arn = run.outcome["model_package_arn"]
    rollout = deployment(cloud, version_of(arn))
    assert rollout["status"] == "SUCCEEDED", rollout.get("cause")
    # `cd4ml features backfill`, with the drifted draw's orders too: the healthy draw's 24-hour counts must see the
    # day's other orders (docs/monitoring.md); the drifted ones are then in the state twice, never counting themselves
    folded = customer_states(pa.concat_tables([history, orders[2]]))
    write_states(cloud.client("dynamodb"), cloud.stack.outputs["CustomerFeaturesTableName"], folded.states)
    return arn


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


def test_a_healthy_window_is_measured_on_schedule_without_an_alarm(cloud, orders, client, inbox):
    _, rows, _ = orders
    decided_at = cloud.clock.now()
    ids = decide_and_label(cloud, client, decision_requests(rows.to_pylist()), rows.column("is_fraud").to_pylist()).ids

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
    drifted_orders, labels = drifted(decision_requests(rows.to_pylist()), seed=5)
    notifications = Inbox.notifications(cloud, "monitoring-notifications")
    decided_at = cloud.clock.now()
    decide_and_label(cloud, client, drifted_orders, labels)

    report = run_window_holding(cloud, decided_at)
    assert report["breach"]["any"] is True
    kinds = {reason["kind"] for reason in report["breach"]["reasons"]}
    assert {"drift", "quality"} <= kinds, report["breach"]
    assert {"merchant_category", "order_amount"} <= set(report["drift"]["drifted"])
    assert "pr_auc" in report["quality"]["degraded"]

    # the run before may have breached already, on the estimate of its recent window (the same orders, before their
    # labels were due). The jump fires both runs at once, so the later may not see the earlier's breach in the
    # history and begin its own episode; the guard's in-flight rule still starts one retraining (the next test)
    details = [event["detail"] for event in inbox.take(wait_s=5)]
    assert 1 <= len(details) <= 2 and report["breach"]["episode"] in {d["episode"] for d in details}
    assert report["window"]["name"] in [d["windows"][0] for d in details]
    assert all(d["reason"] == "quality" and d["model_package_group"] == report["model_package_group"] for d in details)
    subjects = [m.get("Subject", "") for m in notifications.take(wait_s=5)]
    assert any("drift" in s and "quality" in s for s in subjects), subjects


def test_a_storm_of_requests_within_the_hour_starts_one_retraining_and_records_why_the_others_were_dropped(cloud):
    before = wait_for_records(cloud, 1)
    assert [r["started"] for r in before].count(True) == 1, before  # the breach's request(s): one run
    group = cloud.stack.outputs["ModelPackageGroupName"]
    events = cloud.client("events")
    storm = [
        {
            "Source": "cd4ml.monitoring",
            "DetailType": "RetrainingRequested",
            "Time": cloud.clock.now() + timedelta(seconds=30 * k),
            "Detail": json.dumps(
                {"reason": "drift", "model_package_group": group, "episode": f"storm-{k % 7}", "windows": []}
            ),
        }
        for k in range(100 - len(before))
    ]
    for start in range(0, len(storm), 10):
        assert events.put_events(Entries=storm[start : start + 10])["FailedEntryCount"] == 0
    records = wait_for_records(cloud, 100)
    assert len(records) == 100
    started = [r for r in records if r["started"]]
    assert len(started) == 1
    dropped = [r for r in records if not r["started"]]
    assert {r["dropped"] for r in dropped} <= {"in_flight", "cooldown", "episode_handled"}
    assert all(r["why"] for r in dropped)


def test_the_retraining_dataset_runs_through_the_pipeline_with_its_lineage_and_its_end_releases_the_guard(
    cloud, orders
):
    [started] = [r for r in retraining_records(cloud) if r["started"]]
    dataset = started["dataset"]
    assert dataset["uri"].endswith(f"retrain-{started['request_id']}.parquet")
    lineage = dataset["lineage"]
    # the labelled production orders of both windows (every one decided and labelled) beside the champion's rows
    decided = orders[1].num_rows + orders[2].num_rows
    assert lineage["production_rows"] == decided and lineage["unlabelled_dropped"] == 0, lineage
    assert lineage["decision_log_rows"] == decided
    assert dataset["rows"] == lineage["accepted_rows"] + decided
    sfn = cloud.client("stepfunctions")
    runs = [
        e
        for e in cloud.executions("TrainingPipeline")
        if "retrain-" in sfn.describe_execution(executionArn=e["executionArn"])["input"]
    ]
    assert len(runs) == 1
    ended = cloud.wait_for_execution(runs[0]["executionArn"], timeout=300)
    assert ended["status"] == "SUCCEEDED", (ended.get("error"), ended.get("cause"))
    outcome = json.loads(ended["output"]) if ended.get("output") else {}
    cloud.wait_idle()
    guard = cloud.client("dynamodb").get_item(
        TableName=cloud.physical_id("RetrainingGuardTable"),
        Key={"group": {"S": cloud.stack.outputs["ModelPackageGroupName"]}},
        ConsistentRead=True,
    )["Item"]
    assert "in_flight" not in guard, guard
    sagemaker = cloud.client("sagemaker")
    packages = sagemaker.list_model_packages(
        ModelPackageGroupName=cloud.stack.outputs["ModelPackageGroupName"], SortBy="CreationTime"
    )["ModelPackageSummaryList"]
    if len(packages) > 1:  # registered (the gate may also keep the champion: a drop of quality is a fair verdict)
        metadata = sagemaker.describe_model_package(ModelPackageName=packages[-1]["ModelPackageArn"])[
            "CustomerMetadataProperties"
        ]
        assert metadata["cd4ml:retraining"] == "true"
        assert metadata["cd4ml:retraining_request_id"] == started["request_id"]
        assert metadata["cd4ml:retraining_reason"] == started["reason"]
    else:
        assert outcome, ended
