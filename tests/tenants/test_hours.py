"""Business-hours rules, across time zones, DST and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from plateaux.tenants.hours import Interval, is_open, next_opening, validate

WEEKDAYS = [Interval(d, time(9), time(18)) for d in range(5)]


def test_open_in_the_tenants_local_time() -> None:
    # Monday 2030-01-07 08:30 UTC is 09:30 in Paris (winter, UTC+1).
    assert is_open(datetime(2030, 1, 7, 8, 30, tzinfo=UTC), timezone="Europe/Paris",
                   hours=WEEKDAYS, holidays=[])
    assert not is_open(datetime(2030, 1, 7, 7, 30, tzinfo=UTC), timezone="Europe/Paris",
                       hours=WEEKDAYS, holidays=[])


def test_wall_clock_hours_survive_daylight_saving() -> None:
    # Paris switches to summer time on 2030-03-31: 09:00 local is 08:00 UTC before, 07:00 after.
    friday_before = datetime(2030, 3, 29, 8, 0, tzinfo=UTC)
    monday_after = datetime(2030, 4, 1, 7, 0, tzinfo=UTC)
    assert is_open(friday_before, timezone="Europe/Paris", hours=WEEKDAYS, holidays=[])
    assert is_open(monday_after, timezone="Europe/Paris", hours=WEEKDAYS, holidays=[])
    saturday = datetime(2030, 3, 30, 12, 0, tzinfo=UTC)
    nxt = next_opening(saturday, timezone="Europe/Paris", hours=WEEKDAYS, holidays=[])
    assert nxt is not None and nxt.astimezone(UTC) == monday_after


def test_holidays_close_the_day_and_push_the_next_opening() -> None:
    christmas = date(2030, 12, 25)  # a Wednesday
    at = datetime(2030, 12, 25, 10, 0, tzinfo=UTC)
    assert not is_open(at, timezone="UTC", hours=WEEKDAYS, holidays=[christmas])
    nxt = next_opening(at, timezone="UTC", hours=WEEKDAYS, holidays=[christmas])
    assert nxt == datetime(2030, 12, 26, 9, 0, tzinfo=UTC)


def test_split_days_and_never_open() -> None:
    split = [Interval(0, time(9), time(12)), Interval(0, time(14), time(18))]
    lunch = datetime(2030, 1, 7, 13, 0, tzinfo=UTC)
    assert not is_open(lunch, timezone="UTC", hours=split, holidays=[])
    assert next_opening(lunch, timezone="UTC", hours=split,
                        holidays=[]) == datetime(2030, 1, 7, 14, 0, tzinfo=UTC)
    assert next_opening(lunch, timezone="UTC", hours=[], holidays=[]) is None


def test_validation() -> None:
    assert validate(WEEKDAYS) is None
    assert validate([Interval(0, time(18), time(9))]) is not None
    assert validate([Interval(0, time(9), time(12)), Interval(0, time(11), time(13))]) is not None
