"""Business hours: is the tenant open at a given instant, and when does it open next.

Opening intervals are wall-clock times in the tenant's time zone, so 09:00 stays 09:00
across daylight-saving changes. An instant is open when its local wall-clock time falls in
one of the intervals of its local weekday and its local date is not a holiday. Two
consequences of that definition, both handled here:

- an opening time that does not exist on a spring-forward day (02:30 in Paris on the last
  Sunday of March) opens at the instant the clocks jump;
- a wall-clock time that happens twice on a fall-back day opens twice.

A closing time of 00:00 means midnight at the end of the day, so a day can be open to its
very end (00:00–00:00 is open all day).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIDNIGHT = time(0)
MAX_INTERVALS_PER_DAY = 12
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Interval:
    """Open from ``opens`` (included) to ``closes`` (excluded) on ``weekday`` (0 = Monday)."""

    weekday: int
    opens: time
    closes: time

    @property
    def until_midnight(self) -> bool:
        return self.closes == MIDNIGHT

    def contains(self, wall: time) -> bool:
        return self.opens <= wall and (self.until_midnight or wall < self.closes)


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError when it is not one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        # ZoneInfoNotFoundError is a KeyError; callers expect a plain ValueError.
        raise ValueError(f"Unknown time zone '{name}'.") from exc


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive instant would silently be read in the server's own zone.
        raise ValueError("The instant must carry its time zone.")
    return at.astimezone(UTC)


def is_open(
    at: datetime, *, timezone: str, hours: Iterable[Interval], holidays: Iterable[date]
) -> bool:
    local = _utc(at).astimezone(zone_of(timezone))
    if local.date() in set(holidays):
        return False
    wall = local.time()
    weekday = local.weekday()
    return any(i.weekday == weekday and i.contains(wall) for i in hours)


def next_opening(
    at: datetime,
    *,
    timezone: str,
    hours: Iterable[Interval],
    holidays: Iterable[date],
    horizon_days: int = 366,
) -> datetime | None:
    """The first instant at or after ``at`` when the tenant is open, in the tenant's zone:
    ``at`` itself when already open; None when nothing opens within ``horizon_days``."""
    zone = zone_of(timezone)
    schedule = list(hours)
    closed = set(holidays)
    now = _utc(at)
    if is_open(now, timezone=timezone, hours=schedule, holidays=closed):
        return now.astimezone(zone)
    first_day = now.astimezone(zone).date()
    for offset in range(horizon_days + 1):
        day = first_day + timedelta(days=offset)
        todays = [i for i in schedule if i.weekday == day.weekday()]
        if day in closed or not todays:
            continue
        # Openness only changes when the wall clock reaches an opening time or jumps (a
        # DST change), so the earliest open candidate after `now` is the next opening.
        for candidate in sorted(c for c in _candidates(day, todays, zone) if c > now):
            if is_open(candidate, timezone=timezone, hours=schedule, holidays=closed):
                return candidate.astimezone(zone)
    return None


def _candidates(day: date, intervals: Sequence[Interval], zone: ZoneInfo) -> set[datetime]:
    """The UTC instants of ``day`` at which the tenant may start being open."""
    found: set[datetime] = set()
    for interval in intervals:
        for fold in (0, 1):  # both occurrences of a wall time repeated by a fall-back
            local = datetime.combine(day, interval.opens, tzinfo=zone).replace(fold=fold)
            found.add(local.astimezone(UTC))
    found.update(_transitions(day, zone))
    return found


def _transitions(day: date, zone: ZoneInfo) -> Iterator[datetime]:
    """The instants of ``day`` (local) at which the zone's UTC offset changes."""
    start = int(datetime.combine(day, MIDNIGHT, tzinfo=zone).timestamp())
    end = int(datetime.combine(day + timedelta(days=1), MIDNIGHT, tzinfo=zone).timestamp())
    while start < end and _offset(start, zone) != _offset(end, zone):
        low, high = start, end  # the offset at `low` differs from the one at `high`
        while high - low > 1:
            middle = (low + high) // 2
            if _offset(middle, zone) == _offset(low, zone):
                low = middle
            else:
                high = middle
        yield datetime.fromtimestamp(high, UTC)
        start = high


def _offset(timestamp: int, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


def validate(intervals: Iterable[Interval]) -> str | None:
    """Why a weekly schedule is refused, or None when it is acceptable."""
    by_day: dict[int, list[Interval]] = {}
    for interval in intervals:
        if not 0 <= interval.weekday <= 6:
            return "Weekdays go from 0 (Monday) to 6 (Sunday)."
        if interval.opens.tzinfo is not None or interval.closes.tzinfo is not None:
            return "Opening hours are local times, without a time zone."
        day = WEEKDAY_NAMES[interval.weekday]
        if not interval.until_midnight and interval.closes <= interval.opens:
            return f"{day}: each interval must close after it opens ({_hhmm(interval)})."
        by_day.setdefault(interval.weekday, []).append(interval)
    for weekday, day_intervals in by_day.items():
        day = WEEKDAY_NAMES[weekday]
        if len(day_intervals) > MAX_INTERVALS_PER_DAY:
            return f"{day}: at most {MAX_INTERVALS_PER_DAY} intervals a day."
        day_intervals.sort(key=lambda i: i.opens)
        for before, after in pairwise(day_intervals):
            if before.until_midnight or after.opens < before.closes:
                return f"{day}: intervals must not overlap ({_hhmm(before)}, {_hhmm(after)})."
    return None


def _hhmm(interval: Interval) -> str:
    return f"{interval.opens:%H:%M}–{interval.closes:%H:%M}"
