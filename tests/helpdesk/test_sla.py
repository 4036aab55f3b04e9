"""SLA metrics from a case's history at fixed instants: business hours, pauses while
pending, next-response clocks, at-risk and breach."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from plateaux.helpdesk.business_time import Calendar
from plateaux.helpdesk.sla import History, Targets, evaluate, next_check
from plateaux.tenants.hours import Interval

PARIS = ZoneInfo("Europe/Paris")
OFFICE = Calendar("Europe/Paris", tuple(Interval(d, time(9), time(18)) for d in range(5)))
HOUR = 3600


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=PARIS)  # 10 = Monday


def test_first_response_counts_business_hours_and_stops_at_the_reply() -> None:
    # Written Friday 17:30; the target is 1 business hour: due Monday 09:30.
    history = History(created_at=at(14, 17, 30), statuses=[(at(14, 17, 30), "new")],
                      customer=[at(14, 17, 30)])
    targets = Targets(first_response=HOUR, at_risk_percent=50)
    state = evaluate(targets, OFFICE, history, at(15, 12))["first_response"]
    assert state.state == "at_risk"  # 30 minutes of Friday passed: half the target
    assert state.due_at == at(17, 9, 30)
    assert state.at_risk_at == at(14, 18)
    assert next_check({"first_response": state}, at(15, 12)) == at(17, 9, 30)
    late = evaluate(targets, OFFICE, history, at(17, 9, 45))["first_response"]
    assert late.state == "breached" and late.breached
    answered = History(created_at=history.created_at, statuses=history.statuses,
                       customer=history.customer, agent=[at(17, 9, 10)])
    met = evaluate(targets, OFFICE, answered, at(17, 11))["first_response"]
    assert met.state == "met" and not met.breached
    assert met.met_at == at(17, 9, 10) and met.elapsed_seconds == 40 * 60


def test_resolution_pauses_while_pending_and_resumes_when_reopened() -> None:
    history = History(created_at=at(10, 9), statuses=[
        (at(10, 9), "new"), (at(10, 10), "open"), (at(10, 12), "pending"),
        (at(12, 9), "open")])
    targets = Targets(resolution=8 * HOUR)
    # Monday 09-12 ran (3 h); pending until Wednesday 09:00; then 09-11 (2 h): 5 h.
    state = evaluate(targets, OFFICE, history, at(12, 11))["resolution"]
    assert state.elapsed_seconds == 5 * HOUR
    assert state.state == "running"
    assert state.due_at == at(12, 14)  # 3 h left from 11:00
    paused = History(created_at=history.created_at, statuses=list(history.statuses[:3]))
    assert evaluate(targets, OFFICE, paused, at(12, 11))["resolution"].state == "paused"
    assert evaluate(targets, OFFICE, paused, at(12, 11))["resolution"].due_at is None
    solved = History(created_at=history.created_at,
                     statuses=[*history.statuses, (at(12, 11, 30), "solved")])
    done = evaluate(targets, OFFICE, solved, at(13, 9))["resolution"]
    assert done.state == "met" and done.met_at == at(12, 11, 30)
    assert done.elapsed_seconds == 5.5 * HOUR


def test_a_breach_that_happened_while_running_stays_a_breach() -> None:
    history = History(created_at=at(10, 9), statuses=[(at(10, 9), "open"),
                                                      (at(11, 17), "solved")])
    state = evaluate(Targets(resolution=8 * HOUR), OFFICE, history, at(12, 9))["resolution"]
    assert state.breached and state.state == "breached"
    assert state.due_at == at(10, 17)  # the eighth hour ended on Monday at 17:00
    assert state.elapsed_seconds == 17 * HOUR


def test_next_response_clocks_start_at_each_unanswered_customer_message() -> None:
    history = History(created_at=at(10, 9), statuses=[(at(10, 9), "open")],
                      customer=[at(10, 9), at(10, 11), at(10, 11, 5), at(10, 15)],
                      agent=[at(10, 9, 20), at(10, 14)])
    targets = Targets(first_response=HOUR, next_response=2 * HOUR)
    states = evaluate(targets, OFFICE, history, at(10, 16))
    assert states["first_response"].state == "met"
    # 11:00 -> 14:00 ran over (3 h > 2 h); the clock from 15:00 is running.
    current = states["next_response"]
    assert current.started_at == at(10, 15)
    assert current.state == "running" and current.breached
    assert current.due_at == at(10, 17)


def test_nothing_owed_before_the_first_reply() -> None:
    history = History(created_at=at(10, 9), statuses=[(at(10, 9), "new")],
                      customer=[at(10, 9), at(10, 9, 5)])
    states = evaluate(Targets(next_response=HOUR), OFFICE, history, at(10, 12))
    assert states["next_response"].state == "waiting"
    assert next_check(states, at(10, 12)) is None


def test_a_case_solved_without_a_reply_stops_its_first_response_clock() -> None:
    history = History(created_at=at(10, 9), statuses=[(at(10, 9), "new"),
                                                      (at(10, 9, 30), "solved")],
                      customer=[at(10, 9)])
    state = evaluate(Targets(first_response=HOUR), OFFICE, history, at(11, 9))["first_response"]
    assert state.state == "stopped" and not state.breached
    assert state.elapsed_seconds == 30 * 60
