"""Feedback capture speed (issue 11 §1): a 10,000-record Kinesis batch end to end through RecordFeedbackFunction's
logic (decode, validate, Parquet, the S3 put on moto) beside powertools' BatchProcessor with a pydantic record model
doing only the parsing, same run, same records; then the same batch with 1% poison, checked: every good record
written, every poison record quarantined.

Run from the repository root:

    .venv/bin/python bench/feedback_capture.py              # 10,000 records, 15 timed runs of each
    .venv/bin/python bench/feedback_capture.py --records 5000 --runs 11 --poison-share 0.01

Times are wall clock (time.perf_counter()) in this process, after one warm-up run of each side that is thrown away;
the sides take turns run by run, and the median run of each is reported, beside the median CPU time of the process
(time.process_time(): what the scheduler gave to other work is left out, page faults are counted). Records, their
order and which ones are poison come from one random.Random(--seed).
The load average is printed beside the numbers: on a shared machine both sides slow down together, so the ratio is
the number to read. Results and what they mean: docs/feedback.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "shared" / "python"))
for name, value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "cd4ml",
}.items():
    os.environ[name] = value

import boto3  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response  # noqa: E402
from aws_lambda_powertools.utilities.parser.models import (  # noqa: E402
    KinesisDataStreamRecord,
    KinesisDataStreamRecordPayload,
)
from cd4ml_shared.aws.feedback import store_batch  # noqa: E402
from cd4ml_shared.feedback import decide_batch  # noqa: E402
from moto import mock_aws  # noqa: E402
from pydantic import AwareDatetime, BaseModel, Json  # noqa: E402

BUCKET = "cd4ml-bench-artifacts"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/cd4ml-bench-GroundTruthStream"
TARGET_RATIO = 4.0
SOURCES = ("chargeback", "review", "manual")


# ---- the baseline: powertools' documented Kinesis + pydantic pattern ------------------------------------------
class Label(BaseModel):
    inference_id: str
    label: Literal[0, 1]
    labeled_at: AwareDatetime
    source: Literal["chargeback", "review", "manual"]


class LabelPayload(KinesisDataStreamRecordPayload):
    data: Json[Label]  # base64-decoded by the parent's validator, then parsed


class LabelRecord(KinesisDataStreamRecord):
    kinesis: LabelPayload


def baseline(event: dict) -> Any:
    """Parse only: the record handler does nothing with the validated model."""
    processor = BatchProcessor(
        event_type=EventType.KinesisDataStreams, model=LabelRecord, raise_on_entire_batch_failure=False
    )
    return process_partial_response(event=event, record_handler=lambda record: None, processor=processor)


# ---- records ------------------------------------------------------------------------------------------------
def good_body(rng: random.Random, arrival: datetime) -> dict:
    labeled = arrival - timedelta(seconds=rng.uniform(0, 86_400 * 30))
    return {
        "inference_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "label": int(rng.random() < 0.02),
        "labeled_at": labeled.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "source": rng.choice(SOURCES),
    }


def poison_body(rng: random.Random, arrival: datetime) -> bytes:
    body = good_body(rng, arrival)
    kind = rng.randrange(6)
    if kind == 0:
        return b"inference_id=" + body["inference_id"].encode()  # not JSON
    if kind == 1:
        body["label"] = 2
    elif kind == 2:
        body["label"] = str(body["label"])  # a string label: the wrong type
    elif kind == 3:
        del body["source"]
    elif kind == 4:
        body["source"] = "psychic"
    else:
        body["labeled_at"] = body["labeled_at"].removesuffix("Z")  # no zone
    return json.dumps(body).encode()


def kinesis_event(count: int, poison_share: float, seed: int) -> tuple[dict, set[int]]:
    """A batch in AWS's Kinesis event shape, and which record numbers are poison."""
    rng = random.Random(seed)
    arrival = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    poison = set(rng.sample(range(count), round(count * poison_share)))
    records = []
    for number in range(count):
        data = poison_body(rng, arrival) if number in poison else json.dumps(good_body(rng, arrival)).encode()
        sequence = str(49590338271490256608559692538361571095921575989136588898 + number * 2**20)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": str(number),
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": arrival.timestamp() + number / 1000,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/cd4ml-bench-RecordFeedbackFunctionRole",
                "awsRegion": "us-east-1",
                "eventSourceARN": STREAM_ARN,
            }
        )
    return {"Records": records}, poison


class MemoryS3:
    """An S3 that keeps objects in a dict: the handler's own cost, without moto's request handling (on AWS the put
    is network wait, not the function's CPU)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_object(self, *, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict:
        self.objects[f"{Bucket}/{Key}"] = bytes(Body)
        return {}


# ---- the handler's logic ----------------------------------------------------------------------------------------
def capture(s3: Any, event: dict) -> Any:
    """What RecordFeedbackFunction does with a batch (functions/record_feedback/app.py), minus logging and metrics."""
    batch = decide_batch(event["Records"])
    store_batch(s3, BUCKET, batch)
    return batch


def timed(variants: dict[str, Any], runs: int) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Median wall seconds and median CPU seconds (this process's, so time the scheduler gives to other work is not
    counted) of each variant. The variants take turns, one run each per round, so a burst of load from other work
    on the machine falls on all of them rather than on whichever was running."""
    results = {name: function() for name, function in variants.items()}  # warm-up, thrown away
    samples: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, function in variants.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            results[name] = function()
            samples[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    median = statistics.median
    return (
        {name: median(values) for name, values in samples.items()},
        {name: median(values) for name, values in cpu.items()},
        results,
    )


def check_poison_run(s3: Any, event: dict, poison: set[int], batch: Any) -> list[str]:
    """Every good record is in the Parquet object and every poison record in the quarantine file, by sequence."""
    records = event["Records"]
    expected_good = [r["kinesis"]["sequenceNumber"] for n, r in enumerate(records) if n not in poison]
    expected_poison = [r["kinesis"]["sequenceNumber"] for n, r in enumerate(records) if n in poison]
    stored = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=batch.good_key())["Body"].read()))
    quarantined = s3.get_object(Bucket=BUCKET, Key=batch.quarantine_key())["Body"].read().decode().splitlines()
    problems = []
    if stored.column("sequence_number").to_pylist() != expected_good:
        problems.append(f"written {stored.num_rows} good records, expected {len(expected_good)}")
    if [json.loads(line)["sequence_number"] for line in quarantined] != expected_poison:
        problems.append(f"quarantined {len(quarantined)} records, expected {len(expected_poison)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--poison-share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    print(
        f"feedback capture bench  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {platform.machine()}  "
        f"{os.cpu_count()} CPUs  Python {platform.python_version()}"
    )
    print(
        f"numpy {version('numpy')}  pyarrow {version('pyarrow')}  pydantic {version('pydantic')}  "
        f"powertools {version('aws-lambda-powertools')}  moto {version('moto')}"
    )
    print(f"records {args.records}  runs {args.runs} (median)  poison share {args.poison_share}  seed {args.seed}")
    clean, _ = kinesis_event(args.records, 0.0, args.seed)
    dirty, poison = kinesis_event(args.records, args.poison_share, args.seed + 1)
    payload_mb = len(json.dumps(clean)) / 1e6
    print(f"event payload {payload_mb:.1f} MB (Lambda's limit is 6 MB)\n")

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        memory = MemoryS3()
        label = f"{args.poison_share:.0%} poison"
        variants = {
            "baseline: BatchProcessor + pydantic model, parse only": lambda: baseline(clean),
            "decide_batch: decode + validate (no write)": lambda: decide_batch(clean["Records"]),
            "handler logic: decode + validate + Parquet + put (in-memory S3)": lambda: capture(memory, clean),
            "handler logic: decode + validate + Parquet + S3 put (moto)": lambda: capture(s3, clean),
            f"baseline, {label} (reported as failures)": lambda: baseline(dirty),
            f"handler logic, {label}, quarantined (moto)": lambda: capture(s3, dirty),
        }
        seconds, cpu, results = timed(variants, args.runs)
        names = list(variants)
        assert results[names[0]] == {"batchItemFailures": []}, results[names[0]]
        rows = list(seconds.items())
        base_s, handler_s, moto_s = seconds[names[0]], seconds[names[2]], seconds[names[3]]
        dirty_base_s, dirty_s, dirty_batch = seconds[names[4]], seconds[names[5]], results[names[5]]
        problems = check_poison_run(s3, dirty, poison, dirty_batch)

    load = os.getloadavg()
    print(f"{'':64} {'ms':>8} {'records/s':>12} {'CPU ms':>8}")
    for label, wall in rows:
        print(f"{label:64} {wall * 1000:8.1f} {args.records / wall:12,.0f} {cpu[label] * 1000:8.1f}")
    ratio = base_s / handler_s
    print(
        f"\nhandler (in-memory S3) / baseline parse-only rate: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x): "
        f"{'met' if ratio >= TARGET_RATIO else 'NOT met'}; with moto's S3 {base_s / moto_s:.1f}x; "
        f"with 1% poison {dirty_base_s / dirty_s:.1f}x; on CPU time {cpu[names[0]] / cpu[names[2]]:.1f}x"
    )
    print(
        f"with poison: {dirty_batch.good.num_rows} written, {len(dirty_batch.poison)} quarantined "
        f"{dict(sorted(dirty_batch.reasons.items()))}: {'; '.join(problems) or 'every record where it belongs'}"
    )
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
