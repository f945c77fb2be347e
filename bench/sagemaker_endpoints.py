"""What local SageMaker endpoints cost: start time, and InvokeEndpoint latency and throughput against the server alone.

Run from the repository root:

    .venv/bin/python bench/sagemaker_endpoints.py             # small defaults, about 40 s on 2 cores
    .venv/bin/python bench/sagemaker_endpoints.py --help      # sizes

Parts:
1. start: CreateEndpoint -> InService for a one-variant endpoint (the linear test model), `--endpoints` times; the
   status is watched in moto's backend in this process every 1 ms, so waiting costs no HTTP request.
2. invoke: `--invokes` requests per thread with 1 and `--threads` client threads, each thread with its own boto3
   sagemaker-runtime client (InvokeEndpoint through the moto server: botocore, HTTP, moto dispatch, the local
   router, HTTP to the serving process), against the baseline of the same requests sent straight to the serving
   process's /invocations with http.client (one keep-alive connection per thread), in the same process.
   The same with data capture at 100 % (records buffered in memory, written to S3 every second).
   "HTTP floor" is sts.get_caller_identity on the moto endpoint: what any moto request costs.
All times are wall clock (time.perf_counter()) in this process; warm-up requests are thrown away first.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import math
import os
import platform
import statistics
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cd4ml.localcloud import LocalCloud  # noqa: E402
from cd4ml.localcloud.aws import ACCOUNT_ID  # noqa: E402

MODEL_CODE = ROOT / "tests" / "integration" / "fixtures" / "sagemaker_endpoints" / "linear" / "code"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "bench-models"
BODY = b"0.5,1.5,2.5,3.5"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def machine() -> list[str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine:  {platform.platform()}, {os.cpu_count()} CPUs ({cpu})",
        f"python:   {platform.python_version()} ({sys.executable})",
        f"packages: moto {version('moto')}, boto3 {version('boto3')}, botocore {version('botocore')}",
    ]


def archive(weights: list[float]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(MODEL_CODE, arcname="code")
        data = json.dumps({"weights": weights, "bias": 0.25, "version": "bench"}).encode()
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def setup(cloud: LocalCloud) -> None:
    cloud.client("s3").create_bucket(Bucket=BUCKET)
    cloud.client("s3").put_object(Bucket=BUCKET, Key="linear/model.tar.gz", Body=archive([1.0, 2.0, 3.0, 4.0]))
    sagemaker = cloud.client("sagemaker")
    sagemaker.create_model(
        ModelName="linear",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/bench",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://{BUCKET}/linear/model.tar.gz"},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "linear", "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(EndpointConfigName="plain", ProductionVariants=[variant])
    capture = {
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{BUCKET}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    sagemaker.create_endpoint_config(
        EndpointConfigName="captured", ProductionVariants=[variant], DataCaptureConfig=capture
    )


def start_endpoint(cloud: LocalCloud, name: str, config: str) -> tuple[float, float]:
    """(CreateEndpoint request, CreateEndpoint -> InService) in ms."""
    from moto.sagemaker.models import sagemaker_backends

    endpoints = sagemaker_backends[ACCOUNT_ID][cloud.region].endpoints
    started = time.perf_counter()
    cloud.client("sagemaker").create_endpoint(EndpointName=name, EndpointConfigName=config)
    answered = time.perf_counter()
    while endpoints[name].endpoint_status == "Creating":
        time.sleep(0.001)
    assert endpoints[name].endpoint_status == "InService", endpoints[name].failure_reason
    return (answered - started) * 1000, (time.perf_counter() - started) * 1000


def run_threads(threads: int, per_thread: int, warmup: int, make: Callable[[], Callable[[], None]]) -> dict[str, Any]:
    """Latencies (ms) of `per_thread` calls on each of `threads` threads, and the throughput over the whole run."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    calls = [make() for _ in range(threads)]
    for call in calls:
        for _ in range(warmup):
            call()
    barrier = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        call, mine = calls[index], latencies[index]
        barrier.wait()
        for _ in range(per_thread):
            began = time.perf_counter()
            call()
            mine.append((time.perf_counter() - began) * 1000)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - started
    samples = [value for mine in latencies for value in mine]
    return {
        "n": len(samples),
        "p50": statistics.median(samples),
        "p99": percentile(samples, 99),
        "rps": len(samples) / elapsed,
    }


def boto3_invoker(cloud: LocalCloud, endpoint: str) -> Callable[[], Callable[[], None]]:
    def make() -> Callable[[], None]:
        runtime = boto3.session.Session().client(
            "sagemaker-runtime",
            endpoint_url=cloud.endpoint_url,
            region_name=cloud.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

        def call() -> None:
            runtime.invoke_endpoint(EndpointName=endpoint, Body=BODY, ContentType="text/csv")["Body"].read()

        return call

    return make


def direct_invoker(url: str) -> Callable[[], Callable[[], None]]:
    parts = urlsplit(url)

    def make() -> Callable[[], None]:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)

        def call() -> None:
            connection.request("POST", "/invocations", body=BODY, headers={"Content-Type": "text/csv"})
            response = connection.getresponse()
            response.read()
            assert response.status == 200

        return call

    return make


def floor_invoker(cloud: LocalCloud) -> Callable[[], Callable[[], None]]:
    def make() -> Callable[[], None]:
        sts = boto3.session.Session().client(
            "sts",
            endpoint_url=cloud.endpoint_url,
            region_name=cloud.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        return lambda: sts.get_caller_identity() and None

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=7, help="endpoints started for the start-time part")
    parser.add_argument("--invokes", type=int, default=400, help="requests per thread")
    parser.add_argument("--threads", type=int, default=4, help="client threads of the concurrent runs")
    parser.add_argument("--warmup", type=int, default=30, help="requests per thread thrown away first")
    args = parser.parse_args()

    print("\n".join(machine()))
    print(
        f"settings: endpoints={args.endpoints} invokes/thread={args.invokes} threads=1,{args.threads} "
        f"warmup/thread={args.warmup}\n"
    )
    with LocalCloud() as cloud:
        setup(cloud)
        requests, starts = [], []
        for index in range(args.endpoints + 1):
            request_ms, start_ms = start_endpoint(cloud, f"start-{index}", "plain")
            if index:  # the first start pays for imports and page-cache misses
                requests.append(request_ms)
                starts.append(start_ms)
        print("1. start (ms)                     n   median   min    max")
        print(
            f"   CreateEndpoint request      {len(requests):5d} {statistics.median(requests):8.1f} "
            f"{min(requests):6.1f} {max(requests):6.1f}"
        )
        print(
            f"   CreateEndpoint -> InService {len(starts):5d} {statistics.median(starts):8.1f} "
            f"{min(starts):6.1f} {max(starts):6.1f}\n"
        )

        start_endpoint(cloud, "captured", "captured")
        url = cloud.sagemaker_endpoints.servers("start-0")["AllTraffic"]
        print("2. invoke (ms, requests/s)             threads      n     p50     p99    req/s")
        rows = [
            ("HTTP floor (sts.get_caller_identity)", floor_invoker(cloud)),
            ("direct http.client -> /invocations", direct_invoker(url)),
            ("InvokeEndpoint (boto3)", boto3_invoker(cloud, "start-0")),
            ("InvokeEndpoint, capture 100%", boto3_invoker(cloud, "captured")),
        ]
        for threads in (1, args.threads):
            for label, make in rows:
                result = run_threads(threads, args.invokes, args.warmup, make)
                print(
                    f"   {label:36s} {threads:5d} {result['n']:6d} {result['p50']:7.2f} {result['p99']:7.2f} "
                    f"{result['rps']:8.0f}"
                )
        cloud.sagemaker_endpoints.flush()


if __name__ == "__main__":
    main()
