"""Business hours: is the tenant open at a given instant, and when does it open next.

Opening intervals are wall-clock times in the tenant's time zone, so 09:00 stays 09:00
across daylight-saving changes; holidays close the whole local day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Interval:
    weekday: int  # 0 = Monday
    opens: time
    closes: time


def is_open(at: datetime, *, timezone: str, hours: Iterable[Interval],
            holidays: Iterable[date]) -> bool:
    local = at.astimezone(ZoneInfo(timezone))
    if local.date() in set(holidays):
        return False
    now = local.time()
    return any(i.weekday == local.weekday() and i.opens <= now < i.closes for i in hours)


def next_opening(at: datetime, *, timezone: str, hours: Iterable[Interval],
                 holidays: Iterable[date], horizon_days: int = 366) -> datetime | None:
    """The next instant (aware, in the tenant's zone) the tenant opens after ``at``;
    ``at`` itself when already open; None when no opening exists within the horizon."""
    zone = ZoneInfo(timezone)
    intervals = sorted(hours, key=lambda i: (i.weekday, i.opens))
    closed_days = set(holidays)
    if is_open(at, timezone=timezone, hours=intervals, holidays=closed_days):
        return at.astimezone(zone)
    local = at.astimezone(zone)
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        if day in closed_days:
            continue
        for interval in intervals:
            if interval.weekday != day.weekday():
                continue
            start = datetime.combine(day, interval.opens, tzinfo=zone)
            if start > local:
                return start
    return None


def validate(intervals: Iterable[Interval]) -> str | None:
    """Why a weekly schedule is refused, or None when it is acceptable."""
    by_day: dict[int, list[Interval]] = {}
    for interval in intervals:
        if not 0 <= interval.weekday <= 6:
            return "Weekdays go from 0 (Monday) to 6 (Sunday)."
        if interval.closes <= interval.opens:
            return "Each interval must close after it opens."
        by_day.setdefault(interval.weekday, []).append(interval)
    for day in by_day.values():
        day.sort(key=lambda i: i.opens)
        for before, after in pairwise(day):
            if after.opens < before.closes:
                return "Intervals of the same day must not overlap."
    return None
