"""One execution environment of a function: a Python process (child_process/lambda_bootstrap.py) that imported the
handler once and serves invocations over its stdin/stdout; and the pool of them a function has."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..aws import host_environment
from ..processes import spawn_group, terminate_group
from .functions import FunctionSpec
from .logs import LogShipper, WorkerLog, log_group_name, log_stream_name

BOOTSTRAP = Path(__file__).parents[1] / "child_process" / "lambda_bootstrap.py"
INIT_TIMEOUT_S = 10.0  # AWS gives a function's init phase 10 s before it is retried inside the invoke
MAX_WORKERS_PER_FUNCTION = 8
REPORT_WAIT_S = 2.0  # bound on waiting for a worker's last log lines (a process it left may hold the pipe open)


class WorkerGone(Exception):
    pass


class Worker:
    """One execution environment: a Python process that imported the handler."""

    def __init__(
        self, spec: FunctionSpec, base_env: dict[str, str], log_dir: Path, shipper: LogShipper | None = None
    ) -> None:
        self.spec = spec
        self.log_file = log_dir / f"{spec.name}.log"
        stream_name = log_stream_name(datetime.now(UTC))
        self.log = WorkerLog(self.log_file, shipper.open(spec.name, stream_name) if shipper else None)
        env = host_environment()
        env.update(base_env)
        env.update(
            {
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": log_group_name(spec.name),
                "AWS_LAMBDA_LOG_STREAM_NAME": stream_name,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
                "LAMBDA_TASK_ROOT": str(spec.code_dir),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "_HANDLER": spec.handler,
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
                "_CD4ML_LAYER_PATHS": os.pathsep.join(layer_python_paths(spec.layer_dirs)),
            }
        )
        env.update(spec.environment)
        self.proc = spawn_group(  # its own group, so a timeout kills the handler's children too
            [sys.executable, "-X", "utf8", str(BOOTSTRAP)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # the runtime protocol
            stderr=subprocess.PIPE,  # everything the function prints (bootstrap sends its stdout there too)
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"lambda-{spec.name}-reader", daemon=True)
        self._reader.start()
        self._log_reader = threading.Thread(target=self._read_log, name=f"lambda-{spec.name}-log", daemon=True)
        self._log_reader.start()
        self.init_ms = 0.0
        self.served = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_log(self) -> None:
        """Until every writer of the pipe is gone: the worker and whatever it started (closed here, not by kill(),
        which must not block on a pipe that a process escaping the group still holds)."""
        stderr = self.proc.stderr
        assert stderr is not None
        try:
            for line in stderr:
                self.log.write(line)
        finally:
            self.log.close()
            stderr.close()

    def _next(self, timeout: float) -> dict[str, Any]:
        try:
            line = self._lines.get(timeout=max(timeout, 0.001))
        except queue.Empty:
            raise TimeoutError from None
        if line is None:
            raise WorkerGone(f"exit status {self.proc.wait()}")
        message: dict[str, Any] = json.loads(line)
        return message

    def wait_ready(self) -> None:
        ready = self._next(INIT_TIMEOUT_S)
        self.init_ms = float(ready.get("init_ms", 0.0))

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerGone(str(exc)) from exc
        self.served += 1
        response = self._next(timeout)
        # the REPORT line is printed just before the response: wait for it to be written (microseconds)
        self.log.wait_reported(request["request_id"], REPORT_WAIT_S)
        return response

    def kill(self) -> None:
        terminate_group(self.proc)
        self._log_reader.join(REPORT_WAIT_S)  # its last lines reach the log and CloudWatch before it goes
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream:
                try:
                    stream.close()
                except OSError:
                    pass


def layer_python_paths(layer_dirs: list[Path]) -> list[str]:
    """A layer's code lands in /opt/python on AWS; locally, use its `python/` folder if it has one, else its root."""
    paths = []
    for layer in layer_dirs:
        python_dir = layer / "python"
        paths.append(str(python_dir if python_dir.is_dir() else layer))
    return paths


class Pool:
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self.idle: list[Worker] = []
        self.busy = 0
        self.cond = threading.Condition()

    @property
    def limit(self) -> int:
        if self.spec.reserved_concurrency is not None:
            return max(1, min(self.spec.reserved_concurrency, MAX_WORKERS_PER_FUNCTION))
        return MAX_WORKERS_PER_FUNCTION
