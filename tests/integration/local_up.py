"""Driving `cd4ml local up` as a user does: a subprocess whose output is read line by line (shared by the CLI tests)."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest


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

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
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
