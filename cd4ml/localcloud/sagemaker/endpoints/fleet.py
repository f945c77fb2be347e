"""An endpoint's fleets: one model server process per production variant, with keep-alive connections to it, and
the routing of a request to the live fleet or, during an update, to the new one by its share of traffic."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...processes import spawn_group, terminate_group
from .config import ConfigSpec, VariantSpec, pick_by_weight
from .invoke import INVOCATION_TIMEOUT_S, Cancelled, InvokeError

SERVING = Path(__file__).parents[2] / "child_process" / "sagemaker_serving.py"


class ServerStartError(Exception):
    pass


class Server:
    """One serving process (one variant of one fleet) and a pool of keep-alive connections to it."""

    def __init__(self, env: dict[str, str], log_file: Path, cwd: Path) -> None:
        self.log_file = log_file
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("ab") as log_handle:
            self.proc = spawn_group(  # its own group, so that stopping it stops whatever the model code started
                [sys.executable, "-X", "utf8", str(SERVING)],
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log_handle,
            )
        self.port: int | None = None
        self._port_known = threading.Event()
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._stopped = False
        threading.Thread(target=self._read_port, name="sagemaker-serving-port", daemon=True).start()

    def _read_port(self) -> None:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            self.port = None
        self._port_known.set()
        self.proc.stdout.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float, cancelled: Callable[[], bool]) -> None:
        """Wait for /ping to answer 200; ServerStartError when loading failed, the process died or time ran out."""
        deadline = time.monotonic() + timeout
        while not self._port_known.wait(0.05):
            self._check(deadline, cancelled)
        if self.port is None:
            raise ServerStartError(f"the serving process exited with status {self.proc.wait()}")
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2.0)
            try:
                connection.request("GET", "/ping")
                response = connection.getresponse()
                body = response.read()
            except OSError:
                pass
            else:
                if response.status == 200:
                    return
                if response.status == 500:
                    try:
                        error = json.loads(body)["error"]
                    except (ValueError, KeyError, TypeError):
                        error = body.decode("utf-8", "replace")
                    raise ServerStartError(f"loading the model failed: {error}")
            finally:
                connection.close()
            self._check(deadline, cancelled)
            time.sleep(0.02)

    def _check(self, deadline: float, cancelled: Callable[[], bool]) -> None:
        if cancelled():
            raise Cancelled
        status = self.proc.poll()
        if status is not None:
            raise ServerStartError(f"the serving process exited with status {status}")
        if time.monotonic() > deadline:
            raise ServerStartError("/ping did not answer 200 in time")

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return http.client.HTTPConnection("127.0.0.1", self.port or 0, timeout=INVOCATION_TIMEOUT_S), False

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """POST /invocations; a keep-alive connection the server dropped is retried once on a fresh one."""
        for attempt in (0, 1):
            connection, reused = self._connection()
            try:
                connection.request("POST", "/invocations", body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                connection.close()
                raise
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
            with self._lock:
                if response.will_close or self._stopped or len(self._idle) >= 64:
                    connection.close()
                else:
                    self._idle.append(connection)
            return response.status, answer_headers, data
        raise AssertionError("unreachable")

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        terminate_group(self.proc, grace_s=2.0)


@dataclass
class Variant:
    spec: VariantSpec
    server: Server


class Fleet:
    """The servers of one endpoint config; counts requests in flight so that it is retired only once drained."""

    def __init__(self, spec: ConfigSpec, directory: Path, variants: list[Variant]) -> None:
        self.spec = spec
        self.directory = directory
        self.variants = variants
        self._inflight = 0
        self._cond = threading.Condition()

    def variant(self, name: str) -> Variant | None:
        return next((v for v in self.variants if v.spec.name == name), None)

    def acquire(self) -> None:
        with self._cond:
            self._inflight += 1

    def release(self) -> None:
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()

    def drain(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._inflight == 0, timeout)

    def stop(self) -> None:
        stop_servers([variant.server for variant in self.variants])
        shutil.rmtree(self.directory, ignore_errors=True)


def stop_servers(servers: list[Server]) -> None:
    threads = [threading.Thread(target=server.stop, daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class Endpoint:
    name: str
    fake: Any  # moto's FakeEndpoint: what DescribeEndpoint shows
    live: Fleet | None = None
    pending: Fleet | None = None  # the new fleet during an update
    pending_share: float = 0.0  # the share of traffic it gets
    deleted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    worker: threading.Thread | None = None

    def route(self, draw: Callable[[], float], target: str | None) -> tuple[Fleet, Variant]:
        """Choose the fleet (by the update's traffic share) and the variant (by weight, or the one named)."""
        with self.lock:
            fleets = [(f, s) for f, s in ((self.live, 1 - self.pending_share), (self.pending, self.pending_share)) if f]
            fleets = [(f, s) for f, s in fleets if s > 0] or fleets[:1]
            if target:
                fleets = [(f, s) for f, s in fleets if f.variant(target)]
                if not fleets:
                    raise InvokeError(
                        "ValidationError", 400, f"Endpoint {self.name} has no production variant named {target}."
                    )
            if not fleets:
                raise InvokeError("ValidationError", 400, f"Endpoint {self.name} has no running variant.")
            fleet = fleets[pick_by_weight([s for _, s in fleets], draw())][0]
            variant = fleet.variant(target) if target else None
            if variant is None:
                weights = self._weights(fleet)
                variant = fleet.variants[pick_by_weight([weights[v.spec.name] for v in fleet.variants], draw())]
            fleet.acquire()  # under the lock, so that a traffic switch cannot miss a request already routed
            return fleet, variant

    def _weights(self, fleet: Fleet) -> dict[str, float]:
        weights = {v.spec.name: v.spec.weight for v in fleet.variants}
        if fleet is self.live:  # UpdateEndpointWeightsAndCapacities changes moto's CurrentWeight
            for variant in self.fake.production_variants or []:
                if variant.get("VariantName") in weights and variant.get("CurrentWeight") is not None:
                    weights[variant["VariantName"]] = float(variant["CurrentWeight"])
        return weights
