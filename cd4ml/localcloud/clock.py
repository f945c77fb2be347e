"""The local cloud's clock: wall time for the CLI, a manual clock that tests advance, a jump clock for the demo."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time; listeners are told when time jumps (the manual and the jump clock jump on demand)."""

    manual = False  # time stands still between advances: schedules fire only on a move
    jumps = False  # advance() moves it: listeners run on each move

    def skew(self) -> timedelta:
        """How far this clock is ahead of wall time: what the local services add to the times moto stamps."""
        return self.now() - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def add_listener(self, listener: Callable[[datetime], None]) -> None:
        """Wall time has no jumps to announce; schedules poll it from their own thread."""


class _MovableClock(Clock):
    """A clock that `advance` moves forward; its listeners (the scheduler) run synchronously on each move."""

    jumps = True

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[datetime], None]] = []

    def add_listener(self, listener: Callable[[datetime], None]) -> None:
        self._listeners.append(listener)

    def _move(self, step: timedelta) -> None:
        raise NotImplementedError

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move time forward by `seconds` (or timedelta keywords: minutes=5, hours=1) and fire what became due."""
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError(f"the clock only moves forward; got {step}")
        with self._lock:
            self._move(step)
        now = self.now()
        for listener in list(self._listeners):
            listener(now)
        return now


class ManualClock(_MovableClock):
    """A clock that stands still until `advance` moves it."""

    manual = True

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._now = (start or datetime.now(UTC)).astimezone(UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def _move(self, step: timedelta) -> None:
        self._now += step


class JumpClock(_MovableClock):
    """Wall time that `advance` moves ahead by jumps: a demo runs at wall speed, and a day of schedules (a monitoring
    window, a cooldown) passes in a call. Schedules both poll (time flows) and fire on each jump."""

    def __init__(self) -> None:
        super().__init__()
        self._ahead = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._ahead

    def skew(self) -> timedelta:
        with self._lock:
            return self._ahead

    def _move(self, step: timedelta) -> None:
        self._ahead += step
