"""The serving half of `make demo`: orders decided through the stack's `DecisionApiUrl` (latency and outcomes
counted), orders kept flowing at a steady rate while a new version rolls out, and any state machine's execution
followed state by state. Plain functions over a `DecisionClient` and a `LocalCloud`; demo.py tells the story."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .decision_client import DecisionClient, DecisionReply, percentile
from .localcloud import LocalCloud


class ExecutionNotFinished(TimeoutError):
    """An execution did not end within the time allowed."""


@dataclass
class DecisionTally:
    """What a stream of decision requests got: latencies of the answered ones, status codes, decisions and the
    versions that answered."""

    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    versions: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # the first few failed answers, as text
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, reply: DecisionReply) -> None:
        with self._lock:
            self.statuses[reply.status] += 1
            if reply.ok:
                self.seconds.append(reply.seconds)
                self.decisions[str(reply.body.get("decision"))] += 1
                self.versions[int(reply.body.get("model_version", 0))] += 1
            elif len(self.failures) < 5:
                self.failures.append(f"{reply.status} {reply.body.get('message', reply.body)}")

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        return self.sent - self.statuses[200]

    def latency_line(self) -> str:
        ms = [s * 1000 for s in self.seconds]
        return f"p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms, max {max(ms, default=0):.1f} ms"

    def outcome_line(self) -> str:
        shown = ", ".join(f"{name} {count}" for name, count in sorted(self.decisions.items()))
        codes = ", ".join(f"{code}: {count}" for code, count in sorted(self.statuses.items()))
        return f"{shown} (HTTP {codes})"


def decide_each(
    client: DecisionClient, orders: Sequence[Mapping[str, Any]], *, threads: int = 4
) -> tuple[DecisionTally, list[DecisionReply]]:
    """Every order decided once, `threads` requests in flight at a time: the tally, and each order's reply in the
    orders' order (its inference id labels it later)."""
    tally = DecisionTally()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="decide") as pool:
        replies = list(pool.map(client.decide, orders))
    for reply in replies:
        tally.add(reply)
    return tally, replies


def decide_all(client: DecisionClient, orders: Sequence[Mapping[str, Any]], *, threads: int = 4) -> DecisionTally:
    """Every order decided once, `threads` requests in flight at a time."""
    return decide_each(client, orders, threads=threads)[0]


class SteadyTraffic:
    """Orders sent at `rate` requests per second from a background thread (one request in flight) until
    `stop()`; the orders are taken in turn from `orders` and must not run out before (RuntimeError)."""

    def __init__(self, client: DecisionClient, orders: Iterator[Mapping[str, Any]], rate: float) -> None:
        self._client, self._orders, self._interval = client, orders, 1.0 / rate
        self.tally = DecisionTally()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="steady-traffic", daemon=True)

    def __enter__(self) -> SteadyTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> DecisionTally:
        self._stopping.set()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"the steady traffic stopped early: {self._error}") from self._error
        return self.tally

    def _send(self) -> None:
        next_at = time.monotonic()
        try:
            while not self._stopping.is_set():
                order = next(self._orders, None)
                if order is None:
                    raise RuntimeError("ran out of orders to send")
                self.tally.add(self._client.decide(order))
                next_at += self._interval
                self._stopping.wait(max(0.0, next_at - time.monotonic()))
        except BaseException as error:  # reported by stop(), in the caller's thread
            self._error = error


def follow_execution(
    cloud: LocalCloud,
    machine: str,
    name: str,
    *,
    timeout: float,
    progress: Callable[[str, float], None] = lambda _state, _at: None,
) -> tuple[str, float, dict[str, Any]]:
    """(status, seconds, DescribeExecution) of the execution `name` of the stack's state machine `machine` (its
    logical id), reporting each state it enters; waits for the execution to exist (the event that starts it may
    still be on its way)."""
    sfn = cloud.client("stepfunctions")
    arn = cloud.execution_arn(machine, name)
    started = time.monotonic()
    seen = 0
    while time.monotonic() - started < timeout:
        try:
            described = sfn.describe_execution(executionArn=arn)
        except sfn.exceptions.ExecutionDoesNotExist:
            time.sleep(0.05)
            continue
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
        for state in entered[seen:]:
            progress(state, time.monotonic() - started)
        seen = len(entered)
        if described["status"] != "RUNNING":
            return str(described["status"]), time.monotonic() - started, described
        time.sleep(0.1)
    raise ExecutionNotFinished(f"the execution {arn} did not finish within {timeout:.0f} s")
