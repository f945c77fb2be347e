"""Children of the local cloud die with it (processes.spawn_group and child_process/lifeline.py): a parent killed
with SIGKILL takes its children and theirs along, a supervised command exits as its program did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from cd4ml.localcloud.processes import LIFELINE, LIFELINE_FD_VARIABLE, spawn_group

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds processes through /proc")

CONTAINER = LIFELINE.parent / "sagemaker_container.py"


def _marked(marker: str) -> list[int]:
    needle = f"CD4ML_TEST_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_supervised_command_exits_as_its_program_exited() -> None:
    env = dict(os.environ)
    assert spawn_group(["/bin/sh", "-c", "exit 3"], env=env).wait() == 3
    assert spawn_group(["/bin/sh", "-c", "kill -KILL $$"], env=env).wait() == -signal.SIGKILL
    assert spawn_group(["/nonexistent/program"], env=env, stderr=subprocess.DEVNULL).wait() == 127


def test_the_program_itself_never_sees_the_lifeline() -> None:
    shown = spawn_group(
        ["/bin/sh", "-c", f"echo ${{{LIFELINE_FD_VARIABLE}:-unset}}"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        text=True,
    ).communicate()[0]
    assert shown.strip() == "unset"


def test_sigterm_to_the_group_is_the_programs_to_handle_not_the_supervisors() -> None:
    script = "trap 'echo got-term; exit 7' TERM; sleep 30 & wait"
    process = spawn_group(["/bin/sh", "-c", script], env=dict(os.environ), stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    os.killpg(process.pid, signal.SIGTERM)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 7 and "got-term" in out


def test_children_and_grandchildren_die_with_a_parent_killed_by_sigkill() -> None:
    marker = uuid.uuid4().hex
    # The parent starts its children from a thread that ends at once: the lifeline is the process's, not the
    # thread's (PR_SET_PDEATHSIG would have killed them with the thread).
    parent_code = textwrap.dedent(
        f"""
        import os, sys, threading, time
        from cd4ml.localcloud.processes import spawn_group
        env = dict(os.environ, CD4ML_TEST_MARKER={marker!r})
        def start():
            spawn_group(["/bin/sh", "-c", "sleep 60 & wait"], env=env)
            spawn_group([sys.executable, {str(CONTAINER)!r}, "python", "-c",
                         "import subprocess; subprocess.run(['sleep', '60'])"], env=env)
        thread = threading.Thread(target=start)
        thread.start()
        thread.join()
        print("started", flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 10
        while len(_marked(marker)) < 5:  # sh and its sleep, the supervisor; the container and its sleep
            assert time.monotonic() < deadline, f"children did not all start: {_marked(marker)}"
            time.sleep(0.05)
        time.sleep(0.3)  # the thread that started them is long gone: they must still be alive
        assert len(_marked(marker)) == 5
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 3
    while _marked(marker):
        assert time.monotonic() < deadline, f"still running 3s after the parent's SIGKILL: {_marked(marker)}"
        time.sleep(0.05)
