"""The scheduler that fires scheduled rules on a clock: wall time in the CLI, a manual clock that tests advance."""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..clock import Clock
from .schedules import MAX_OCCURRENCES_PER_TICK, Schedule, TooManyOccurrencesError, as_utc, parse_schedule

log = logging.getLogger(__name__)


@dataclass
class ScheduledRule:
    """An EventBridge rule with a ScheduleExpression, as the scheduler needs it."""

    name: str
    arn: str
    expression: str
    event_bus: str = "default"


@dataclass
class _Entry:
    rule: ScheduledRule
    schedule: Schedule
    next_at: datetime | None
    order: int  # breaks ties between rules due at the same instant: the earlier-added rule fires first


FireCallback = Callable[[ScheduledRule, datetime], None]


class Scheduler:
    """Fires scheduled rules when they come due on a `Clock`.

    With a clock that flows a daemon thread polls every `poll_interval_s`; with one that jumps every `advance`
    fires, synchronously and in time order across rules, each occurrence that became due, each with its own
    scheduled time. A `fire` callback that raises is logged and the scheduler carries on.
    """

    def __init__(
        self,
        clock: Clock,
        fire: FireCallback,
        poll_interval_s: float = 1.0,
        max_occurrences_per_tick: int = MAX_OCCURRENCES_PER_TICK,
    ) -> None:
        if poll_interval_s <= 0:
            raise ValueError(f"poll_interval_s must be positive; got {poll_interval_s}")
        self._clock = clock
        self._fire = fire
        self._poll_interval_s = poll_interval_s
        self._max_per_tick = max_occurrences_per_tick
        self._entries: dict[str, _Entry] = {}
        self._order = itertools.count()
        self._lock = threading.Lock()  # guards _entries
        # Re-entrant because a fire callback may advance a manual clock, which runs this scheduler again.
        self._tick_lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self._closed = False

    def add(self, rule: ScheduledRule) -> None:
        """Schedule `rule` (replacing a rule of the same name); its first occurrence counts from now."""
        schedule = parse_schedule(rule.expression)
        first = schedule.next_after(self._clock.now())
        with self._lock:
            self._entries[rule.name] = _Entry(rule, schedule, first, next(self._order))

    def remove(self, name: str) -> None:
        """Stop firing the rule `name`; removing an unknown rule does nothing (as deleting twice would)."""
        with self._lock:
            self._entries.pop(name, None)

    def pending(self) -> list[tuple[str, datetime]]:
        """(rule name, next fire time) for every rule that will fire again, soonest first."""
        with self._lock:
            due = [(e.next_at, e.order, e.rule.name) for e in self._entries.values() if e.next_at is not None]
        return [(name, when) for when, _, name in sorted(due)]

    def install(self) -> None:
        self.start()

    def start(self) -> None:
        if self._closed:
            raise RuntimeError("the scheduler is closed")
        if self._started:
            return
        self._started = True
        if self._clock.jumps:
            self._clock.add_listener(self._on_clock_moved)
        if not self._clock.manual:
            self._thread = threading.Thread(target=self._poll, name="localcloud-scheduler", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._closed = True
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, 2 * self._poll_interval_s))

    def run_due(self, now: datetime | None = None) -> int:
        """Fire every occurrence due at or before `now` (default: the clock's now); returns how many fired."""
        now = as_utc(self._clock.now() if now is None else now)
        fired = 0
        with self._tick_lock:
            while True:
                with self._lock:
                    entry = self._earliest_due(now)
                    if entry is None:
                        return fired
                    if fired >= self._max_per_tick:
                        skipped = self._skip_to(now)
                        raise TooManyOccurrencesError(
                            f"more than {self._max_per_tick} scheduled occurrences came due by "
                            f"{now.isoformat()}; fired {fired} and skipped the rest ({skipped} rule(s) "
                            f"moved past {now.isoformat()}); advance the clock in smaller steps"
                        )
                    when = entry.next_at
                    assert when is not None  # _earliest_due only returns entries with a due time
                    entry.next_at = entry.schedule.next_after(when)
                    rule = entry.rule
                fired += 1
                # Fire outside the lock so a callback can add or remove rules.
                try:
                    self._fire(rule, when)
                except Exception:
                    log.exception("scheduled rule %r failed to fire for %s", rule.name, when.isoformat())

    def _earliest_due(self, now: datetime) -> _Entry | None:
        due = [e for e in self._entries.values() if e.next_at is not None and e.next_at <= now]
        return min(due, key=lambda e: (e.next_at, e.order), default=None)

    def _skip_to(self, now: datetime) -> int:
        skipped = 0
        for entry in self._entries.values():
            if entry.next_at is not None and entry.next_at <= now:
                entry.next_at = entry.schedule.next_after(now)
                skipped += 1
        return skipped

    def _on_clock_moved(self, now: datetime) -> None:
        # ManualClock has no way to unregister a listener, so a closed scheduler just ignores moves.
        if not self._closed:
            self.run_due(now)

    def _poll(self) -> None:
        while not self._stop.wait(self._poll_interval_s):
            try:
                self.run_due()
            except Exception:
                # The poller must outlive a bad tick (an overflow after a suspend, a broken schedule).
                log.exception("scheduler tick failed")


def scheduled_event(rule: ScheduledRule, when: datetime, account: str, region: str) -> dict[str, Any]:
    """The event EventBridge delivers to the targets of a schedule rule for the occurrence at `when`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": as_utc(when).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.arn],
        "detail": {},
    }
