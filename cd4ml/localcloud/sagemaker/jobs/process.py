"""Running a job's process group to its end: its output pumped into the job's log, StopXxxJob and MaxRuntimeInSeconds
enforced (SIGTERM, then SIGKILL after the grace period), checkpoints synced and log lines flushed as it runs."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from ...context import ServiceContext
from ...processes import signal_group, spawn_group
from .lifecycle import JobLifecycle
from .records import JobFailure, JobLog, LocalJob
from .staging import JobStaging


class ProcessRunner:
    def __init__(self, ctx: ServiceContext, lifecycle: JobLifecycle, staging: JobStaging) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle
        self.staging = staging

    def run(
        self,
        job: LocalJob,
        command: list[str],
        env: dict[str, str],
        cwd: Path,
        max_runtime_s: float | None,
        syncs: list[tuple[Path, str]],
    ) -> int:
        """Run the job's process group to its end, enforcing stop and max runtime; returns its exit code."""
        assert job.logbook is not None
        logbook = job.logbook
        logs = self.ctx.clients("logs")
        try:
            process = spawn_group(  # its own process group: stop and max runtime end its children too
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise JobFailure(f"AlgorithmError: could not start {command[0]}: {exc}") from exc
        job.process = process
        job.timings["process_started"] = time.monotonic()
        readers = [
            threading.Thread(target=self._pump, args=(process.stdout, logbook, False), daemon=True),
            threading.Thread(target=self._pump, args=(process.stderr, logbook, True), daemon=True),
        ]
        for reader in readers:
            reader.start()
        started = job.timings["created"]  # AWS counts MaxRuntimeInSeconds over the whole job, downloads included
        terminated_at: float | None = None
        killed = False
        next_flush = time.monotonic() + self.ctx.settings.job_log_flush_interval_s
        next_sync = time.monotonic() + self.ctx.settings.checkpoint_sync_interval_s
        synced: dict[Path, tuple[int, int]] = {}
        while process.poll() is None:
            job.stop_requested.wait(0.05)
            now = time.monotonic()
            if terminated_at is None and job.stop_requested.is_set():
                logbook.write("stop requested: SIGTERM to the job's processes", system=True)
                signal_group(process, signal.SIGTERM)
                terminated_at = now
            if terminated_at is None and max_runtime_s is not None and now - started > max_runtime_s:
                with job.lock:
                    job.stop_cause = job.stop_cause or "MaxRuntimeExceeded"
                logbook.write(f"MaxRuntimeInSeconds ({max_runtime_s}) exceeded: SIGTERM to the job", system=True)
                if job.kind == "training":
                    self.lifecycle.set_status(
                        job, "Stopping", "Stopping", "Stopping the training job: MaxRuntimeExceeded"
                    )
                else:
                    self.lifecycle.set_status(job, "Stopping")
                signal_group(process, signal.SIGTERM)
                terminated_at = now
            if terminated_at is not None and not killed and now - terminated_at > self.ctx.settings.job_stop_grace_s:
                logbook.write(
                    f"still running {self.ctx.settings.job_stop_grace_s}s after SIGTERM: SIGKILL", system=True
                )
                signal_group(process, signal.SIGKILL)
                killed = True
            if now >= next_flush:
                logbook.flush(logs)
                if job.kind == "training" and logbook.metrics is not None and logbook.metrics.last:
                    job.fake.final_metric_data_list = logbook.metrics.final()
                next_flush = now + self.ctx.settings.job_log_flush_interval_s
            if syncs and now >= next_sync and not self.lifecycle.closed:
                self.staging.sync(syncs, synced)
                next_sync = now + self.ctx.settings.checkpoint_sync_interval_s
        job.exit_code = process.returncode
        job.timings["process_ended"] = time.monotonic()
        signal_group(process, signal.SIGKILL)  # children left behind would hold the pipes open
        for reader in readers:
            reader.join(timeout=5)
        if logbook.first_output is not None:
            job.timings["first_output"] = logbook.first_output
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
        logbook.write(f"process exited with code {process.returncode}", system=True)
        return int(process.returncode)

    @staticmethod
    def _pump(stream: Any, logbook: JobLog, stderr: bool) -> None:
        for raw in iter(stream.readline, b""):
            logbook.write(raw.decode("utf-8", "replace"), stderr=stderr)
