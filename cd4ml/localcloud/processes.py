"""Ending a child process of the local cloud together with its own children (Lambda workers, SageMaker jobs,
model servers each start in a new session, so their process group is theirs alone)."""

from __future__ import annotations

import os
import signal
import subprocess
from typing import Any


def signal_group(process: subprocess.Popen[Any], sig: int) -> None:
    """Send `sig` to the process's group; a group that is already gone is not an error."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def terminate_group(process: subprocess.Popen[Any], grace_s: float = 0.0) -> int:
    """SIGTERM, then SIGKILL after `grace_s` if the process still runs (0: SIGKILL at once); returns its exit code."""
    if process.poll() is None:
        if grace_s > 0:
            signal_group(process, signal.SIGTERM)
            try:
                return process.wait(grace_s)
            except subprocess.TimeoutExpired:
                pass
        signal_group(process, signal.SIGKILL)
    return process.wait()
