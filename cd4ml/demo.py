"""The main job on one machine: deploy template.yaml on the local cloud and drive it as a user would.

Today the stack holds the foundation (buckets, topic, stream, table); the demo deploys it, uploads a dataset and
shows what the event wiring did with it. The training pipeline (issue 4) extends this into the full run.
"""

from __future__ import annotations

import csv
import io
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .localcloud import LocalCloud


def sample_orders(rows: int = 200, seed: int = 7) -> bytes:
    """A small, deterministic order file in the shape the pipeline ingests."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["order_id", "customer_id", "order_ts", "order_amount", "account_tenure_days", "is_fraud"])
    for i in range(rows):
        writer.writerow(
            [
                f"order-{i:06d}",
                f"customer-{rng.randrange(40):04d}",
                (start + timedelta(minutes=rng.randrange(60 * 24 * 24))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                f"{rng.lognormvariate(3.5, 1.0):.2f}",
                rng.randrange(1, 2000),
                int(rng.random() < 0.02),
            ]
        )
    return out.getvalue().encode("utf-8")


def run(template: Path = Path("template.yaml"), out: object = sys.stdout) -> int:
    def say(text: str) -> None:
        print(text, file=out, flush=True)  # type: ignore[call-overload]

    started = time.perf_counter()
    with LocalCloud() as cloud:
        say(f"[1/3] Deploying {template} onto the local cloud ({cloud.endpoint_url})")
        stack = cloud.deploy(template, progress=lambda line: say(f"      {line}"))
        say(f"      {len(stack.resources)} resources ready")
        bucket = stack.outputs["RawDataBucketName"]
        key = f"datasets/orders/{datetime.now(UTC):%Y-%m-%d}/orders.csv"
        say(f"[2/3] Uploading a sample dataset to s3://{bucket}/{key}")
        body = sample_orders()
        put = cloud.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
        say(f"      {len(body)} bytes, version {put.get('VersionId')}")
        cloud.wait_idle()
        say("[3/3] What EventBridge did with the upload")
        delivered = [d for d in cloud.router.deliveries if d.source == "aws.s3"]
        for delivery in delivered:
            say(f"      {delivery.detail_type} -> rule {delivery.rule} -> {delivery.target_arn}: {delivery.outcome}")
        unmatched = [e for e in cloud.router.unmatched if e.get("source") == "aws.s3"]
        for event in unmatched:
            say(f"      {event['detail-type']} event {event['id']} matched no rule")
        say("      The training pipeline that reacts to this upload is not in template.yaml yet (issue 4).")
    say(f"Done in {time.perf_counter() - started:.1f}s")
    return 0
