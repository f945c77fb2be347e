"""The local cloud's clock: wall time for the CLI, a manual clock that tests advance."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall-clock time; listeners are told when time moves (only the manual clock moves by itself on demand)."""

    manual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def add_listener(self, listener: Callable[[datetime], None]) -> None:
        """Wall time has no jumps to announce; schedules poll it from their own thread."""


class ManualClock(Clock):
    """A clock that stands still until `advance` moves it; listeners (the scheduler) run synchronously on each move."""

    manual = True

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[datetime], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def add_listener(self, listener: Callable[[datetime], None]) -> None:
        self._listeners.append(listener)

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move time forward by `seconds` (or timedelta keywords: minutes=5, hours=1) and fire what became due."""
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError(f"the clock only moves forward; got {step}")
        with self._lock:
            self._now += step
            now = self._now
        for listener in list(self._listeners):
            listener(now)
        return now
