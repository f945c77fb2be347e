"""What writing an HTTP API access log line adds to a request on the local cloud: the same function answers a route
of a stage with AccessLogSettings (ThingsApi GET /open) and one of a stage without (the implicit API), requests
interleaved so that the machine's load falls on both alike.

Run from the repository root:

    .venv/bin/python bench/access_logs.py              # 500 requests each way, about 10 s on 2 cores
    .venv/bin/python bench/access_logs.py --requests 2000
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import requests

from cd4ml.localcloud import LocalCloud

STACK = Path(__file__).resolve().parents[1] / "tests" / "integration" / "stacks" / "http_api" / "template.yaml"
WARM_UP = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="timed requests each way (default 500)")
    args = parser.parse_args()
    with LocalCloud.deployed(STACK, {"DefaultBurst": "100000", "DefaultRate": "100000"}) as cloud:
        urls = {
            "logged": cloud.stack.outputs["ThingsApiUrl"] + "/open",
            "unlogged": cloud.stack.outputs["DefaultApiUrl"] + "open",
        }
        session = requests.Session()
        timings: dict[str, list[float]] = {way: [] for way in urls}
        for n in range(WARM_UP + args.requests):
            for way, url in urls.items():
                started = time.perf_counter()
                answer = session.get(url, params={"action": "plain"}, timeout=10)
                elapsed_ms = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                if n >= WARM_UP:
                    timings[way].append(elapsed_ms)
    print(f"{'route':<10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  ({args.requests} requests each, interleaved)")
    for way, values in timings.items():
        print(
            f"{way:<10} {statistics.median(values):8.3f} {percentile(values, 0.9):8.3f} {percentile(values, 0.99):8.3f}"
        )
    difference = statistics.median(timings["logged"]) - statistics.median(timings["unlogged"])
    print(f"median difference (logged - unlogged): {difference:+.3f} ms")


if __name__ == "__main__":
    main()
