"""Starting and ending the child processes of the local cloud (Lambda workers, SageMaker jobs, model servers): each
runs in a new session, so its process group is its own and its own children's, and each is tied to this process's
life, so that nothing outlives a local cloud that was killed (SIGKILL included) instead of stopped.

The tie is a pipe whose write end only this process holds and never writes: the kernel closes it when this process
ends, however it ends, and the child's watchdog (`child_process/lifeline.py`) then reads end-of-file and kills the
child's process group. Linux's parent-death signal (PR_SET_PDEATHSIG) is not used: it fires when the *thread* that
started the child ends (children are started from request and job threads that end long before the cloud), and it
reaches the child alone, so a SIGKILL there would orphan the grandchildren the watchdog kills with the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LIFELINE = Path(__file__).parent / "child_process" / "lifeline.py"
LIFELINE_FD_VARIABLE = "_CD4ML_LIFELINE_FD"  # the read end's number in the child; lifeline.py reads it

_lifeline_lock = threading.Lock()
_lifeline: tuple[int, int] | None = None  # (read end, write end); the write end is never written nor closed


def _lifeline_fd() -> int:
    """The read end of this process's lifeline pipe, made once and shared by every child."""
    global _lifeline
    with _lifeline_lock:
        if _lifeline is None:
            _lifeline = os.pipe()  # both ends close-on-exec: only the children handed the read end get it
        return _lifeline[0]


def _arms_itself(command: Sequence[str]) -> bool:
    """Whether `command` runs one of child_process/'s programs, which arm the lifeline at their start."""
    return any(Path(part).parent == LIFELINE.parent for part in command[1:4])


def spawn_group(command: Sequence[str], *, env: dict[str, str], **popen: Any) -> subprocess.Popen[Any]:
    """Start `command` in its own session and process group, tied to this process's life through the lifeline.

    child_process/'s programs watch the lifeline themselves; any other command (a job's shell or binary entrypoint)
    runs under lifeline.py's supervisor, a small Python parent in the same group that watches it for them."""
    fd = _lifeline_fd()
    argv = list(command) if _arms_itself(command) else [sys.executable, str(LIFELINE), *command]
    child_env = dict(env)
    child_env[LIFELINE_FD_VARIABLE] = str(fd)
    pass_fds = (*popen.pop("pass_fds", ()), fd)
    return subprocess.Popen(argv, env=child_env, pass_fds=pass_fds, start_new_session=True, **popen)


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
