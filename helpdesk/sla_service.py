"""SLA policies applied to cases: the policy a case falls under, its metrics kept on the
case, and what happens when one is at risk or breached (escalation, notifications, the
``case.sla_breached`` webhook, the timeline).

A case is looked at again whenever it changes and by the sweep (``tasks.py``) once its
next at-risk or due instant has come, and at least every few minutes while it is active:
a customer's new message starts a next-response clock without the case changing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.helpdesk import escalation, events, history, notify
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import ACTIVE_STATUSES, Case, SlaPolicy
from plateaux.helpdesk.settings import helpdesk_settings
from plateaux.helpdesk.sla import METRIC_LABELS, MetricState, Targets, evaluate, next_check
from plateaux.platform.database import savepoint
from plateaux.platform.types import utcnow


def matches(policy: SlaPolicy, case: Case) -> bool:
    return (policy.active
            and (not policy.priorities or case.priority in policy.priorities)
            and (not policy.categories or case.category in policy.categories)
            and (not policy.channels or case.channel in policy.channels))


async def apply_policy(session: AsyncSession, case: Case) -> SlaPolicy | None:
    """The first active policy (by position) whose conditions hold becomes the case's."""
    found = next((p for p in await repo.sla_policies(session, case.tenant_id,
                                                     active_only=True) if matches(p, case)),
                 None)
    new_id = found.id if found is not None else None
    if new_id != case.sla_policy_id:
        case.sla_policy_id = new_id
        # Another policy's alerts say nothing about this one's.
        case.sla = {}
        session.add(case)
    return found


def targets_of(policy: SlaPolicy) -> Targets:
    def seconds(minutes: int | None) -> int | None:
        return None if minutes is None else minutes * 60

    return Targets(first_response=seconds(policy.first_response_minutes),
                   next_response=seconds(policy.next_response_minutes),
                   resolution=seconds(policy.resolution_minutes),
                   at_risk_percent=policy.at_risk_percent)


async def refresh(session: AsyncSession, case: Case, *, now: datetime | None = None,
                  announce: bool = True) -> dict[str, MetricState]:
    """Evaluate the case's metrics at ``now``; alert what newly went at risk or over."""
    now = now or utcnow()
    policy = (await repo.get_owned(session, SlaPolicy, case.tenant_id, case.sla_policy_id,
                                   "SLA policy") if case.sla_policy_id else None)
    found = await history.history_of(session, case)
    if case.first_response_at is None:
        start = min([case.created_at, *found.customer[:1]])
        case.first_response_at = next((a for a in found.agent if a >= start), None)
    if policy is None:
        case.sla, case.next_check_at = {}, None
        session.add(case)
        return {}
    calendar = await history.calendar_for(session, case.tenant_id, policy)
    states = evaluate(targets_of(policy), calendar, found, now)
    stored = dict(case.sla or {})
    alerts: list[tuple[str, MetricState]] = []
    kept: dict[str, object] = {}
    for metric, state in states.items():
        announced = dict((stored.get(metric) or {}).get("announced") or {})
        if announce and state.open and state.state == "at_risk" and announced.get(
                "at_risk") != state.clock:
            announced["at_risk"] = state.clock
            alerts.append(("at_risk", state))
        if announce and state.state == "breached" and announced.get("breached") != state.clock:
            announced["breached"] = state.clock
            alerts.append(("breached", state))
        kept[metric] = {**state.to_json(), "announced": announced}
        if state.breached:
            case.sla_breached = True
    case.sla = kept
    active = case.status in {s.value for s in ACTIVE_STATUSES}
    recheck = now + timedelta(seconds=helpdesk_settings().sla_recheck_seconds)
    upcoming = next_check(states, now)
    case.next_check_at = (min(upcoming, recheck) if upcoming else recheck) if active else None
    session.add(case)
    await session.flush()
    for kind, state in alerts:
        await _alert(session, case, policy, kind, state)
    return states


async def _alert(session: AsyncSession, case: Case, policy: SlaPolicy, kind: str,
                 state: MetricState) -> None:
    label = METRIC_LABELS[state.metric]
    due = state.due_at.isoformat(timespec="minutes") if state.due_at else "—"
    if kind == "at_risk":
        events.record(session, case, "sla_at_risk", actor_name="SLA", metric=state.metric,
                      due_at=state.due_at.isoformat() if state.due_at else None,
                      policy=policy.name)
        if policy.escalate_at_risk and state.open:
            await escalation.escalate(session, case, reason="sla_at_risk", metric=state.metric,
                                      to_team_id=policy.escalation_team_id,
                                      note=f"{label} due {due} ({policy.name})")
        else:
            await notify.notify(session, case, await notify.owner_and_supervisors(session, case),
                                kind="sla_at_risk",
                                title=f"Case #{case.number}: {label.lower()} at risk",
                                body=f"{case.subject}\nDue {due} ({policy.name}).")
            notify.announce_case(session, case, "sla_at_risk")
        return
    events.record(session, case, "sla_breached", actor_name="SLA", metric=state.metric,
                  due_at=state.due_at.isoformat() if state.due_at else None,
                  policy=policy.name)
    await events.emit(session, case, "case.sla_breached", sla={
        "metric": state.metric, "policy": policy.name, "target_seconds": state.target_seconds,
        "due_at": state.due_at.isoformat() if state.due_at else None})
    if not state.open:
        return  # met late: recorded and reported, nobody to chase any more
    if policy.escalate_on_breach:
        await escalation.escalate(session, case, reason="sla_breached", metric=state.metric,
                                  to_team_id=policy.escalation_team_id,
                                  note=f"{label} was due {due} ({policy.name})")
    else:
        await notify.notify(session, case, await notify.owner_and_supervisors(session, case),
                            kind="sla_breached",
                            title=f"Case #{case.number}: {label.lower()} breached",
                            body=f"{case.subject}\nIt was due {due} ({policy.name}).")
    notify.announce_case(session, case, "sla_breached")


async def sweep_tenant(session: AsyncSession, tenant_id: uuid.UUID, *,
                       now: datetime | None = None, limit: int = 500) -> int:
    """Look at the tenant's cases whose SLA must be checked again; how many were."""
    now = now or utcnow()
    cases = await repo.cases_to_check(session, tenant_id, now, limit=limit)
    for case in cases:
        async with savepoint(session):
            await refresh(session, case, now=now)
    return len(cases)
