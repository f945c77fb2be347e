"""`cd4ml data generate --start` takes a date or `today-N`, so generated data can end today (fresh for validation)."""

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from cd4ml.cli import _start_date


def test_a_date_is_midnight_utc_of_that_day() -> None:
    assert _start_date("2025-03-01") == datetime(2025, 3, 1, tzinfo=UTC)


def test_today_minus_n_is_n_days_before_today() -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert _start_date("today") == today
    assert _start_date("today-30") == today - timedelta(days=30)


@pytest.mark.parametrize("text", ["01/02/2025", "today+3", "today-", "yesterday", "today-x"])
def test_anything_else_names_both_forms(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"YYYY-MM-DD or today-N"):
        _start_date(text)
