"""Driving `cd4ml local up` as a user does: a subprocess whose output is read line by line (shared by the CLI tests)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]


def cli_env() -> dict[str, str]:
    """The caller's environment, minus anything that could point the CLI or its functions at a real AWS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # Each command is a fresh interpreter importing moto (~1500 modules): without bytecode it recompiles them
        # every time. Cache the bytecode outside the source tree rather than not at all.
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "cd4ml-test-pycache")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Running:
    """A `cd4ml local up` process whose merged stdout/stderr is read line by line on a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Read until a line matches `pattern` (searching lines already read first), or fail with the output."""
        regex = re.compile(pattern)
        for line in self.lines:
            if match := regex.search(line):
                return match
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(
                    f"`cd4ml local up` exited ({self.process.wait()}) before printing /{pattern}/:\n{self.output}"
                )
            self.lines.append(line)
            if match := regex.search(line):
                return match
        pytest.fail(f"no line matching /{pattern}/ within {timeout:.0f}s; output so far:\n{self.output}")

    def drain(self, timeout: float) -> None:
        """Collect what is left of the output once the process has ended."""
        self._reader.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def ready_port(self, timeout: float = 60.0) -> int:
        """The port of the `Local cloud ready on http://127.0.0.1:<port>` line (so `--port 0` works)."""
        return int(self.wait_for_line(r"^Local cloud ready on http://127\.0\.0\.1:(\d+)\b", timeout)[1])

    def wait_exit(self, timeout: float = 60.0) -> int:
        """Its exit code, once it ends by itself (a refused start), with all it printed read."""
        code = self.process.wait(timeout)
        self.drain(5)
        return code

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as a user stops it; its exit code (killed if it has not ended within `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"`cd4ml local up` still running {timeout:.0f}s after SIGINT:\n{self.output}")
        finally:
            self.drain(5)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up (its children must end with it on their own)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.drain(5)


def start_local_up(*arguments: str | Path, env: dict[str, str] | None = None) -> Running:
    """`cd4ml local up ARGUMENTS...` from the repository root, in a session of its own (signals sent to pytest's
    terminal do not reach it, and a kill of it reaches it alone)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "cd4ml.cli", "local", "up", *map(str, arguments)],
        cwd=ROOT,
        env={**cli_env(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    return Running(process)


@contextmanager
def dev_stack_served(work_dir: Path, ready_timeout_s: float = 120.0) -> Iterator[tuple[Running, int]]:
    """`cd4ml local up --config-env dev` on a free port until the block ends: what a user runs before pointing the
    AWS CLI or `cd4ml` commands at it."""
    port = free_port()
    running = start_local_up("--config-env", "dev", "--port", port, "--work-dir", work_dir)
    try:
        running.wait_for_line(r"^Local cloud ready on ", ready_timeout_s)
        yield running, port
    finally:
        running.stop(60)


def client(service: str, port: int) -> Any:
    """A boto3 client of the local cloud on `port`, with the dummy credentials `local up` prints."""
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
