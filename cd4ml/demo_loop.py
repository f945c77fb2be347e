"""The closed loop's half of `make demo` and of its end-to-end test: decided orders labelled on the ground-truth
stream, the clock jumped to the scheduled monitoring run whose window holds them, drifted traffic whose labels follow
a new pattern, and the retraining the breach starts followed to its training run. Plain functions over a
`LocalCloud` (with a `JumpClock`) and a `DecisionClient`; demo.py tells the story."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from cd4ml_shared.monitoring_join import Window
from cd4ml_shared.run_input import DatasetRef

from .decision_client import DecisionClient
from .demo_serving import DecisionTally, decide_each
from .ground_truth import Label, put_labels
from .localcloud import LocalCloud

HOUR = timedelta(hours=1)
# The demo's and the test's monitoring: an hour's window whose labels had an hour (the clock jumps, nobody waits),
# and a decision log that batches for a second; the orders sent are drawn across a day (docs/monitoring.md, windows)
MONITORING_PARAMETERS = {
    "MonitoringSchedule": "rate(1 hour)",
    "MonitorStartOffsetSeconds": "7200",
    "MonitorEndOffsetSeconds": "3600",
    "DecisionLogBatchingWindowSeconds": "1",
}


class LoopStepFailed(AssertionError):
    """A step of the loop did not happen as it must (a label not stored, a run that did not fire)."""


@dataclass(frozen=True)
class Labelled:
    tally: DecisionTally
    ids: list[str]
    seconds_to_store: float  # from the last decision until labels and decision log were stored


def decide_and_label(
    cloud: LocalCloud, client: DecisionClient, orders: Sequence[Mapping[str, Any]], labels: Sequence[int]
) -> Labelled:
    """Decide each order through the API, put its label on the stream (labeled now, by the cloud's clock), and wait
    until record_feedback stored every label and record_decisions logged every decision."""
    tally, replies = decide_each(client, orders, threads=2)
    if tally.failed:
        raise LoopStepFailed(f"{tally.failed} of {tally.sent} decisions failed: {tally.failures}")
    ids = [reply.body["inference_id"] for reply in replies]
    at = cloud.clock.now()
    put_labels(
        cloud.client("kinesis"),
        cloud.physical_id("GroundTruthStream"),
        [Label(i, int(y), at, "chargeback") for i, y in zip(ids, labels, strict=True)],
    )
    started = time.monotonic()
    wait_for_ids(cloud, "ground-truth/", set(ids))
    wait_for_ids(cloud, "decisions/", set(ids))
    return Labelled(tally, ids, time.monotonic() - started)


def wait_for_ids(cloud: LocalCloud, prefix: str, ids: set[str], timeout: float = 120.0) -> None:
    """Wait until the Parquet objects under `prefix` of the artifacts bucket hold every inference id of `ids`."""
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        seen = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                seen.update(pq.read_table(io.BytesIO(body)).column("inference_id").to_pylist())
        if ids <= seen:
            return
        time.sleep(0.25)
    raise LoopStepFailed(f"{len(ids - seen)} of {len(ids)} inference ids not under {prefix} after {timeout:.0f} s")


def run_window_holding(cloud: LocalCloud, moment: datetime, timeout: float = 180.0) -> dict[str, Any]:
    """Jump the clock to the scheduled monitoring run whose evaluated window [run - 2 h, run - 1 h) holds
    `moment`, wait for every run that fired, and return that window's report.json."""
    pending = [at for name, at in cloud.scheduler.pending() if "MonitoringStateMachine" in name]
    if not pending:
        raise LoopStepFailed("the stack has no monitoring schedule")
    first = target = pending[0]
    while target <= moment + HOUR:
        target += HOUR
    before = len(cloud.executions("MonitoringStateMachine"))
    fired = int((target - first) / HOUR) + 1
    cloud.advance((target - cloud.clock.now()).total_seconds() + 1)
    runs = cloud.wait_for_executions("MonitoringStateMachine", count=before + fired, timeout=timeout)
    failed = [(run["name"], run["status"]) for run in runs if run["status"] != "SUCCEEDED"]
    if failed:
        raise LoopStepFailed(f"monitoring runs did not succeed: {failed}")
    window = Window(target - 2 * HOUR, target - HOUR)
    key = f"monitoring/{cloud.stack.outputs['EndpointName']}/{window.name()}/report.json"
    body = cloud.client("s3").get_object(Bucket=cloud.physical_id("ArtifactsBucket"), Key=key)["Body"].read()
    report: dict[str, Any] = json.loads(body)
    return report


def drifted(orders: Sequence[Mapping[str, Any]], seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    """Orders of a new regime and their labels: two thirds move to `digital_goods`, amounts four times larger, and
    fraud follows the new merchants (a quarter of the moved orders is fraud, whatever the model's features said
    before), so the model's ranking no longer matches the labels."""
    rng = np.random.default_rng(seed)
    shifted, labels = [], []
    for index, order in enumerate(orders):
        changed = dict(order)
        changed["order_amount"] = min(float(order["order_amount"]) * 4.0, 99_000.0)
        moved = index % 3 != 0
        if moved:
            changed["merchant_category"] = "digital_goods"
        shifted.append(changed)
        labels.append(int(rng.random() < 0.25) if moved else int(rng.random() < 0.02))
    return shifted, labels


def retraining_records(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Every request request_retraining recorded (started or dropped with why), oldest first."""
    s3, bucket = cloud.client("s3"), cloud.physical_id("ArtifactsBucket")
    group = cloud.stack.outputs["ModelPackageGroupName"]
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"retraining/{group}/requests/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    records = [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in keys]
    return sorted(records, key=lambda record: str(record["requested_at"]))


def wait_for_records(cloud: LocalCloud, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
    """The recorded requests once there are `count` (or all there are after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        cloud.wait_idle()
        records = retraining_records(cloud)
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.25)


def retraining_dataset_ref(cloud: LocalCloud, record: Mapping[str, Any]) -> DatasetRef:
    """The dataset a started request wrote, pinned to its version (what its training run is named after)."""
    bucket, key = str(record["dataset"]["uri"]).removeprefix("s3://").split("/", 1)
    head = cloud.client("s3").head_object(Bucket=bucket, Key=key)
    return DatasetRef(bucket=bucket, key=key, version_id=head.get("VersionId"), etag=head["ETag"].strip('"'))
