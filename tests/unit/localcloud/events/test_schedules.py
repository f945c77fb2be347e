"""EventBridge schedule expressions and the scheduler, on manual and (sped-up) wall clocks."""

from __future__ import annotations

import re
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cd4ml.localcloud.clock import Clock, JumpClock, ManualClock
from cd4ml.localcloud.events.scheduler import ScheduledRule, Scheduler, scheduled_event
from cd4ml.localcloud.events.schedules import ScheduleExpressionError, TooManyOccurrencesError, parse_schedule


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def occurrences(expression: str, after: datetime, count: int) -> list[datetime | None]:
    schedule = parse_schedule(expression)
    result: list[datetime | None] = []
    cursor: datetime | None = after
    for _ in range(count):
        assert cursor is not None
        cursor = schedule.next_after(cursor)
        result.append(cursor)
        if cursor is None:
            break
    return result


def rule(name: str, expression: str) -> ScheduledRule:
    return ScheduledRule(name=name, arn=f"arn:aws:events:us-east-1:123456789012:rule/{name}", expression=expression)


# --- rate -----------------------------------------------------------------------------------------------


def test_rate_minutes_crosses_midnight_and_new_year() -> None:
    assert occurrences("rate(5 minutes)", utc(2026, 12, 31, 23, 52), 3) == [
        utc(2026, 12, 31, 23, 57),
        utc(2027, 1, 1, 0, 2),
        utc(2027, 1, 1, 0, 7),
    ]


def test_rate_one_day_crosses_month_end_in_leap_and_common_years() -> None:
    assert occurrences("rate(1 day)", utc(2027, 2, 28, 6, 30), 1) == [utc(2027, 3, 1, 6, 30)]
    assert occurrences("rate(1 day)", utc(2028, 2, 28, 6, 30), 2) == [
        utc(2028, 2, 29, 6, 30),
        utc(2028, 3, 1, 6, 30),
    ]


def test_rate_hours_keeps_the_phase_of_the_start_time() -> None:
    assert occurrences("rate(1 hour)", utc(2026, 5, 31, 23, 17, 42), 2) == [
        utc(2026, 6, 1, 0, 17, 42),
        utc(2026, 6, 1, 1, 17, 42),
    ]
    assert occurrences("rate(12 hours)", utc(2026, 1, 1), 1) == [utc(2026, 1, 1, 12)]


def test_next_after_returns_utc_for_other_time_zones_and_rejects_naive_times() -> None:
    paris = utc(2026, 7, 1, 14).astimezone(ZoneInfo("Europe/Paris"))
    assert parse_schedule("cron(0 15 * * ? *)").next_after(paris) == utc(2026, 7, 1, 15)
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_schedule("rate(1 minute)").next_after(datetime(2026, 1, 1))


# --- cron -----------------------------------------------------------------------------------------------


def test_cron_daily_crosses_year_boundary() -> None:
    assert occurrences("cron(0 12 * * ? *)", utc(2026, 12, 31, 12, 0, 1), 2) == [
        utc(2027, 1, 1, 12),
        utc(2027, 1, 2, 12),
    ]


def test_cron_next_after_is_strictly_after_a_matching_instant() -> None:
    schedule = parse_schedule("cron(0 12 * * ? *)")
    assert schedule.next_after(utc(2026, 11, 25, 12)) == utc(2026, 11, 26, 12)
    assert schedule.next_after(utc(2026, 11, 25, 11, 59, 59, 999999)) == utc(2026, 11, 25, 12)


def test_cron_every_fifteen_minutes_on_weekdays_skips_the_weekend() -> None:
    # 2026-11-27 is a Friday.
    assert occurrences("cron(0/15 * ? * MON-FRI *)", utc(2026, 11, 27, 23, 40), 3) == [
        utc(2026, 11, 27, 23, 45),
        utc(2026, 11, 30, 0, 0),
        utc(2026, 11, 30, 0, 15),
    ]


def test_cron_last_day_of_month_crosses_months_including_leap_february() -> None:
    assert occurrences("cron(30 23 L * ? *)", utc(2028, 1, 31, 23, 30), 3) == [
        utc(2028, 2, 29, 23, 30),
        utc(2028, 3, 31, 23, 30),
        utc(2028, 4, 30, 23, 30),
    ]


def test_cron_month_names_lists_and_ranges() -> None:
    assert occurrences("cron(0 0 1 JAN,jul ? *)", utc(2026, 2, 1), 3) == [
        utc(2026, 7, 1),
        utc(2027, 1, 1),
        utc(2027, 7, 1),
    ]
    assert occurrences("cron(0 0 1 NOV-FEB ? *)", utc(2026, 2, 15), 2) == [utc(2026, 11, 1), utc(2026, 12, 1)]


def test_cron_hour_range_may_wrap_past_midnight_with_a_step() -> None:
    assert occurrences("cron(0 22-2/2 * * ? *)", utc(2026, 3, 1, 12), 4) == [
        utc(2026, 3, 1, 22),
        utc(2026, 3, 2, 0),
        utc(2026, 3, 2, 2),
        utc(2026, 3, 2, 22),
    ]


@pytest.mark.parametrize(
    ("day_of_week", "weekday_name"),
    [("1", "Sunday"), ("2", "Monday"), ("4", "Wednesday"), ("6", "Friday"), ("7", "Saturday")],
)
def test_cron_day_of_week_uses_aws_numbering_sunday_is_one(day_of_week: str, weekday_name: str) -> None:
    (first,) = occurrences(f"cron(0 9 ? * {day_of_week} *)", utc(2026, 11, 25), 1)
    assert first is not None
    assert first.strftime("%A") == weekday_name


def test_cron_day_two_is_monday_like_the_name_mon() -> None:
    after = utc(2026, 11, 25, 10)  # a Wednesday
    by_number = occurrences("cron(0 9 ? * 2 *)", after, 3)
    assert by_number == occurrences("cron(0 9 ? * MON *)", after, 3)
    assert by_number == [utc(2026, 11, 30, 9), utc(2026, 12, 7, 9), utc(2026, 12, 14, 9)]


def test_cron_weekday_range_wraps_from_friday_to_monday() -> None:
    found = occurrences("cron(0 0 ? * FRI-MON *)", utc(2026, 11, 25), 5)
    assert [d.strftime("%a") for d in found if d] == ["Fri", "Sat", "Sun", "Mon", "Fri"]


def test_cron_year_field_limits_occurrences_and_ends_with_none() -> None:
    assert occurrences("cron(0 0 1 1 ? 2030,2032)", utc(2026, 6, 1), 3) == [
        utc(2030, 1, 1),
        utc(2032, 1, 1),
        None,
    ]
    assert occurrences("cron(0 0 29 FEB ? 2027-2029)", utc(2026, 1, 1), 2) == [utc(2028, 2, 29), None]
    assert parse_schedule("cron(0 0 1 1 ? 2020)").next_after(utc(2026, 1, 1)) is None


def test_cron_year_step_starts_at_the_given_year() -> None:
    assert occurrences("cron(0 0 1 1 ? 2026/5)", utc(2026, 6, 1), 2) == [utc(2031, 1, 1), utc(2036, 1, 1)]


def test_cron_last_weekday_of_month_with_nl() -> None:
    # 6L: the last Friday of the month (AWS 6 = FRI).
    assert occurrences("cron(0 9 ? * 6L *)", utc(2026, 11, 1), 2) == [
        utc(2026, 11, 27, 9),
        utc(2026, 12, 25, 9),
    ]
    assert occurrences("cron(0 9 ? * FRIL *)", utc(2026, 11, 1), 1) == [utc(2026, 11, 27, 9)]


def test_cron_bare_l_in_day_of_week_is_saturday() -> None:
    (first,) = occurrences("cron(0 9 ? * L *)", utc(2026, 11, 25), 1)
    assert first == utc(2026, 11, 28, 9)


def test_cron_nth_weekday_with_hash() -> None:
    # 3#2: the second Tuesday (AWS 3 = TUE).
    assert occurrences("cron(0 9 ? * 3#2 *)", utc(2026, 11, 25), 2) == [
        utc(2026, 12, 8, 9),
        utc(2027, 1, 12, 9),
    ]


def test_cron_nearest_weekday_with_w_stays_in_the_month() -> None:
    # 2026-11-15 is a Sunday -> Monday the 16th; 2026-08-01 is a Saturday -> Monday the 3rd, not July 31st.
    assert parse_schedule("cron(0 9 15W * ? *)").next_after(utc(2026, 11, 1)) == utc(2026, 11, 16, 9)
    assert parse_schedule("cron(0 9 1W * ? *)").next_after(utc(2026, 7, 15)) == utc(2026, 8, 3, 9)


# --- invalid expressions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("cron(0 12 * * * *)", "one of day-of-month and day-of-week must be '?'"),
        ("cron(0 12 1 * MON *)", "one of day-of-month and day-of-week must be '?'"),
        ("cron(0 12 ? * ? *)", "only one of day-of-month and day-of-week may be '?'"),
        ("cron(? 12 * * ? *)", "'?' is only allowed in day-of-month or day-of-week, not minutes"),
        ("cron(0 12 1,? * ? *)", "'?' must stand alone"),
    ],
)
def test_question_mark_rule_is_enforced(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=problem.replace("?", r"\?")):
        parse_schedule(expression)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("rate(1 minutes)", "a value of 1 needs the singular unit 'minute'"),
        ("rate(5 minute)", "a value of 5 needs the plural unit 'minutes'"),
        ("rate(1 hours)", "singular unit 'hour'"),
        ("rate(0 minutes)", "rate value must be positive"),
        ("rate(-5 minutes)", "not a positive whole number"),
        ("rate(1.5 hours)", "not a positive whole number"),
        ("rate(2 weeks)", "unknown rate unit 'weeks'"),
        ("rate(5)", "exactly two parts"),
        ("every 5 minutes", r"expected 'rate\(value unit\)' or 'cron\(fields\)'"),
        ("cron(0 12 * * ?)", "needs 6 fields .* got 5"),
        ("cron(60 12 * * ? *)", "minutes value 60 is out of range 0-59"),
        ("cron(0 24 * * ? *)", "hours value 24 is out of range 0-23"),
        ("cron(0 12 32 * ? *)", "day-of-month value 32 is out of range 1-31"),
        ("cron(0 12 ? 13 * *)", "month value 13 is out of range 1-12"),
        ("cron(0 12 ? * 0 *)", "day-of-week value 0 is out of range 1-7"),
        ("cron(0 12 ? * 8 *)", "day-of-week value 8 is out of range 1-7"),
        ("cron(0 12 * * ? 1969)", "year value 1969 is out of range 1970-2199"),
        ("cron(0 12 ? FOO * *)", "month value 'FOO' is not a number"),
        ("cron(*/0 * * * ? *)", "minutes step 0 is out of range"),
        ("cron(0 12 30 FEB ? *)", "day-of-month '30' never occurs in month"),
        ("cron(0 12 ? * 2#6 *)", "the occurrence after '#' must be 1-5"),
        ("cron(0 12 1,,2 * ? *)", "empty list item"),
    ],
)
def test_invalid_expressions_name_the_problem(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleExpressionError) as raised:
        parse_schedule(expression)
    assert re.search(problem, raised.value.problem), raised.value.problem
    assert str(raised.value).startswith(f"invalid schedule expression {expression!r}: ")
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        ("cron(0 12 LW * ? *)", "'LW'.*not supported"),
        ("cron(0 12 L-3 * ? *)", "offset 'L-3' is not supported"),
        ("cron(0 12 1,L * ? *)", "must stand alone"),
        ("cron(0 12 1W-5 * ? *)", "must stand alone"),
        ("cron(0 12 ? * 2#1,3#1 *)", "must stand alone"),
    ],
)
def test_unsupported_cron_features_are_rejected_clearly(expression: str, problem: str) -> None:
    with pytest.raises(ScheduleExpressionError, match=problem):
        parse_schedule(expression)


# --- scheduler, manual clock -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.fired: list[tuple[str, datetime]] = []

    def __call__(self, fired_rule: ScheduledRule, when: datetime) -> None:
        self.fired.append((fired_rule.name, when))


START = utc(2026, 11, 25, 11, 58)


def test_manual_advance_fires_each_due_occurrence_once_in_time_order_across_rules() -> None:
    clock = ManualClock(START)
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder)
    scheduler.add(rule("every5", "rate(5 minutes)"))
    scheduler.add(rule("quarter", "cron(0/15 * * * ? *)"))
    scheduler.start()

    clock.advance(minutes=20)  # 11:58 -> 12:18, which is itself a due instant
    assert recorder.fired == [
        ("quarter", utc(2026, 11, 25, 12, 0)),
        ("every5", utc(2026, 11, 25, 12, 3)),
        ("every5", utc(2026, 11, 25, 12, 8)),
        ("every5", utc(2026, 11, 25, 12, 13)),
        ("quarter", utc(2026, 11, 25, 12, 15)),
        ("every5", utc(2026, 11, 25, 12, 18)),
    ]

    clock.advance(minutes=4)  # 12:22: nothing new is due
    assert len(recorder.fired) == 6
    clock.advance(minutes=1)  # 12:23: only the next rate occurrence
    assert recorder.fired[6:] == [("every5", utc(2026, 11, 25, 12, 23))]
    clock.advance(seconds=0)  # no time passes, nothing fires twice
    assert len(recorder.fired) == 7


def test_rules_due_at_the_same_instant_fire_in_the_order_they_were_added() -> None:
    clock = ManualClock(utc(2026, 1, 1, 0, 0))
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder)
    scheduler.add(rule("b", "cron(0 * * * ? *)"))
    scheduler.add(rule("a", "cron(0 * * * ? *)"))
    scheduler.start()
    clock.advance(hours=2)
    assert recorder.fired == [
        ("b", utc(2026, 1, 1, 1)),
        ("a", utc(2026, 1, 1, 1)),
        ("b", utc(2026, 1, 1, 2)),
        ("a", utc(2026, 1, 1, 2)),
    ]


def test_rate_first_occurrence_counts_from_when_the_rule_is_added() -> None:
    clock = ManualClock(START)
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder)
    scheduler.start()
    clock.advance(minutes=2)
    scheduler.add(rule("late", "rate(5 minutes)"))
    assert scheduler.pending() == [("late", START + timedelta(minutes=7))]
    clock.advance(minutes=4, seconds=59)
    assert recorder.fired == []
    clock.advance(seconds=1)
    assert recorder.fired == [("late", START + timedelta(minutes=7))]


def test_a_raising_fire_callback_is_logged_and_does_not_stop_other_rules(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock(START)
    fired: list[tuple[str, datetime]] = []

    def fire(fired_rule: ScheduledRule, when: datetime) -> None:
        fired.append((fired_rule.name, when))
        if fired_rule.name == "broken":
            raise RuntimeError("target is down")

    scheduler = Scheduler(clock, fire)
    scheduler.add(rule("broken", "rate(1 minute)"))
    scheduler.add(rule("healthy", "rate(2 minutes)"))
    scheduler.start()
    clock.advance(minutes=2)
    clock.advance(minutes=1)

    assert fired == [
        ("broken", START + timedelta(minutes=1)),
        ("broken", START + timedelta(minutes=2)),
        ("healthy", START + timedelta(minutes=2)),
        ("broken", START + timedelta(minutes=3)),
    ]
    failures = [r for r in caplog.records if "'broken' failed to fire" in r.getMessage()]
    assert len(failures) == 3
    assert all(r.exc_info and "target is down" in str(r.exc_info[1]) for r in failures)


def test_removed_rule_stops_firing_and_pending_lists_next_times() -> None:
    clock = ManualClock(START)
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder)
    scheduler.add(rule("hourly", "rate(1 hour)"))
    scheduler.add(rule("noon", "cron(0 12 * * ? *)"))
    scheduler.add(rule("past", "cron(0 0 1 1 ? 2020)"))  # never fires again: not pending
    assert scheduler.pending() == [("noon", utc(2026, 11, 25, 12)), ("hourly", utc(2026, 11, 25, 12, 58))]
    scheduler.start()

    scheduler.remove("noon")
    scheduler.remove("no-such-rule")
    clock.advance(hours=1)
    assert recorder.fired == [("hourly", utc(2026, 11, 25, 12, 58))]
    assert scheduler.pending() == [("hourly", utc(2026, 11, 25, 13, 58))]


def test_adding_a_rule_with_the_same_name_replaces_it() -> None:
    clock = ManualClock(START)
    scheduler = Scheduler(clock, Recorder())
    scheduler.add(rule("r", "rate(1 day)"))
    scheduler.add(rule("r", "rate(1 minute)"))
    assert scheduler.pending() == [("r", START + timedelta(minutes=1))]


def test_add_rejects_an_invalid_expression() -> None:
    scheduler = Scheduler(ManualClock(START), Recorder())
    with pytest.raises(ScheduleExpressionError, match="singular unit"):
        scheduler.add(rule("bad", "rate(1 minutes)"))
    assert scheduler.pending() == []


def test_a_fire_callback_may_add_and_remove_rules() -> None:
    clock = ManualClock(START)
    fired: list[tuple[str, datetime]] = []
    scheduler: Scheduler

    def fire(fired_rule: ScheduledRule, when: datetime) -> None:
        fired.append((fired_rule.name, when))
        if fired_rule.name == "once":
            scheduler.remove("once")
            scheduler.add(rule("spawned", "rate(1 minute)"))

    scheduler = Scheduler(clock, fire)
    scheduler.add(rule("once", "rate(1 minute)"))
    scheduler.start()
    clock.advance(minutes=3)
    # 'spawned' is added during the 3-minute advance, when the clock already reads START + 3 min.
    assert fired == [("once", START + timedelta(minutes=1))]
    clock.advance(minutes=1)
    assert fired[1:] == [("spawned", START + timedelta(minutes=4))]


def test_advancing_too_far_raises_instead_of_hanging_and_skips_the_backlog() -> None:
    clock = ManualClock(START)
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder, max_occurrences_per_tick=50)
    scheduler.add(rule("minutely", "rate(1 minute)"))
    scheduler.start()
    with pytest.raises(TooManyOccurrencesError, match="more than 50 scheduled occurrences"):
        clock.advance(days=1)
    assert len(recorder.fired) == 50
    # The backlog is dropped: the schedule resumes after the new time rather than replaying the day.
    ((_, next_at),) = scheduler.pending()
    assert next_at == START + timedelta(days=1, minutes=1)
    clock.advance(minutes=1)
    assert recorder.fired[-1] == ("minutely", START + timedelta(days=1, minutes=1))


def test_default_limit_is_ten_thousand_occurrences_per_advance() -> None:
    clock = ManualClock(START)
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder)
    scheduler.add(rule("minutely", "rate(1 minute)"))
    scheduler.start()
    clock.advance(minutes=10_000)  # exactly at the limit: fine
    assert len(recorder.fired) == 10_000
    with pytest.raises(TooManyOccurrencesError):
        clock.advance(minutes=10_001)


def test_closed_scheduler_ignores_manual_clock_moves() -> None:
    clock = ManualClock(START)
    recorder = Recorder()
    scheduler = Scheduler(clock, recorder)
    scheduler.add(rule("minutely", "rate(1 minute)"))
    scheduler.start()
    scheduler.close()
    clock.advance(minutes=5)
    assert recorder.fired == []


# --- scheduler, wall clock ---------------------------------------------------------------------------------


class FastClock(Clock):
    """A wall clock (not manual) where a real second is ten minutes: rate(1 minute) fires every 0.1 s."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * 600)


def test_wall_clock_mode_fires_from_a_polling_thread_until_closed() -> None:
    clock = FastClock(START)
    fired: list[tuple[str, datetime, str]] = []
    enough = threading.Event()

    def fire(fired_rule: ScheduledRule, when: datetime) -> None:
        fired.append((fired_rule.name, when, threading.current_thread().name))
        if len(fired) >= 3:
            enough.set()

    scheduler = Scheduler(clock, fire, poll_interval_s=0.02)
    scheduler.add(rule("minutely", "rate(1 minute)"))
    scheduler.start()
    try:
        assert enough.wait(timeout=2.0), f"only {len(fired)} occurrence(s) fired"
    finally:
        scheduler.close()

    count = len(fired)
    times = [when for _, when, _ in fired]
    # The rule was added a hair after START (the clock runs), and every occurrence is one minute on.
    assert START + timedelta(minutes=1) <= times[0] < START + timedelta(minutes=2)
    assert times == [times[0] + timedelta(minutes=n) for n in range(count)]
    assert {thread for _, _, thread in fired} == {"localcloud-scheduler"}
    assert all(thread != threading.current_thread().name for _, _, thread in fired)
    time.sleep(0.2)  # two more minutes of FastClock time: nothing fires after close
    assert len(fired) == count


def test_wall_clock_poller_survives_a_raising_callback() -> None:
    clock = FastClock(START)
    calls: list[datetime] = []
    enough = threading.Event()

    def fire(_: ScheduledRule, when: datetime) -> None:
        calls.append(when)
        if len(calls) >= 2:
            enough.set()
        raise RuntimeError("boom")

    scheduler = Scheduler(clock, fire, poll_interval_s=0.02)
    scheduler.add(rule("minutely", "rate(1 minute)"))
    scheduler.start()
    try:
        assert enough.wait(timeout=2.0)
    finally:
        scheduler.close()


# --- the event --------------------------------------------------------------------------------


def test_scheduled_event_matches_the_shape_eventbridge_sends() -> None:
    sample = rule("nightly-retrain", "cron(0 12 * * ? *)")
    event = scheduled_event(sample, utc(2026, 11, 25, 12, 0, 0, 250000), "123456789012", "us-east-1")
    event_id = event.pop("id")
    assert uuid.UUID(event_id).version == 4
    assert event == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-25T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly-retrain"],
        "detail": {},
    }
    assert scheduled_event(sample, utc(2026, 11, 25, 12), "1", "r")["id"] != event_id


def test_cron_matches_a_brute_force_reading_of_the_aws_fields() -> None:
    def aws_day_of_week(d: datetime) -> int:  # 1 = Sunday ... 7 = Saturday
        return d.isoweekday() % 7 + 1

    schedule = parse_schedule("cron(5/20 1-3,22 ? * SUN,3-4 *)")
    start = utc(2026, 11, 1)
    expected = [
        start + timedelta(minutes=m)
        for m in range(1, 14 * 24 * 60)
        if (d := start + timedelta(minutes=m)).minute in (5, 25, 45)
        and d.hour in (1, 2, 3, 22)
        and aws_day_of_week(d) in (1, 3, 4)
    ]
    found: list[datetime] = []
    cursor: datetime | None = start
    while cursor is not None and len(found) < len(expected):
        cursor = schedule.next_after(cursor)
        if cursor is not None:
            found.append(cursor)
    assert found == expected
    assert len(expected) == 6 * 12  # 4 hours x 3 minutes, on 6 days of the two weeks


def test_a_jump_clock_runs_at_wall_speed_and_a_jump_fires_what_became_due_each_at_its_time() -> None:
    clock = JumpClock()
    fired: list[datetime] = []
    scheduler = Scheduler(clock, lambda _rule, when: fired.append(when), poll_interval_s=60.0)
    scheduler.add(rule("hourly", "rate(1 hour)"))
    scheduler.start()
    try:
        before = clock.now()
        assert abs((before - datetime.now(UTC)).total_seconds()) < 1.0 and clock.skew() == timedelta(0)
        clock.advance(hours=3)
        assert clock.skew() == timedelta(hours=3)
        assert abs((clock.now() - datetime.now(UTC)).total_seconds() - 3 * 3600) < 1.0
        assert len(fired) == 3  # each occurrence once, with its own time, in order
        assert fired == sorted(fired) and fired[1] - fired[0] == timedelta(hours=1)
        with pytest.raises(ValueError, match="only moves forward"):
            clock.advance(-1)
    finally:
        scheduler.close()


def test_wall_and_manual_clocks_report_their_skew_from_wall_time() -> None:
    assert abs(Clock().skew().total_seconds()) < 1.0
    manual = ManualClock(datetime.now(UTC) + timedelta(days=1))
    assert abs(manual.skew().total_seconds() - 86_400) < 1.0
