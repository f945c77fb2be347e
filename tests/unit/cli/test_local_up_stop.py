"""`cd4ml local up` stopping: a slow stop says where each thread waits (what a person, or a failed test, needs to
see to find what holds it up)."""

import threading

from cd4ml import cli


def test_a_slow_stop_prints_every_thread_s_stack(capfd) -> None:
    release = threading.Event()
    waiting = threading.Thread(target=release.wait, name="holds-the-stop", daemon=True)
    waiting.start()
    try:
        cli._report_slow_stop()
    finally:
        release.set()
        waiting.join(5)

    err = capfd.readouterr().err
    assert err.startswith(f"Still stopping after {cli.SLOW_STOP_S:.0f}s; where each thread waits:")
    assert "in wait" in err and "threading.py" in err  # the waiting thread's frames
    assert "test_a_slow_stop_prints_every_thread_s_stack" in err  # and the caller's
