"""Business-hours rules: local wall-clock hours across time zones, DST changes and holidays."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from plateaux.tenants.hours import Interval, is_open, next_opening, validate

PARIS = "Europe/Paris"
WEEKDAYS = [Interval(d, time(9), time(18)) for d in range(5)]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def opened(
    at: datetime, hours: list[Interval], zone: str = PARIS, holidays: list[date] | None = None
) -> bool:
    return is_open(at, timezone=zone, hours=hours, holidays=holidays or [])


def following(
    at: datetime, hours: list[Interval], zone: str = PARIS, holidays: list[date] | None = None
) -> datetime | None:
    found = next_opening(at, timezone=zone, hours=hours, holidays=holidays or [])
    return None if found is None else found.astimezone(UTC)


def test_open_in_the_tenants_local_time() -> None:
    # Monday 2030-01-07: 08:30 UTC is 09:30 in Paris (UTC+1), 03:30 in New York (UTC-5).
    monday = utc(2030, 1, 7, 8, 30)
    assert opened(monday, WEEKDAYS)
    assert not opened(monday, WEEKDAYS, "America/New_York")
    assert not opened(utc(2030, 1, 7, 7, 59), WEEKDAYS)
    assert opened(utc(2030, 1, 7, 8, 0), WEEKDAYS)  # opening time included
    assert not opened(utc(2030, 1, 7, 17, 0), WEEKDAYS)  # closing time excluded
    # The local weekday counts: Friday 23:30 UTC is already Saturday in Paris.
    late = [Interval(4, time(0), time(0))]
    assert opened(utc(2030, 1, 11, 22, 30), late)
    assert not opened(utc(2030, 1, 11, 23, 30), late)


def test_wall_clock_hours_survive_the_spring_change() -> None:
    # Paris moves to summer time on Sunday 2030-03-31: 09:00 is 08:00 UTC before, 07:00 after.
    assert opened(utc(2030, 3, 29, 8, 0), WEEKDAYS)
    assert not opened(utc(2030, 3, 29, 7, 59), WEEKDAYS)
    assert opened(utc(2030, 4, 1, 7, 0), WEEKDAYS)
    assert not opened(utc(2030, 4, 1, 6, 59), WEEKDAYS)
    assert following(utc(2030, 3, 30, 12, 0), WEEKDAYS) == utc(2030, 4, 1, 7, 0)


def test_wall_clock_hours_survive_the_autumn_change() -> None:
    # Back to winter time on Sunday 2030-10-27: 09:00 is 07:00 UTC before, 08:00 after.
    assert following(utc(2030, 10, 26, 12, 0), WEEKDAYS) == utc(2030, 10, 28, 8, 0)
    assert not opened(utc(2030, 10, 28, 7, 30), WEEKDAYS)


def test_an_opening_time_skipped_by_the_clocks_opens_when_they_jump() -> None:
    # 02:30 does not exist in Paris on 2030-03-31 (02:00 CET jumps to 03:00 CEST, 01:00 UTC).
    night = [Interval(6, time(2, 30), time(4))]
    assert not opened(utc(2030, 3, 31, 0, 59, 59), night)
    assert opened(utc(2030, 3, 31, 1, 0), night)
    assert following(utc(2030, 3, 30, 12, 0), night) == utc(2030, 3, 31, 1, 0)
    # 04:00 CEST is 02:00 UTC: closed from then.
    assert not opened(utc(2030, 3, 31, 2, 0), night)


def test_a_wall_time_lived_twice_opens_twice() -> None:
    # On 2030-10-27, 02:00–03:00 happens twice in Paris: 00:00–01:00 UTC (summer time),
    # then 01:00–02:00 UTC (winter time). An interval 02:00–02:30 is open in both.
    night = [Interval(6, time(2), time(2, 30))]
    assert opened(utc(2030, 10, 27, 0, 15), night)
    assert not opened(utc(2030, 10, 27, 0, 45), night)
    assert opened(utc(2030, 10, 27, 1, 15), night)
    assert following(utc(2030, 10, 26, 12, 0), night) == utc(2030, 10, 27, 0, 0)
    assert following(utc(2030, 10, 27, 0, 45), night) == utc(2030, 10, 27, 1, 0)
    # Given as a Paris time on its second pass (fold=1), the instant is read correctly.
    second_pass = datetime(2030, 10, 27, 2, 45, fold=1, tzinfo=ZoneInfo(PARIS))
    assert following(second_pass, night) == utc(2030, 11, 3, 1, 0)


def test_dst_in_another_hemisphere() -> None:
    # Sydney leaves summer time on Sunday 2030-04-07: 09:00 is 22:00 UTC the day before
    # (UTC+11) and 23:00 UTC from then on (UTC+10).
    sydney = "Australia/Sydney"
    assert following(utc(2030, 4, 5, 12, 0), WEEKDAYS, sydney) == utc(2030, 4, 7, 23, 0)
    assert opened(utc(2030, 4, 3, 22, 30), WEEKDAYS, sydney)  # Thursday 09:30 AEDT


def test_holidays_close_the_whole_local_day() -> None:
    christmas = date(2030, 12, 25)  # a Wednesday
    assert not opened(utc(2030, 12, 25, 10, 0), WEEKDAYS, holidays=[christmas])
    assert following(utc(2030, 12, 25, 10, 0), WEEKDAYS, holidays=[christmas]) == utc(
        2030, 12, 26, 8, 0
    )
    # The holiday is a Paris day: 23:30 UTC on the 24th is already the 25th there.
    evening = [Interval(1, time(0), time(0))]
    assert not opened(utc(2030, 12, 24, 23, 30), evening, holidays=[christmas])
    assert opened(utc(2030, 12, 24, 22, 30), evening, holidays=[christmas])
    # Holidays back to back push the opening past all of them.
    bridge = [date(2030, 12, 26), date(2030, 12, 27)]
    assert following(utc(2030, 12, 25, 18, 0), WEEKDAYS, holidays=[christmas, *bridge]) == utc(
        2030, 12, 30, 8, 0
    )


def test_several_intervals_a_day_and_midnight() -> None:
    split = [Interval(0, time(9), time(12)), Interval(0, time(14), time(18))]
    assert opened(utc(2030, 1, 7, 10, 0), split, "UTC")
    assert not opened(utc(2030, 1, 7, 13, 0), split, "UTC")
    assert following(utc(2030, 1, 7, 13, 0), split, "UTC") == utc(2030, 1, 7, 14, 0)
    assert following(utc(2030, 1, 7, 19, 0), split, "UTC") == utc(2030, 1, 14, 9, 0)
    # 00:00 as a closing time is the end of the day; all week round the clock never closes.
    always = [Interval(d, time(0), time(0)) for d in range(7)]
    start = utc(2030, 3, 30, 0, 0)
    for hour in range(0, 24 * 3):
        assert opened(start + timedelta(hours=hour), always)
    evening = [Interval(4, time(20), time(0))]
    assert opened(utc(2030, 1, 11, 22, 59), evening)  # Friday 23:59 in Paris
    assert not opened(utc(2030, 1, 11, 23, 0), evening)  # Saturday 00:00


def test_already_open_and_never_open() -> None:
    at = utc(2030, 1, 7, 10, 0)
    found = next_opening(at, timezone=PARIS, hours=WEEKDAYS, holidays=[])
    assert found == at and found is not None and found.tzinfo == ZoneInfo(PARIS)
    assert following(at, []) is None
    # Every day of the coming year a holiday: no opening within the horizon.
    every_day = [date(2030, 1, 7) + timedelta(days=n) for n in range(400)]
    assert following(utc(2030, 1, 6, 12, 0), WEEKDAYS, holidays=every_day) is None


def test_bad_instants_and_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        is_open(datetime(2030, 1, 7, 9, 0), timezone=PARIS, hours=WEEKDAYS, holidays=[])
    with pytest.raises(ValueError, match="Unknown time zone"):
        is_open(utc(2030, 1, 7, 9, 0), timezone="Mars/Olympus", hours=WEEKDAYS, holidays=[])
    with pytest.raises(ValueError, match="Unknown time zone"):
        next_opening(utc(2030, 1, 7, 9, 0), timezone="../etc/passwd", hours=[], holidays=[])


def test_validation() -> None:
    assert validate(WEEKDAYS) is None
    assert validate([Interval(0, time(20), time(0))]) is None  # until midnight
    assert validate([Interval(0, time(9), time(12)), Interval(0, time(12), time(14))]) is None
    assert "close after it opens" in (validate([Interval(0, time(18), time(9))]) or "")
    assert "close after it opens" in (validate([Interval(0, time(9), time(9))]) or "")
    assert "overlap" in (
        validate([Interval(0, time(9), time(12)), Interval(0, time(11), time(13))]) or ""
    )
    assert "overlap" in (
        validate([Interval(0, time(20), time(0)), Interval(0, time(21), time(22))]) or ""
    )
    assert validate([Interval(7, time(9), time(10))]) is not None
    assert validate([Interval(0, time(h), time(h, 30)) for h in range(13)]) is not None
    aware = time(9, tzinfo=UTC)
    assert validate([Interval(0, aware, time(10))]) is not None
