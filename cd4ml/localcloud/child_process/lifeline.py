"""A child of the local cloud dies with it: a watchdog thread that kills this process's group once the local cloud
is gone, however it ended (SIGKILL included). See cd4ml/localcloud/processes.py for the parent's side.

The parent hands over the read end of a pipe whose write end only it holds (its number in `_CD4ML_LIFELINE_FD`);
the kernel closes the write end when the parent ends, and the read here returns end-of-file. The group is killed,
not just this process, so that what the user's code started (a training script's own processes, a handler's
subprocess) goes too: children are started in a new session, so the group is theirs alone.

Two ways to use it, both standard library only:
- `arm()` at the start of a child program (lambda_bootstrap.py, sagemaker_container.py, sagemaker_serving.py, which
  import this file by path under a private name so that it never shadows a user module called `lifeline`);
- `python lifeline.py <command...>`: runs a program that cannot arm itself (a job's shell or binary entrypoint)
  under a supervisor that arms the watchdog, waits for the program and exits as it exited.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

FD_VARIABLE = "_CD4ML_LIFELINE_FD"
PARENT_POLL_S = 0.5  # only when the pipe cannot be read (user code closed every descriptor)


def arm() -> bool:
    """Start the watchdog; False when this process was not started by the local cloud (nothing to watch)."""
    raw = os.environ.pop(FD_VARIABLE, None)  # popped: the user's own subprocesses must not inherit a stale number
    if not raw:
        return False
    fd = int(raw)
    parent = os.getppid()
    try:
        os.set_inheritable(fd, False)
    except OSError:
        fd = -1  # already closed: fall back on the parent's pid
    threading.Thread(target=_watch, args=(fd, parent), name="cd4ml-lifeline", daemon=True).start()
    return True


def _watch(fd: int, parent: int) -> None:
    if fd >= 0:
        try:
            while os.read(fd, 1):
                pass  # nobody writes: any byte is ignored, only end-of-file counts
            _end_group()
        except OSError:
            pass  # the descriptor was closed under us (a program closing every fd): watch the parent's pid instead
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    _end_group()


def _end_group() -> None:
    """SIGKILL to this process's group when it leads one (it always does under the local cloud), else to itself."""
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def supervise(command: list[str]) -> int:
    """Run `command` with the watchdog armed; its exit code (a signal that ended it ends this process too)."""
    import subprocess

    if not command:
        print("lifeline.py: no command to run", file=sys.stderr)
        return 2
    arm()
    # Stop and MaxRuntimeInSeconds signal the whole group: the program decides what SIGTERM means, and this
    # supervisor waits for it instead of dying first (handlers, unlike ignored signals, are reset by exec).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    try:
        program = subprocess.Popen(command)
    except OSError as exc:
        print(f"lifeline.py: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 126 if isinstance(exc, PermissionError) else 127
    code = program.wait()
    if code < 0:  # end by the same signal, so that the local cloud sees what a direct child would show
        if -code not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


if __name__ == "__main__":
    sys.exit(supervise(sys.argv[1:]))
