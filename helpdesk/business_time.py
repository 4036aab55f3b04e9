"""Time counted in business hours: how much open time lies between two instants, and when
a given amount of open time will have passed.

"Open" is exactly what :mod:`plateaux.tenants.hours` says: the local wall-clock time falls
in an opening interval of its local weekday and the local date is not a holiday. Within
one local day openness only changes where the wall clock reaches an opening or closing
time (both occurrences of a time repeated by a fall-back) or jumps (a DST change), so the
day is cut at those instants and each piece is open or closed as a whole; the pieces are
merged into open windows.

A calendar without opening hours counts calendar time (the tenant has not said when it
works, so every second counts).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from plateaux.tenants.hours import MIDNIGHT, Interval, _transitions, is_open, zone_of

# A target that no open time reaches within this many days is never due.
HORIZON_DAYS = 3 * 366
Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Calendar:
    timezone: str = "UTC"
    hours: tuple[Interval, ...] = ()
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def always_open(self) -> bool:
        return not self.hours

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone)


CALENDAR_TIME = Calendar()


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("The instant must carry its time zone.")
    return at.astimezone(UTC)


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    # Local midnight as an instant (fold 0). Consecutive days tile the timeline, which is
    # all the cutting below needs, even where midnight itself is skipped by a DST change.
    return datetime.combine(day, MIDNIGHT, tzinfo=zone).astimezone(UTC)


def _local(day: date, wall: time, zone: ZoneInfo, fold: int) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone).replace(fold=fold).astimezone(UTC)


@lru_cache(maxsize=8192)
def _day_windows(calendar: Calendar, day: date) -> tuple[Window, ...]:
    """The open windows of one local day, in order, as UTC instants. Kept: a sweep asks
    for the same tenant's same days over and over (the calendar is immutable and part of
    the key, so a change of hours is another entry)."""
    zone = calendar.zone
    start, end = _day_start(day, zone), _day_start(day + timedelta(days=1), zone)
    if day in calendar.holidays:
        return ()
    todays = [i for i in calendar.hours if i.weekday == day.weekday()]
    if not todays:
        return ()
    cuts = {start, end}
    for interval in todays:
        for fold in (0, 1):
            cuts.add(_local(day, interval.opens, zone, fold))
            if not interval.until_midnight:
                cuts.add(_local(day, interval.closes, zone, fold))
    cuts.update(_transitions(day, zone))
    points = sorted(c for c in cuts if start <= c <= end)
    windows: list[Window] = []
    for begin, finish in pairwise(points):
        if begin == finish or not is_open(begin, timezone=calendar.timezone,
                                          hours=calendar.hours, holidays=calendar.holidays):
            continue
        if windows and windows[-1][1] == begin:
            windows[-1] = (windows[-1][0], finish)
        else:
            windows.append((begin, finish))
    return tuple(windows)


def windows(calendar: Calendar, start: datetime, *,
            horizon_days: int = HORIZON_DAYS) -> Iterator[Window]:
    """Open windows from ``start`` on (the first one cut at ``start``), adjacent ones
    merged (a day open to midnight continues into the next); calendar time is one
    endless window."""
    start = _utc(start)
    if calendar.always_open:
        yield start, datetime.max.replace(tzinfo=UTC)
        return
    zone = calendar.zone
    first = start.astimezone(zone).date() - timedelta(days=1)
    pending: Window | None = None
    for offset in range(horizon_days + 2):
        for begin, finish in _day_windows(calendar, first + timedelta(days=offset)):
            if finish <= start:
                continue
            begin = max(begin, start)
            if pending is not None and pending[1] == begin:
                pending = (pending[0], finish)
                continue
            if pending is not None:
                yield pending
            pending = (begin, finish)
    if pending is not None:
        yield pending


def business_seconds(calendar: Calendar, start: datetime, end: datetime) -> float:
    """Open time between ``start`` and ``end`` (0 when ``end`` is not after ``start``)."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return 0.0
    if calendar.always_open:
        return (end - start).total_seconds()
    total = 0.0
    span_days = (end - start).days + 2
    for begin, finish in windows(calendar, start, horizon_days=span_days):
        if begin >= end:
            break
        total += (min(finish, end) - begin).total_seconds()
    return total


def business_seconds_in(calendar: Calendar, periods: Iterable[Window]) -> float:
    return sum(business_seconds(calendar, a, b) for a, b in periods)


def add_business_seconds(calendar: Calendar, start: datetime,
                         seconds: float) -> datetime | None:
    """The instant at which ``seconds`` of open time will have passed since ``start``;
    None when the calendar never opens long enough within the horizon."""
    start = _utc(start)
    left = max(0.0, seconds)
    if calendar.always_open:
        return start + timedelta(seconds=left)
    for begin, finish in windows(calendar, start):
        length = (finish - begin).total_seconds()
        if left <= length:
            # A target that is met exactly at a closing instant is due then, not at the
            # next opening.
            if left == 0:
                return begin
            return begin + timedelta(seconds=left)
        left -= length
    return None
