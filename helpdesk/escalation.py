"""Escalation: a case goes to the next support level (1 to 4) or to another team, by an
agent's hand or by itself when an SLA is at risk or breached. The owner and the
supervisors are told; the case's owner is let go when they are not in the new team
(whoever takes it over there picks it up)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.helpdesk import events, notify
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import DONE_STATUSES, MAX_LEVEL, Case, Escalation
from plateaux.platform.errors import Conflict, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Team

REASONS = {"manual": "escalated", "sla_at_risk": "escalated (SLA at risk)",
           "sla_breached": "escalated (SLA breached)"}


async def escalate(session: AsyncSession, case: Case, *, reason: str,
                   to_level: int | None = None, to_team_id: uuid.UUID | None = None,
                   metric: str | None = None, note: str = "", actor_id: uuid.UUID | None = None,
                   actor_name: str = "") -> Escalation:
    if case.status in {s.value for s in DONE_STATUSES}:
        raise Conflict("A solved or closed case is not escalated; reopen it first.")
    if to_team_id is not None and to_team_id != case.team_id:
        team = await session.get(Team, to_team_id)
        if team is None or team.tenant_id != case.tenant_id:
            raise UnprocessableContent("The team is not one of this workspace.")
    if to_level is None:
        # One level up; a team move alone keeps the level unless asked otherwise.
        to_level = case.level if (to_team_id is not None and reason == "manual") else min(
            case.level + 1, MAX_LEVEL)
    if reason == "manual" and to_level < case.level:
        raise UnprocessableContent("Escalation goes up a level, not down.")
    target_team = to_team_id if to_team_id is not None else case.team_id
    if reason == "manual" and to_level == case.level and target_team == case.team_id:
        raise UnprocessableContent(
            "The case is already at this level and team." if case.level < MAX_LEVEL else
            "The case is at the top level: choose another team.")
    escalation = Escalation(tenant_id=case.tenant_id, case_id=case.id, from_level=case.level,
                            to_level=to_level, from_team_id=case.team_id,
                            to_team_id=target_team, reason=reason, metric=metric,
                            note=note.strip()[:2000], actor_id=actor_id,
                            actor_name=actor_name or "SLA")
    session.add(escalation)
    previous_owner = case.owner_id
    case.level = to_level
    if target_team != case.team_id:
        case.team_id = target_team
        if case.owner_id is not None and target_team is not None and not await repo.team_member(
                session, case.tenant_id, target_team, case.owner_id):
            case.owner_id = None
    case.escalations += 1
    if case.status == "new":
        case.status = "open"
        case.status_log = [*(case.status_log or []), [utcnow().isoformat(), "open"]]
    case.updated_at = utcnow()
    session.add(case)
    await session.flush()
    team_name = None
    if case.team_id is not None:
        team = await session.get(Team, case.team_id)
        team_name = team.name if team is not None else None
    where = f"level {case.level}" + (f", team {team_name}" if team_name else "")
    events.record(session, case, "escalated", actor_id=actor_id,
                  actor_name=escalation.actor_name, body=escalation.note, reason=reason,
                  metric=metric, from_level=escalation.from_level, to_level=case.level,
                  to_team=team_name)
    await events.emit(session, case, "case.escalated", escalation={
        "reason": reason, "metric": metric, "from_level": escalation.from_level,
        "to_level": case.level, "to_team_id": str(case.team_id) if case.team_id else None,
        "note": escalation.note})
    users = await notify.owner_and_supervisors(session, case)
    if previous_owner is not None and previous_owner != case.owner_id:
        users += await repo.users_by_ids(session, case.tenant_id, [previous_owner])
    await notify.notify(
        session, case, users, kind="escalated",
        title=f"Case #{case.number} {REASONS.get(reason, 'escalated')} to {where}",
        body=f"{case.subject}\n{escalation.note}".strip())
    notify.announce_case(session, case, "escalated")
    return escalation
