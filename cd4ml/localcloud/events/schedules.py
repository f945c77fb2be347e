"""EventBridge schedule expressions, `rate()` and `cron()`, parsed into schedules that give their next occurrence."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from croniter import CroniterError, croniter

from ..errors import LocalCloudError

__all__ = [
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "ScheduleExpressionError",
    "TooManyOccurrencesError",
    "parse_schedule",
]

# One advance of a manual clock (or one poll after a long sleep) fires at most this many occurrences, so
# advancing a year with rate(1 minute) fails loudly instead of appearing to hang.
MAX_OCCURRENCES_PER_TICK = 10_000

# EventBridge's documented year range for cron expressions.
YEAR_MIN = 1970
YEAR_MAX = 2199


class ScheduleExpressionError(LocalCloudError, ValueError):
    """A schedule expression EventBridge would reject, or a cron feature the local cloud cannot evaluate."""

    def __init__(self, expression: str, problem: str) -> None:
        self.expression = expression
        self.problem = problem
        super().__init__(f"invalid schedule expression {expression!r}: {problem}")


class TooManyOccurrencesError(LocalCloudError, RuntimeError):
    """More occurrences became due in one clock move than the scheduler will fire at once."""


class Schedule:
    """A parsed schedule expression."""

    expression: str

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after `after` (aware, returned in UTC); None when there is none."""
        raise NotImplementedError


def as_utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        # A naive time is almost always a bug (local time mistaken for UTC), so refuse it rather than guess.
        raise ValueError(f"schedule times must be timezone-aware (UTC); got naive {when.isoformat()}")
    return when.astimezone(UTC)


class RateSchedule(Schedule):
    """rate(value unit): every `interval`, counted from when the rule was created.

    A rate has no fixed phase, so `next_after(t)` is simply `t + interval`: the scheduler passes the rule's
    creation time for the first occurrence and each occurrence's scheduled time for the next one.
    """

    def __init__(self, expression: str, interval: timedelta) -> None:
        self.expression = expression
        self.interval = interval

    def next_after(self, after: datetime) -> datetime | None:
        return as_utc(after) + self.interval

    def __repr__(self) -> str:
        return f"RateSchedule({self.expression!r}, interval={self.interval})"


class CronSchedule(Schedule):
    """cron(minutes hours day-of-month month day-of-week year), evaluated in UTC.

    The first five fields are translated to croniter's standard 5-field syntax (day-of-week renumbered from
    AWS's 1-7 = SUN-SAT to cron's 0-6); the year field is applied here as a filter, jumping straight to the
    next allowed year so sparse years cost a handful of croniter calls.
    """

    def __init__(self, expression: str, croniter_expression: str, years: frozenset[int]) -> None:
        self.expression = expression
        self.croniter_expression = croniter_expression
        self.years = years
        self._sorted_years = sorted(years)

    def next_after(self, after: datetime) -> datetime | None:
        cursor = as_utc(after)
        # Each pass either returns or moves the cursor into a later year, so the loop is bounded by the
        # number of years in EventBridge's range.
        for _ in range(YEAR_MAX - YEAR_MIN + 2):
            if cursor.year not in self.years:
                year = next((y for y in self._sorted_years if y > cursor.year), None)
                if year is None:
                    return None
                # Just before midnight on 1 January, so an occurrence at exactly 00:00 still counts.
                cursor = datetime(year, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
            try:
                candidate = croniter(self.croniter_expression, cursor).get_next(datetime)
            except CroniterError:
                # croniter gives up when nothing matches within its search window (decades).
                return None
            candidate = as_utc(candidate)
            if candidate.year in self.years:
                return candidate
            cursor = candidate
        return None

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, croniter={self.croniter_expression!r})"


# --- parsing -------------------------------------------------------------------------------------------

_RATE_RE = re.compile(r"^rate\((?P<body>.*)\)$", re.DOTALL)
_CRON_RE = re.compile(r"^cron\((?P<body>.*)\)$", re.DOTALL)
_RATE_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}

_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
# AWS numbers days of the week 1-7 starting on Sunday (Quartz style), not cron's 0-6.
_WEEKDAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}
# Longest month lengths, February counted in a leap year: a day-of-month that fits none of the chosen
# months can never fire.
_MONTH_MAX_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def parse_schedule(expression: str) -> Schedule:
    """Parse an EventBridge schedule expression: ``rate(value unit)`` or ``cron(6 fields)``.

    Cron support and limits (all times UTC):

    * ``, - * /`` in every field, ``?`` in exactly one of day-of-month / day-of-week, month names JAN-DEC,
      day names SUN-SAT, day-of-week numbers 1-7 meaning SUN-SAT, wrap-around ranges such as ``FRI-MON``.
    * ``L`` alone in day-of-month (last day of the month); ``nW`` in day-of-month (weekday nearest day n,
      staying in the month; for a day the month lacks, croniter's choice of the last day applies).
    * ``L`` alone in day-of-week (Saturday), ``nL`` (last day n of the month), ``n#k`` (k-th day n).

    Not supported (raise ScheduleExpressionError): ``LW``, offsets like ``L-3``, and ``L``/``W``/``#``
    inside a list or range or with a step.
    """
    text = expression.strip()
    if match := _RATE_RE.match(text):
        return _parse_rate(expression, match.group("body"))
    if match := _CRON_RE.match(text):
        return _parse_cron(expression, match.group("body"))
    raise ScheduleExpressionError(expression, "expected 'rate(value unit)' or 'cron(fields)'")


def _parse_rate(expression: str, body: str) -> RateSchedule:
    parts = body.split()
    if len(parts) != 2:
        raise ScheduleExpressionError(expression, "a rate needs exactly two parts: 'rate(value unit)'")
    value_text, unit = parts
    if not value_text.isascii() or not value_text.isdigit():
        raise ScheduleExpressionError(expression, f"rate value {value_text!r} is not a positive whole number")
    value = int(value_text)
    if value < 1:
        raise ScheduleExpressionError(expression, f"rate value must be positive; got {value}")
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in _RATE_UNITS:
        raise ScheduleExpressionError(expression, f"unknown rate unit {unit!r}; use minute(s), hour(s) or day(s)")
    if value == 1 and unit != singular:
        raise ScheduleExpressionError(expression, f"a value of 1 needs the singular unit {singular!r}")
    if value != 1 and unit == singular:
        raise ScheduleExpressionError(expression, f"a value of {value} needs the plural unit {singular + 's'!r}")
    return RateSchedule(expression, value * _RATE_UNITS[singular])


def _parse_cron(expression: str, body: str) -> CronSchedule:
    fields = body.split()
    if len(fields) != 6:
        raise ScheduleExpressionError(
            expression,
            f"a cron expression needs 6 fields (minutes hours day-of-month month day-of-week year); got {len(fields)}",
        )
    minutes, hours, dom, month, dow, year = (field.upper() for field in fields)
    for name, field in (("minutes", minutes), ("hours", hours), ("month", month), ("year", year)):
        if "?" in field:
            raise ScheduleExpressionError(expression, f"'?' is only allowed in day-of-month or day-of-week, not {name}")
    if dom == "?" and dow == "?":
        raise ScheduleExpressionError(expression, "only one of day-of-month and day-of-week may be '?'")
    if dom != "?" and dow != "?":
        raise ScheduleExpressionError(
            expression, "one of day-of-month and day-of-week must be '?' (EventBridge does not combine them)"
        )
    for name, field in (("day-of-month", dom), ("day-of-week", dow)):
        if "?" in field and field != "?":
            raise ScheduleExpressionError(expression, f"'?' must stand alone in {name}; got {field!r}")

    minute_set = _expand(expression, "minutes", minutes, 0, 59)
    hour_set = _expand(expression, "hours", hours, 0, 23)
    month_set = _expand(expression, "month", month, 1, 12, _MONTHS)
    year_set = _expand(expression, "year", year, YEAR_MIN, YEAR_MAX)
    dom_cron = "*" if dom == "?" else _dom_to_croniter(expression, dom, month_set)
    dow_cron = "*" if dow == "?" else _dow_to_croniter(expression, dow)

    croniter_expression = " ".join(
        [
            _join(minute_set, 0, 59),
            _join(hour_set, 0, 23),
            dom_cron,
            _join(month_set, 1, 12),
            dow_cron,
        ]
    )
    try:
        croniter(croniter_expression, datetime(2000, 1, 1, tzinfo=UTC))
    except CroniterError as error:  # pragma: no cover - the translation above only emits valid syntax
        raise ScheduleExpressionError(expression, f"croniter rejects {croniter_expression!r}: {error}") from error
    return CronSchedule(expression, croniter_expression, frozenset(year_set))


def _join(values: set[int], lo: int, hi: int) -> str:
    # A full range is written '*' so croniter never mistakes a spelled-out day field for a restriction.
    if values == set(range(lo, hi + 1)):
        return "*"
    return ",".join(str(v) for v in sorted(values))


def _has_special(field: str, chars: Iterable[str]) -> bool:
    # Only the L/W/# markers count; letters inside names (JUL, WED) are not markers.
    stripped = field
    for name in (*_MONTHS, *_WEEKDAYS):
        stripped = stripped.replace(name, "")
    return any(c in stripped for c in chars)


def _dom_to_croniter(expression: str, dom: str, months: set[int]) -> str:
    if dom == "L":
        return "L"
    if dom == "LW":
        raise ScheduleExpressionError(expression, "'LW' (last weekday of the month) is not supported locally")
    if dom.startswith("L-"):
        raise ScheduleExpressionError(expression, f"day-of-month offset {dom!r} is not supported locally")
    if match := re.fullmatch(r"(\d+)W", dom):
        day = int(match.group(1))
        if not 1 <= day <= 31:
            raise ScheduleExpressionError(expression, f"day-of-month {day} in {dom!r} is out of range 1-31")
        return f"{day}W"
    if _has_special(dom, "LW#"):
        raise ScheduleExpressionError(
            expression,
            f"day-of-month {dom!r}: 'L' and 'W' must stand alone ('L', 'nW'); lists and ranges of them "
            "are not supported",
        )
    days = _expand(expression, "day-of-month", dom, 1, 31)
    if not any(day <= _MONTH_MAX_DAYS[month] for day in days for month in months):
        raise ScheduleExpressionError(expression, f"day-of-month {dom!r} never occurs in month(s) {sorted(months)}")
    return _join(days, 1, 31)


def _weekday(expression: str, text: str) -> int:
    return _value(expression, "day-of-week", text, 1, 7, _WEEKDAYS)


def _dow_to_croniter(expression: str, dow: str) -> str:
    if dow == "L":
        # Quartz (and so EventBridge) reads a bare 'L' in day-of-week as the last day of the week: Saturday.
        return "6"
    if match := re.fullmatch(r"(\w+)L", dow):
        return f"L{_weekday(expression, match.group(1)) - 1}"
    if match := re.fullmatch(r"(\w+)#(\d+)", dow):
        nth = int(match.group(2))
        if not 1 <= nth <= 5:
            raise ScheduleExpressionError(expression, f"day-of-week {dow!r}: the occurrence after '#' must be 1-5")
        return f"{_weekday(expression, match.group(1)) - 1}#{nth}"
    if _has_special(dow, "L#W"):
        raise ScheduleExpressionError(
            expression,
            f"day-of-week {dow!r}: 'L' and '#' must stand alone ('nL', 'n#k'); lists and ranges of "
            "them are not supported",
        )
    days = _expand(expression, "day-of-week", dow, 1, 7, _WEEKDAYS)
    # Renumber AWS's 1-7 (SUN-SAT) to cron's 0-6 (SUN-SAT).
    return _join({d - 1 for d in days}, 0, 6)


def _value(expression: str, name: str, text: str, lo: int, hi: int, aliases: dict[str, int] | None = None) -> int:
    if aliases and text in aliases:
        return aliases[text]
    if not text.isascii() or not text.isdigit():
        known = f"; names allowed: {', '.join(aliases)}" if aliases else ""
        raise ScheduleExpressionError(expression, f"{name} value {text!r} is not a number{known}")
    value = int(text)
    if not lo <= value <= hi:
        raise ScheduleExpressionError(expression, f"{name} value {value} is out of range {lo}-{hi}")
    return value


def _expand(
    expression: str, name: str, field: str, lo: int, hi: int, aliases: dict[str, int] | None = None
) -> set[int]:
    """Expand one field made of ``, - * /`` into its set of values (ranges may wrap, as in Quartz)."""
    values: set[int] = set()
    span = hi - lo + 1
    for item in field.split(","):
        if not item:
            raise ScheduleExpressionError(expression, f"{name} field {field!r} has an empty list item")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isascii() or not step_text.isdigit():
                raise ScheduleExpressionError(expression, f"{name} step {step_text!r} is not a whole number")
            step = int(step_text)
            if not 1 <= step <= span:
                raise ScheduleExpressionError(expression, f"{name} step {step} is out of range 1-{span}")
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            start = _value(expression, name, start_text, lo, hi, aliases)
            end = _value(expression, name, end_text, lo, hi, aliases)
        else:
            start = _value(expression, name, base, lo, hi, aliases)
            # 'a/n' means from a to the top of the range; a bare 'a' is just a.
            end = hi if slash else start
        count = (end - start) % span + 1  # wraps past the top when end < start, e.g. FRI-MON or 22-2
        values.update(lo + (start - lo + offset) % span for offset in range(0, count, step))
    return values
