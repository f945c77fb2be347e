"""Decision latency of `POST /decisions` on the local cloud at fixed request rates, beside a bare InvokeEndpoint of
the same feature vectors and the model called in process.

Run from the repository root:

    .venv/bin/python bench/decision_latency.py                        # 20, 50 and 100 req/s, 10 s each (~2 min)
    .venv/bin/python bench/decision_latency.py --rates 100 --seconds 30

The real template is deployed on the local cloud, the model code published, one small model trained by the
training pipeline and deployed by the deployment workflow (as bench/batch_scoring.py does). A seeded stream of
generated orders (`--customers` customers, in time order, like `cd4ml data generate`) is then sent, for each rate,
three ways, each on the same open-loop schedule:

  (a) decision    a SigV4-signed POST to the stack output `DecisionApiUrl`: the HTTP API, the decide function
                  (customer state GetItem, InvokeEndpoint, conditional PutItem, PutEvents) and back;
  (b) endpoint    boto3 `sagemaker-runtime.invoke_endpoint` of the feature vector the decision sends for that order
                  (the customer's state replayed here with the same feature code), through the local endpoint;
  (c) in process  the deployed model's artifacts loaded here (`load_model_dir`) and the serving functions
                  `input_fn` / `predict_fn` / `output_fn` called on the same CSV row.

Open loop: request i of a run is due at start + i / rate whatever happened to the ones before, and `--threads`
senders take the requests in order. Latency is measured from the due time, not from when a sender got to it, so a
slow answer that delays the next requests shows in theirs (no coordinated omission). The senders run in a child
process of their own, as a client would, so that their Python does not compete for the cloud's interpreter lock.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import multiprocessing
import queue
import sys
import tarfile
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from batch_scoring import PARAMETERS as SCORING_PARAMETERS  # noqa: E402
from batch_scoring import train_and_deploy  # noqa: E402
from sagemaker_endpoints import machine, percentile  # noqa: E402

TARGET_RATIO = 4.0  # issue 10 §4: decision p99 <= 4 x the bare InvokeEndpoint p50 of the same run
WAYS = ("decision", "endpoint", "in process")
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# The stack's defaults, but a model of the same size as the integration tests' (30 rounds, depth 3): small, fast.
PARAMETERS = {
    **SCORING_PARAMETERS,
    "TrainingHyperparameters": json.dumps({"num_round": 30, "max_depth": 3, "early_stopping_rounds": 10}),
}


@dataclass(frozen=True)
class Target:
    """What the sender process needs: where to send, and what (one order and its feature vector per request)."""

    decision_url: str
    endpoint_url: str
    endpoint_name: str
    region: str
    model_dir: str
    orders: list[str]  # JSON bodies, in time order
    bodies: list[str]  # the CSV row of each order's feature vector, as the decision sends it to the endpoint


@dataclass
class Run:
    """One way at one rate: latency from each request's due time (ms), and the answers by status."""

    way: str
    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    late_ms: list[float] = field(default_factory=list)  # how late a sender started a request (its own lag)


def open_loop(
    send: Callable[[int], str], first: int, count: int, rate: float, threads: int
) -> tuple[list[float], Counter[str], list[float]]:
    """Send requests first..first+count-1, request k due at start + k / rate, from `threads` senders taking them in
    order; each latency counts from the due time. Returns the latencies (ms), the statuses and the start lags."""
    start = time.perf_counter() + 0.05
    lock = threading.Lock()
    taken = [0]
    latencies: list[float] = [math.nan] * count
    lags: list[float] = [math.nan] * count
    statuses: list[str] = [""] * count

    def sender() -> None:
        while True:
            with lock:
                k = taken[0]
                taken[0] += 1
            if k >= count:
                return
            due = start + k / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            began = time.perf_counter()
            try:
                status = send(first + k)
            except Exception as error:  # a refused connection or a timeout is an answer too, counted by its kind
                status = type(error).__name__
            latencies[k] = (time.perf_counter() - due) * 1000
            lags[k] = (began - due) * 1000
            statuses[k] = status

    pool = [threading.Thread(target=sender, name=f"sender-{i}") for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, Counter(statuses), lags


def senders(target: Target) -> dict[str, Callable[[int], str]]:
    """One send function per way; each returns the answer's status ("200", or an error's name)."""
    import boto3
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from cd4ml_model.artifacts import load_model_dir
    from cd4ml_model.inference import input_fn, output_fn, predict_fn

    session = boto3.session.Session(region_name=target.region, **CREDENTIALS)
    credentials = session.get_credentials()
    runtime = session.client(
        "sagemaker-runtime",
        endpoint_url=target.endpoint_url,
        config=Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 1}),
    )
    http = threading.local()
    model = load_model_dir(target.model_dir)
    model.booster.set_param({"device": "cpu"})  # as the serving model_fn does: one row arrives on the host

    def decision(i: int) -> str:
        if not hasattr(http, "session"):
            http.session = requests.Session()
        signed = AWSRequest(
            method="POST", url=target.decision_url, data=target.orders[i], headers={"Content-Type": "application/json"}
        )
        SigV4Auth(credentials, "execute-api", target.region).add_auth(signed)
        answer = http.session.post(target.decision_url, data=target.orders[i], headers=dict(signed.headers), timeout=30)
        return str(answer.status_code)

    def endpoint(i: int) -> str:
        answer = runtime.invoke_endpoint(
            EndpointName=target.endpoint_name,
            Body=target.bodies[i].encode("utf-8"),
            ContentType="text/csv",
            Accept="application/json",
        )
        answer["Body"].read()
        return str(answer["ResponseMetadata"]["HTTPStatusCode"])

    def in_process(i: int) -> str:
        output_fn(predict_fn(input_fn(target.bodies[i], "text/csv"), model), "application/json")
        return "ok"

    return {"decision": decision, "endpoint": endpoint, "in process": in_process}


def drive(target: Target, rates: list[float], seconds: float, warmup_s: float, threads: int, results: Any) -> None:
    """The sender process: for each rate, each way, a warm-up run thrown away and then the measured run; the runs
    are put on `results` as they end (a list of Run)."""
    sends = senders(target)
    # every decide environment the highest rate may use is started before anything is measured (cold starts)
    for _ in range(3):
        open_loop(sends["decision"], 0, threads, 1000.0, threads)
    cursor = threads * 3
    runs: list[Run] = []
    for rate in rates:
        warm, count = max(1, round(rate * warmup_s)), max(1, round(rate * seconds))
        for way in WAYS:  # the same orders three ways; each order is decided once, the next rate goes on
            open_loop(sends[way], cursor, warm, rate, threads)
            latencies, statuses, lags = open_loop(sends[way], cursor + warm, count, rate, threads)
            runs.append(Run(way, rate, latencies, statuses, lags))
        cursor += warm + count
    results.put(runs)


def feature_rows(orders: list[dict[str, Any]]) -> list[str]:
    """Each order's feature vector as the decide function builds it (the customer's state before the order),
    as the CSV row it sends."""
    from cd4ml_shared.decisions import model_request_body
    from cd4ml_shared.online_features import CUSTOMER, EMPTY, features_for, updated

    states: dict[str, Any] = {}
    rows = []
    for order in orders:
        state = states.get(order[CUSTOMER], EMPTY)
        rows.append(model_request_body(features_for(order, state)))
        states[order[CUSTOMER]] = updated(state, order)
    return rows


def generated_orders(count: int, customers: int, seed: int, now: datetime) -> list[dict[str, Any]]:
    """`count` generated orders without their label, in time order, ending now, from about `customers` customers
    (the generator keeps 12 days of orders per customer: the days spanned set the population)."""
    from cd4ml_shared.contract import ORDERS

    from cd4ml.data import generate_orders

    days = max(1, round(count * 12 / customers))
    start = datetime(now.year, now.month, now.day, tzinfo=UTC) - timedelta(days=days)
    table = generate_orders(count, seed=seed, start=start, days=days).sort_by(ORDERS.timestamp.name)
    rows = table.drop_columns([ORDERS.label.name]).to_pylist()
    return [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()} for row in rows]


def deploy_model(cloud: Any, now: datetime) -> tuple[str, dict[str, Any]]:
    """Train one model with the stack's pipeline and deploy it; its endpoint name and model package."""
    from cd4ml.pipeline_driver import PipelineDriver

    arn = train_and_deploy(cloud, PipelineDriver(cloud), 8_000, now)
    package = cloud.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return str(cloud.stack.outputs["EndpointName"]), package


def unpack_model(cloud: Any, package: dict[str, Any], folder: str) -> None:
    from cd4ml_shared.s3_uri import parse_s3_uri

    bucket, key = parse_s3_uri(package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])
    body = cloud.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        archive.extractall(folder, filter="data")


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def report(runs: list[Run]) -> None:
    print()
    print("| rate (req/s) | way | n | p50 ms | p90 ms | p99 ms | max ms | answers | sender lag p99 ms |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for run in runs:
        values = run.latencies_ms
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(run.statuses.items()))
        cells = [percentile(values, p) for p in (50, 90, 99)] + [max(values)]
        print(
            f"| {run.rate:g} | {run.way} | {len(values)} | " + " | ".join(fmt_ms(c) for c in cells) + f" | {answers} | "
            f"{fmt_ms(percentile(run.late_ms, 99))} |"
        )
    print()
    print(f"| rate (req/s) | decision p99 ms | bare InvokeEndpoint p50 ms | ratio | target <= {TARGET_RATIO:g}x |")
    print("| ---: | ---: | ---: | ---: | --- |")
    for rate in sorted({run.rate for run in runs}):
        by_way = {run.way: run for run in runs if run.rate == rate}
        decision_p99 = percentile(by_way["decision"].latencies_ms, 99)
        bare_p50 = percentile(by_way["endpoint"].latencies_ms, 50)
        ratio = decision_p99 / bare_p50
        met = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"| {rate:g} | {fmt_ms(decision_p99)} | {fmt_ms(bare_p50)} | {ratio:.2f} | {met} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[20.0, 50.0, 100.0], help="requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per rate and way")
    parser.add_argument("--warmup-seconds", type=float, default=1.0, help="thrown away before each measured run")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated order stream")
    parser.add_argument("--customers", type=int, default=2_000, help="about how many customers place the orders")
    parser.add_argument("--threads", type=int, default=8, help="senders (the decide function runs at most 8 at once)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    print("cd4ml decision latency: POST /decisions vs. a bare InvokeEndpoint vs. the model in process")
    print("\n".join(machine()))
    print(f"packages: xgboost {version('xgboost-cpu')}, requests {version('requests')}, werkzeug {version('werkzeug')}")
    print(
        f"settings: rates={args.rates} seconds={args.seconds} warmup_seconds={args.warmup_seconds} seed={args.seed} "
        f"customers={args.customers} threads={args.threads}"
    )
    began = time.perf_counter()
    needed = args.threads * 3 + sum(
        max(1, round(r * args.warmup_seconds)) + max(1, round(r * args.seconds)) for r in args.rates
    )
    orders = generated_orders(needed, args.customers, args.seed, now)
    bodies = feature_rows(orders)
    print(f"orders:   {len(orders):,} generated, {len({o['customer_id'] for o in orders}):,} customers")

    from cd4ml.localcloud import LocalCloud

    with LocalCloud.deployed(ROOT / "template.yaml", PARAMETERS) as cloud, tempfile.TemporaryDirectory() as folder:
        endpoint, package = deploy_model(cloud, now)
        unpack_model(cloud, package, folder)
        print(f"model:    version {package['ModelPackageVersion']} on endpoint {endpoint}")
        print(f"ready in  {time.perf_counter() - began:.1f} s (deploy, train, deploy the model)")
        target = Target(
            decision_url=cloud.stack.outputs["DecisionApiUrl"] + "decisions",
            endpoint_url=cloud.endpoint_url,
            endpoint_name=endpoint,
            region=cloud.region,
            model_dir=folder,
            orders=[json.dumps(order) for order in orders],
            bodies=bodies,
        )
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        client = context.Process(
            target=drive, args=(target, args.rates, args.seconds, args.warmup_seconds, args.threads, results)
        )
        client.start()
        runs: list[Run] | None = None
        while runs is None:
            try:
                runs = results.get(timeout=1.0)
            except queue.Empty:
                if not client.is_alive():
                    raise SystemExit(f"the sender process ended ({client.exitcode}) without results") from None
        client.join()
    report(runs)
    print(f"\ntotal bench time: {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
