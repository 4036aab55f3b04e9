"""Business-hours arithmetic with fixed instants: weekends, holidays, time zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from plateaux.helpdesk.business_time import (
    CALENDAR_TIME,
    Calendar,
    add_business_seconds,
    business_seconds,
    windows,
)
from plateaux.tenants.hours import Interval

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600.0


def weekdays(opens: time, closes: time) -> tuple[Interval, ...]:
    return tuple(Interval(day, opens, closes) for day in range(5))


OFFICE = weekdays(time(9), time(18))


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_friday_evening_plus_two_hours_is_monday_morning() -> None:
    calendar = Calendar("Europe/Paris", OFFICE)
    # Friday 2025-03-14 17:00 Paris: one hour left that day, one more on Monday.
    due = add_business_seconds(calendar, paris(2025, 3, 14, 17), 2 * HOUR)
    assert due == paris(2025, 3, 17, 10)
    assert business_seconds(calendar, paris(2025, 3, 14, 17), paris(2025, 3, 17, 10)) == 2 * HOUR


def test_a_holiday_is_skipped() -> None:
    calendar = Calendar("Europe/Paris", OFFICE, frozenset({date(2025, 3, 17)}))
    due = add_business_seconds(calendar, paris(2025, 3, 14, 17), 2 * HOUR)
    assert due == paris(2025, 3, 18, 10)


def test_start_before_opening_counts_from_opening() -> None:
    calendar = Calendar("Europe/Paris", OFFICE)
    assert add_business_seconds(calendar, paris(2025, 3, 12, 6, 30), 30 * 60) == paris(
        2025, 3, 12, 9, 30)
    assert business_seconds(calendar, paris(2025, 3, 12, 6), paris(2025, 3, 12, 9)) == 0


def test_the_same_hours_in_another_zone_are_other_instants() -> None:
    start = datetime(2025, 3, 12, 7, tzinfo=UTC)  # 08:00 Paris, 16:00 Tokyo
    in_paris = add_business_seconds(Calendar("Europe/Paris", OFFICE), start, HOUR)
    in_tokyo = add_business_seconds(Calendar("Asia/Tokyo", OFFICE), start, 3 * HOUR)
    assert in_paris == paris(2025, 3, 12, 10)
    # Two hours left in Tokyo's day (16:00-18:00), the third the next morning at 09:00.
    assert in_tokyo == datetime(2025, 3, 13, 10, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_across_the_spring_forward_weekend_in_new_york() -> None:
    calendar = Calendar("America/New_York", OFFICE)
    # Friday 2025-03-07 17:00 EST + 2 h: Monday 10:00 EDT (clocks moved on Sunday).
    due = add_business_seconds(calendar, datetime(2025, 3, 7, 17, tzinfo=NEW_YORK), 2 * HOUR)
    assert due == datetime(2025, 3, 10, 10, tzinfo=NEW_YORK)
    assert due is not None and due.astimezone(UTC).hour == 14  # not 15: the offset changed


def test_a_day_open_around_the_clock_counts_real_elapsed_time_across_dst() -> None:
    always = tuple(Interval(day, time(0), time(0)) for day in range(7))
    calendar = Calendar("Europe/Paris", always)
    # The night clocks jump 02:00 -> 03:00: the local day has 23 hours.
    start, end = paris(2025, 3, 30, 0), paris(2025, 3, 31, 0)
    assert business_seconds(calendar, start, end) == 23 * HOUR
    # One window over several days: a day open to midnight continues into the next.
    first = next(windows(calendar, start))
    assert first[0] == start.astimezone(UTC)
    assert first[1] - first[0] > timedelta(days=100)


def test_an_opening_that_does_not_exist_opens_when_the_clocks_jump() -> None:
    # Open 02:30-04:00 on Sundays: on 2025-03-30 (Paris) 02:30 never happens.
    calendar = Calendar("Europe/Paris", (Interval(6, time(2, 30), time(4)),))
    due = add_business_seconds(calendar, paris(2025, 3, 30, 0), 60)
    assert due == datetime(2025, 3, 30, 1, 1, tzinfo=UTC)  # 03:01 CEST


def test_fall_back_repeats_an_hour_that_counts_twice() -> None:
    calendar = Calendar("Europe/Paris", (Interval(6, time(2), time(3)),))
    # 2025-10-26: 02:00-03:00 happens twice (CEST then CET).
    start = paris(2025, 10, 26, 0)
    assert business_seconds(calendar, start, paris(2025, 10, 27, 0)) == 2 * HOUR


def test_calendar_time_without_hours() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    assert add_business_seconds(CALENDAR_TIME, start, 90) == start + timedelta(seconds=90)
    assert business_seconds(CALENDAR_TIME, start, start + timedelta(hours=5)) == 5 * HOUR


def test_never_open_is_never_due() -> None:
    calendar = Calendar("UTC", OFFICE, frozenset())
    holidays = frozenset(date(2025, 1, 1) + timedelta(days=n) for n in range(5))
    only_first_week = Calendar("UTC", (Interval(2, time(9), time(10)),), holidays)
    assert add_business_seconds(calendar, datetime(2025, 1, 1, tzinfo=UTC), HOUR) is not None
    # Wednesday 1 January is a holiday; the next Wednesday is open.
    assert add_business_seconds(only_first_week, datetime(2025, 1, 1, tzinfo=UTC),
                                HOUR) == datetime(2025, 1, 8, 10, tzinfo=UTC)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError):
        business_seconds(CALENDAR_TIME, datetime(2025, 1, 1), datetime(2025, 1, 2))
