"""SLA arithmetic, pure: given a case's history and a policy's targets, where each metric
stands at ``now``.

- **First response**: from the customer's first message (or the case's creation, if
  earlier) to the first agent reply.
- **Next response**: after that, each time the customer writes while no reply is owed,
  a clock starts at their message and stops at the next agent reply; the current clock is
  the one that matters, and any clock that ran over counts as a breach.
- **Resolution**: runs while the case is new or open; it pauses while the case is pending
  (waiting for the customer) and stops when it is solved. A reopened case continues from
  where it stopped.

Times are counted in the tenant's business hours (:mod:`.business_time`) when the policy
says so, else in calendar time. A metric is *at risk* once the policy's share of its
target has passed without it being met, and *breached* once the whole target has.
Nothing here reads a clock: ``now`` is an argument, so tests pass fixed instants.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from plateaux.helpdesk.business_time import (
    Calendar,
    Window,
    add_business_seconds,
    business_seconds,
)

METRICS = ("first_response", "next_response", "resolution")
METRIC_LABELS = {"first_response": "First response", "next_response": "Next response",
                 "resolution": "Resolution"}
RUNNING_STATUSES = frozenset({"new", "open"})
DONE_STATUSES = frozenset({"solved", "closed"})


@dataclass(frozen=True)
class Targets:
    first_response: int | None = None  # seconds
    next_response: int | None = None
    resolution: int | None = None
    at_risk_percent: int = 75

    def of(self, metric: str) -> int | None:
        value: int | None = getattr(self, metric)
        return value


@dataclass(frozen=True)
class History:
    created_at: datetime
    # [(instant, status)], oldest first; the first entry is the case's creation.
    statuses: Sequence[tuple[datetime, str]]
    # When the customer wrote (or called) and when an agent answered them, oldest first.
    customer: Sequence[datetime] = ()
    agent: Sequence[datetime] = ()

    @property
    def status(self) -> str:
        return self.statuses[-1][1] if self.statuses else "new"

    @property
    def done_at(self) -> datetime | None:
        """When the case was last solved or closed, if it is now."""
        if self.status not in DONE_STATUSES:
            return None
        at = None
        for when, status in reversed(self.statuses):
            if status not in DONE_STATUSES:
                break
            at = when
        return at


@dataclass
class MetricState:
    metric: str
    target_seconds: int
    state: str  # running | at_risk | paused | met | breached | stopped | waiting
    elapsed_seconds: float
    started_at: datetime | None = None
    due_at: datetime | None = None
    at_risk_at: datetime | None = None
    met_at: datetime | None = None
    # This metric ran over at some point (now or in an earlier next-response clock).
    breached: bool = False
    # Identifies the clock (its start), so an alert is announced once per clock.
    clock: str | None = None

    @property
    def open(self) -> bool:
        """Still counting towards a target that is not met."""
        return self.state in ("running", "at_risk", "breached") and self.met_at is None

    def to_json(self) -> dict[str, Any]:
        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at else None

        return {"metric": self.metric, "target_seconds": self.target_seconds,
                "state": self.state, "elapsed_seconds": round(self.elapsed_seconds, 1),
                "started_at": iso(self.started_at), "due_at": iso(self.due_at),
                "at_risk_at": iso(self.at_risk_at), "met_at": iso(self.met_at),
                "breached": self.breached, "clock": self.clock}


def _state(elapsed: float, target: int, risk: float, *, met: bool, paused: bool = False
           ) -> str:
    if elapsed > target:
        return "breached"
    if met:
        return "met"
    if paused:
        return "paused"
    return "at_risk" if elapsed >= risk else "running"


def _first_response(calendar: Calendar, target: int, risk: float, history: History,
                    now: datetime) -> MetricState:
    start = min([history.created_at, *history.customer[:1]])
    met_at = next((a for a in history.agent if a >= start), None)
    stop = met_at or history.done_at or now
    elapsed = business_seconds(calendar, start, stop)
    state = _state(elapsed, target, risk, met=met_at is not None)
    if met_at is None and history.done_at is not None and state != "breached":
        state = "stopped"
    return MetricState(
        metric="first_response", target_seconds=target, state=state, elapsed_seconds=elapsed,
        started_at=start, met_at=met_at, breached=elapsed > target, clock=start.isoformat(),
        due_at=add_business_seconds(calendar, start, target),
        at_risk_at=add_business_seconds(calendar, start, risk))


def _response_clocks(history: History) -> list[tuple[datetime, datetime | None]]:
    """The next-response clocks: (customer's message, the reply that answered it)."""
    if not history.agent or not history.customer:
        return []
    first_reply = next((a for a in history.agent
                        if a >= min(history.created_at, history.customer[0])), None)
    if first_reply is None:
        return []
    events = sorted([(at, "customer") for at in history.customer if at > first_reply]
                    + [(at, "agent") for at in history.agent if at > first_reply])
    clocks: list[tuple[datetime, datetime | None]] = []
    started: datetime | None = None
    for at, who in events:
        if who == "customer" and started is None:
            started = at
        elif who == "agent" and started is not None:
            clocks.append((started, at))
            started = None
    if started is not None:
        clocks.append((started, None))
    return clocks


def _next_response(calendar: Calendar, target: int, risk: float, history: History,
                   now: datetime) -> MetricState:
    clocks = _response_clocks(history)
    if not clocks:
        return MetricState(metric="next_response", target_seconds=target, state="waiting",
                           elapsed_seconds=0.0)
    breached_before = False
    for start, reply in clocks[:-1]:
        assert reply is not None
        breached_before = breached_before or business_seconds(calendar, start, reply) > target
    start, reply = clocks[-1]
    stop = reply or history.done_at or now
    elapsed = business_seconds(calendar, start, stop)
    state = _state(elapsed, target, risk, met=reply is not None)
    if reply is None and history.done_at is not None and state != "breached":
        state = "stopped"
    return MetricState(
        metric="next_response", target_seconds=target, state=state, elapsed_seconds=elapsed,
        started_at=start, met_at=reply, breached=breached_before or elapsed > target,
        clock=start.isoformat(), due_at=add_business_seconds(calendar, start, target),
        at_risk_at=add_business_seconds(calendar, start, risk))


def running_periods(history: History, now: datetime) -> list[Window]:
    """The periods the resolution clock ran: new or open, up to ``now``."""
    periods: list[Window] = []
    statuses = list(history.statuses) or [(history.created_at, "new")]
    for index, (at, status) in enumerate(statuses):
        end = statuses[index + 1][0] if index + 1 < len(statuses) else now
        if status in RUNNING_STATUSES and end > at:
            periods.append((at, end))
    return periods


def _reached(calendar: Calendar, periods: list[Window], amount: float, *,
             running: bool) -> datetime | None:
    """When the clock that ran in ``periods`` reaches ``amount``: inside a past period,
    or (running) in the future of the last one; None when it has not and is paused."""
    spent = 0.0
    for index, (begin, end) in enumerate(periods):
        length = business_seconds(calendar, begin, end)
        last = index == len(periods) - 1
        if spent + length >= amount or (last and running):
            return add_business_seconds(calendar, begin, amount - spent)
        spent += length
    return None


def _resolution(calendar: Calendar, target: int, risk: float, history: History,
                now: datetime) -> MetricState:
    periods = running_periods(history, now)
    elapsed = sum(business_seconds(calendar, a, b) for a, b in periods)
    status = history.status
    running = status in RUNNING_STATUSES
    met_at = history.done_at
    state = _state(elapsed, target, risk, met=met_at is not None,
                   paused=status not in RUNNING_STATUSES and met_at is None)
    if not periods and running:
        periods = [(now, now)]
    return MetricState(
        metric="resolution", target_seconds=target, state=state, elapsed_seconds=elapsed,
        started_at=history.created_at, met_at=met_at, breached=elapsed > target,
        clock=history.created_at.isoformat(),
        due_at=_reached(calendar, periods, target, running=running),
        at_risk_at=_reached(calendar, periods, risk, running=running))


def evaluate(targets: Targets, calendar: Calendar, history: History,
             now: datetime) -> dict[str, MetricState]:
    """Each metric the policy has a target for, as it stands at ``now``."""
    found: dict[str, MetricState] = {}
    for metric, compute in (("first_response", _first_response),
                            ("next_response", _next_response),
                            ("resolution", _resolution)):
        target = targets.of(metric)
        if target is None or target <= 0:
            continue
        risk = target * min(max(targets.at_risk_percent, 1), 100) / 100
        found[metric] = compute(calendar, target, risk, history, now)
    return found


def next_check(states: dict[str, MetricState], now: datetime) -> datetime | None:
    """The next instant a metric changes by time alone (reaches at-risk or due)."""
    upcoming = []
    for state in states.values():
        if not state.open:
            continue
        for at in (state.at_risk_at, state.due_at):
            if at is not None and at > now:
                upcoming.append(at)
    return min(upcoming, default=None)
