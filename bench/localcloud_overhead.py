"""How much the local cloud adds on top of the code it runs: Lambda invokes, state transitions, Kinesis, deploys.

Run from the repository root:

    .venv/bin/python bench/localcloud_overhead.py            # small defaults, well under 2 minutes on 2 cores
    .venv/bin/python bench/localcloud_overhead.py --help     # sizes of each part, --only to pick parts

Every number is a wall-clock time measured in this process with time.perf_counter(); warm-up iterations are run
and thrown away first. Randomness (Kinesis payloads and the moment each record is put, relative to the poller's
cycle) comes from one seeded generator, so two runs do the same things in the same order.
See bench/README.md for what each row means and for measured results.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import logging
import math
import os
import platform
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cd4ml.localcloud import LocalCloud  # noqa: E402
from cd4ml.localcloud.aws import ACCOUNT_ID  # noqa: E402

BENCH_STACK = ROOT / "bench" / "stacks" / "overhead" / "template.yaml"
NOOP_HANDLER = BENCH_STACK.parent / "functions" / "noop" / "app.py"
TEMPLATES = {
    "template.yaml (repo root)": ROOT / "template.yaml",
    "tests/integration/stacks/core": ROOT / "tests" / "integration" / "stacks" / "core" / "template.yaml",
    "bench/stacks/overhead": BENCH_STACK,
}
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
PUT_RECORDS_MAX = 500  # the most records one PutRecords call takes


# ---- statistics and the table --------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Row:
    section: str
    name: str
    samples: list[float] = field(default_factory=list)  # milliseconds, or the unit below
    unit: str = "ms"
    value: float | None = None  # a derived number (a difference of medians, a rate): no percentiles
    note: str = ""

    @property
    def median(self) -> float:
        return self.value if self.value is not None else statistics.median(self.samples)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return ""
    if unit == "ms":
        if abs(value) < 0.1:
            return f"{value * 1000:.2f} µs"
        return f"{value:.3f} ms" if abs(value) < 100 else f"{value:.1f} ms"
    return f"{value:,.0f} {unit}"


def print_table(rows: list[Row]) -> None:
    header = f"{'what':<58} {'n':>5} {'median':>12} {'p90':>12} {'p99':>12}  note"
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            print(f"\n== {section} ==")
            print(header)
            print("-" * len(header))
        n = len(row.samples) if row.value is None else 0
        p90 = percentile(row.samples, 90) if n >= 10 else None
        p99 = percentile(row.samples, 99) if n >= 50 else None
        note = row.note
        if 1 < n < 10:  # too few for percentiles: show the spread instead
            spread = f"range {fmt(min(row.samples), row.unit)} .. {fmt(max(row.samples), row.unit)}"
            note = f"{spread}; {note}" if note else spread
        print(
            f"{row.name:<58} {n or '':>5} {fmt(row.median, row.unit):>12} {fmt(p90, row.unit):>12} "
            f"{fmt(p99, row.unit):>12}  {note}"
        )


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def header() -> None:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    print("cd4ml local cloud overhead bench")
    print(f"date:     {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine:  {platform.machine()} {platform.processor() or ''}".rstrip() + f", {cores} cores ({usable} usable)"
    )
    print(f"system:   {platform.platform()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()}")
    packages = ", ".join(f"{name} {version(name)}" for name in ("moto", "boto3", "aws-sam-translator"))
    print(f"packages: {packages}")


class DockerAttempts(logging.Handler):
    """Counts moto's own attempts to run a function in Docker (each one is time spent on a path that cannot work).

    moto delivers Kinesis records (and SNS messages) to Lambda itself, through LambdaFunction.invoke, which the
    local cloud does not route to its runtime; every such attempt fails and logs "error running docker".
    They are counted here and kept out of the output; see bench/README.md.
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "docker" in record.getMessage():
            self.count += 1


DOCKER = DockerAttempts()


# ---- 1. Lambda invocation ------------------------------------------------------------------------------------
class FakeContext:
    """Just enough of a Lambda context for the direct-call baseline."""

    function_name = "noop"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_handler(path: Path) -> Callable[[Any, Any], Any]:
    spec = importlib.util.spec_from_file_location("bench_noop_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[Any, Any], Any] = module.handler
    return handler


def bench_lambda(cloud: LocalCloud, args: argparse.Namespace) -> list[Row]:
    section = "1. Lambda invocation (no-op handler)"
    name = cloud.physical_id("NoopFunction")
    runtime = cloud.runtime
    lam = cloud.client("lambda")
    sts = cloud.client("sts")
    event = {"n": 0}
    payload = json.dumps(event).encode()

    # Cold starts: re-registering the function drops its warm workers, so the next invoke spawns a new one.
    cold: list[float] = []
    for _ in range(args.cold):
        runtime.register(runtime.spec(name))
        ms, outcome = timed(lambda: runtime.invoke(name, payload))
        assert outcome.cold_start and outcome.function_error is None, outcome
        cold.append(ms)

    handler = load_handler(NOOP_HANDLER)
    context = FakeContext()

    def direct() -> Any:
        return handler(json.loads(payload), context)

    def in_process() -> Any:
        outcome = runtime.invoke(name, payload)
        assert outcome.function_error is None and not outcome.cold_start, outcome
        return outcome

    def via_boto3() -> Any:
        response = lam.invoke(FunctionName=name, Payload=payload)
        assert "FunctionError" not in response, response
        return response["Payload"].read()

    def http_floor() -> Any:
        return sts.get_caller_identity()

    series: dict[str, list[float]] = {}
    worker_ms: list[float] = []
    for label, fn in (("direct", direct), ("in_process", in_process), ("boto3", via_boto3), ("http", http_floor)):
        for _ in range(args.warmup):
            fn()
        samples = []
        for _ in range(args.invokes):
            ms, result = timed(fn)
            samples.append(ms)
            if label == "in_process":
                worker_ms.append(result.duration_ms)
        series[label] = samples

    base = statistics.median(series["direct"])
    return [
        Row(section, "baseline: handler called directly in this process", series["direct"], note="json.loads + call"),
        Row(section, "(a) cloud.runtime.invoke, warm", series["in_process"]),
        Row(
            section, "    of which worker round trip (Invocation.duration_ms)", worker_ms, note="pipe + JSON both ways"
        ),
        Row(section, "(b) boto3 lambda.invoke via the local endpoint, warm", series["boto3"]),
        Row(section, "    HTTP floor: boto3 sts.get_caller_identity", series["http"], note="any moto request"),
        Row(
            section,
            "overhead (a) = runtime.invoke - baseline",
            value=statistics.median(series["in_process"]) - base,
            note="difference of medians",
        ),
        Row(
            section,
            "overhead (b) = boto3 invoke - baseline",
            value=statistics.median(series["boto3"]) - base,
            note="difference of medians",
        ),
        Row(section, "cold start: first invoke incl. worker spawn + import", cold, note="runtime.invoke"),
    ]


# ---- 2. Step Functions -----------------------------------------------------------------------------------------
def chain(k: int, state: Callable[[int], dict[str, Any]]) -> str:
    states = {}
    for i in range(k):
        body = state(i)
        if i + 1 < k:
            body["Next"] = f"S{i + 1}"
        else:
            body["End"] = True
        states[f"S{i}"] = body
    return json.dumps({"Comment": f"{k}-state chain generated by the bench", "StartAt": "S0", "States": states})


def pass_state(_: int) -> dict[str, Any]:
    return {"Type": "Pass"}


def lambda_state(function_arn: str) -> Callable[[int], dict[str, Any]]:
    def state(_: int) -> dict[str, Any]:
        return {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
            "OutputPath": "$.Payload",
        }

    return state


_RUNS = itertools.count()


def run_execution(cloud: LocalCloud, machine_arn: str, poll_s: float) -> tuple[float, float]:
    """Start one execution and wait for it; (wall ms from StartExecution to a terminal status, engine ms)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[ACCOUNT_ID][cloud.region]
    sfn = cloud.client("stepfunctions")
    # Always named: moto's interpreter backend does not generate a name, so a second nameless start would fail.
    name = f"run-{next(_RUNS)}"
    started = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=machine_arn, name=name, input="{}")["executionArn"]
    # Watch the execution in moto's backend rather than through DescribeExecution: no HTTP request per poll,
    # so the waiting steals (almost) no time from the interpreter's thread.
    execution = backend.describe_execution(arn)
    while execution.exec_status is None or execution.exec_status.value not in TERMINAL:
        time.sleep(poll_s)
    wall = (time.perf_counter() - started) * 1000
    status = execution.exec_status.value
    assert status == "SUCCEEDED", (status, execution.error, execution.cause)
    engine = (execution.stop_date - execution.start_date).total_seconds() * 1000
    return wall, engine


def bench_stepfunctions(cloud: LocalCloud, args: argparse.Namespace) -> list[Row]:
    k = args.states
    section = f"2. Step Functions state transitions (K = {k})"
    sfn = cloud.client("stepfunctions")
    single_pass = cloud.physical_id("SinglePass")
    single_lambda = cloud.physical_id("SingleLambda")
    function_arn = cloud.attribute("NoopFunction", "Arn")
    role = sfn.describe_state_machine(stateMachineArn=single_lambda)["roleArn"]
    suffix = uuid.UUID(int=args.seed).hex[:8]
    machines = {"pass1": single_pass, "lambda1": single_lambda}
    for label, state in (("passK", pass_state), ("lambdaK", lambda_state(function_arn))):
        machines[label] = sfn.create_state_machine(
            name=f"bench-{label}-{k}-{suffix}", definition=chain(k, state), roleArn=role
        )["stateMachineArn"]

    wall: dict[str, list[float]] = {}
    engine: dict[str, list[float]] = {}
    for label, arn in machines.items():
        for _ in range(args.sfn_warmup):
            run_execution(cloud, arn, args.poll_s)
        results = [run_execution(cloud, arn, args.poll_s) for _ in range(args.sfn_runs)]
        wall[label] = [w for w, _ in results]
        engine[label] = [e for _, e in results]

    def per_state(label: str, one: str) -> float:
        return (statistics.median(wall[label]) - statistics.median(wall[one])) / (k - 1)

    def per_state_engine(label: str, one: str) -> float:
        return (statistics.median(engine[label]) - statistics.median(engine[one])) / (k - 1)

    rows = [
        Row(section, "1 Pass state: StartExecution -> SUCCEEDED", wall["pass1"], note="fixed cost of an execution"),
        Row(section, f"{k} Pass states: StartExecution -> SUCCEEDED", wall["passK"]),
        Row(section, "1 Lambda task: StartExecution -> SUCCEEDED", wall["lambda1"]),
        Row(section, f"{k} Lambda tasks: StartExecution -> SUCCEEDED", wall["lambdaK"]),
        Row(section, "per Pass state, raw: (K states) / K", value=statistics.median(wall["passK"]) / k),
        Row(
            section,
            "per Pass state transition: (K - 1 state) / (K - 1)",
            value=per_state("passK", "pass1"),
            note=f"engine dates: {fmt(per_state_engine('passK', 'pass1'), 'ms')}",
        ),
        Row(section, "per Lambda task, raw: (K tasks) / K", value=statistics.median(wall["lambdaK"]) / k),
        Row(
            section,
            "per Lambda task transition: (K - 1 task) / (K - 1)",
            value=per_state("lambdaK", "lambda1"),
            note=f"engine dates: {fmt(per_state_engine('lambdaK', 'lambda1'), 'ms')}",
        ),
    ]
    return rows


# ---- 3. Kinesis ------------------------------------------------------------------------------------------------
class Deliveries:
    """Records when the consumer function returned for each batch, from the runtime's listener hook."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.records = 0
        self.batches = 0
        self.last_at = 0.0
        self.cond = threading.Condition()

    def __call__(self, spec: Any, event: dict[str, Any], outcome: Any) -> None:
        if spec.name != self.function_name:
            return
        now = time.perf_counter()
        with self.cond:
            self.records += len(event.get("Records", []))
            self.batches += 1
            self.last_at = now
            self.cond.notify_all()

    def wait_for(self, records: int, timeout: float = 30.0) -> float:
        """Block until `records` records have been delivered in all; the moment the last batch returned."""
        with self.cond:
            if not self.cond.wait_for(lambda: self.records >= records, timeout):
                raise TimeoutError(f"{self.records} of {records} records delivered after {timeout}s")
            return self.last_at


@contextmanager
def listening(cloud: LocalCloud, deliveries: Deliveries) -> Iterator[Deliveries]:
    cloud.runtime.listeners.append(deliveries)
    try:
        yield deliveries
    finally:
        cloud.runtime.listeners.remove(deliveries)


def bench_kinesis(cloud: LocalCloud, args: argparse.Namespace, rng: random.Random) -> list[Row]:
    section = "3. Kinesis event-source mapping (1 shard, BatchSize 100, no batching window)"
    kinesis = cloud.client("kinesis")
    stream = cloud.physical_id("Stream")
    sink = cloud.physical_id("SinkFunction")
    poll_interval = cloud.kinesis.poll_interval_s
    rows: list[Row] = []
    docker_before = DOCKER.count
    put = 0

    def entries(n: int) -> list[dict[str, Any]]:
        return [{"Data": rng.randbytes(args.record_bytes), "PartitionKey": f"k{rng.randrange(1000)}"} for _ in range(n)]

    with listening(cloud, Deliveries(sink)) as seen:
        for size in (1, 100):
            latencies: list[float] = []
            batches: list[int] = []
            for i in range(args.kinesis_warmup + args.kinesis_samples):
                # Put at a random point of the poller's cycle, not right after it delivered (which is phase-locked).
                time.sleep(rng.uniform(0, poll_interval))
                target = seen.records + size
                before = seen.batches
                started = time.perf_counter()
                if size == 1:
                    kinesis.put_record(StreamName=stream, **entries(1)[0])
                else:
                    kinesis.put_records(StreamName=stream, Records=entries(size))
                put += size
                delivered_at = seen.wait_for(target)
                if i >= args.kinesis_warmup:
                    latencies.append((delivered_at - started) * 1000)
                    batches.append(seen.batches - before)
            note = f"poll interval {poll_interval * 1000:.0f} ms"
            if size > 1:
                note += f"; {statistics.median(batches):.0f} invocation(s) per put (max {max(batches)})"
            rows.append(Row(section, f"put {size} record(s) -> handler returned (latency)", latencies, note=note))

        total = args.kinesis_records
        rates: list[float] = []
        invocations: list[int] = []
        for _ in range(args.throughput_runs):
            payloads = [entries(min(PUT_RECORDS_MAX, total - i)) for i in range(0, total, PUT_RECORDS_MAX)]
            target = seen.records + total
            before = seen.batches
            started = time.perf_counter()
            for chunk in payloads:
                kinesis.put_records(StreamName=stream, Records=chunk)
            put += total
            delivered_at = seen.wait_for(target, timeout=120)
            rates.append(total / (delivered_at - started))
            invocations.append(seen.batches - before)
        rows.append(
            Row(
                section,
                f"throughput: {total:,} records put -> all delivered",
                rates,
                unit="rec/s",
                note=f"{statistics.median(invocations):.0f} invocations per run",
            )
        )
    # Cross-check the listener against the mapping's own counters.
    cloud.kinesis.wait_idle(10)
    stats = next(iter(cloud.kinesis.stats.values()))
    assert stats.function_errors == 0 and stats.retries == 0, stats
    assert stats.records_delivered == put, (stats.records_delivered, put)
    rows.append(
        Row(
            section,
            "moto's own (failing) Docker invokes during this part",
            value=float(DOCKER.count - docker_before),
            unit="calls",
            note=f"for {put:,} records put; 0 expected",
        )
    )
    return rows


# ---- 4. Deploys --------------------------------------------------------------------------------------------------
def bench_deploys(args: argparse.Namespace, first_deploy_ms: float | None) -> list[Row]:
    section = "4. Start and deploy (fresh LocalCloud each time)"
    start: list[float] = []
    stop: list[float] = []
    for i in range(args.deploy_warmup + args.deploys):
        cloud = LocalCloud()
        ms, _ = timed(cloud.start)
        stop_ms, _ = timed(cloud.stop)
        if i >= args.deploy_warmup:
            start.append(ms)
            stop.append(stop_ms)
    rows = [
        Row(section, "LocalCloud().start() alone", start),
        Row(section, "LocalCloud.stop() of an empty cloud", stop),
    ]
    if first_deploy_ms is not None:
        rows.append(Row(section, "first deploy in this process: bench stack", [first_deploy_ms], note="incl. imports"))
    for label, path in TEMPLATES.items():
        samples = []
        for i in range(args.deploy_warmup + args.deploys):
            with LocalCloud() as cloud:
                ms, stack = timed(lambda p=path, c=cloud: c.deploy(p, stack_name="bench"))
                count = len(stack.resources)
            if i >= args.deploy_warmup:
                samples.append(ms)
        rows.append(Row(section, f"deploy {label}", samples, note=f"{count} resources"))
    return rows


# ---- main ----------------------------------------------------------------------------------------------------------
PARTS = ("lambda", "sfn", "kinesis", "deploy")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default: all)")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of every random choice")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up invokes per series, not timed")
    parser.add_argument("--invokes", type=int, default=300, help="timed invokes per series")
    parser.add_argument("--cold", type=int, default=5, help="cold starts to time")
    parser.add_argument("--states", type=int, default=20, help="K: states in the chained state machines")
    parser.add_argument("--sfn-warmup", type=int, default=1, help="warm-up executions per state machine")
    parser.add_argument("--sfn-runs", type=int, default=11, help="timed executions per state machine")
    parser.add_argument("--poll-s", type=float, default=0.0005, help="how often execution status is checked")
    parser.add_argument("--kinesis-warmup", type=int, default=2, help="warm-up puts per batch size")
    parser.add_argument("--kinesis-samples", type=int, default=20, help="timed puts per batch size")
    parser.add_argument("--kinesis-records", type=int, default=2000, help="records put for the throughput run")
    parser.add_argument("--throughput-runs", type=int, default=3, help="throughput runs")
    parser.add_argument("--record-bytes", type=int, default=100, help="bytes of data per Kinesis record")
    parser.add_argument("--deploy-warmup", type=int, default=1, help="warm-up deploys per template, not timed")
    parser.add_argument("--deploys", type=int, default=3, help="timed deploys per template")
    args = parser.parse_args(argv)
    if args.states < 2:
        parser.error("--states must be at least 2")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    docker_log = logging.getLogger("moto.awslambda.models")
    docker_log.addHandler(DOCKER)
    docker_log.propagate = False
    logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)  # "unpublished metrics", per deploy
    rng = random.Random(args.seed)
    header()
    settings = " ".join(f"--{key.replace('_', '-')}={value}" for key, value in vars(args).items() if key != "only")
    print(f"settings: {settings}")
    print(f"parts:    {' '.join(args.only)}")
    began = time.perf_counter()
    rows: list[Row] = []
    first_deploy_ms = None
    if {"lambda", "sfn", "kinesis"} & set(args.only):
        with LocalCloud() as cloud:
            first_deploy_ms, _ = timed(lambda: cloud.deploy(BENCH_STACK, stack_name="bench"))
            if "lambda" in args.only:
                rows += bench_lambda(cloud, args)
            if "sfn" in args.only:
                rows += bench_stepfunctions(cloud, args)
            if "kinesis" in args.only:
                rows += bench_kinesis(cloud, args, rng)
    if "deploy" in args.only:
        rows += bench_deploys(args, first_deploy_ms)
    print_table(rows)
    print(f"\ntotal bench time: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
