"""Where the help desk plugs into the CRM: cases and their notable events on the person's
timeline, completed call scripts there too, cases following a merge, erased and exported
with the person, and the case rules run on every new contact. Imported once by the app
and the worker (``tasks.py``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.crm import events as crm_events
from plateaux.crm import privacy, timeline
from plateaux.crm import service as crm_service
from plateaux.crm.schemas import TimelineItemOut
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk import rules
from plateaux.helpdesk.events import case_data
from plateaux.helpdesk.models import (
    Case,
    CaseEvent,
    Escalation,
    Notification,
    Review,
    ScriptRun,
)
from plateaux.helpdesk.schemas import CaseEventOut, RunOut
from plateaux.helpdesk.sla import METRIC_LABELS

TIMELINE_KINDS = ("escalated", "sla_breached", "solved", "closed", "reopened", "satisfaction")


def _snippet(text: str, size: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size - 1] + "…"


def _event_title(event: CaseEvent, case: Case) -> str:
    data = event.data or {}
    label = f"Case #{case.number}"
    if event.kind == "escalated":
        team = f", team {data['to_team']}" if data.get("to_team") else ""
        return f"{label} escalated to level {data.get('to_level', case.level)}{team}"
    if event.kind == "sla_breached":
        return f"{label}: {METRIC_LABELS.get(str(data.get('metric')), 'SLA')} target missed"
    if event.kind == "satisfaction":
        return f"{label} rated {data.get('score')}/5"
    return f"{label} {event.kind}"


async def cases_source(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID,
                       limit: int) -> list[TimelineItemOut]:
    # A case stands where its first contact stands (just after it: the merge keeps the
    # sources' order for equal times) and names that contact, so the history reads
    # "the chat, then its case", and a contact's own case is not news in its screen pop.
    found = await repo.cases_of_person(session, tenant_id, person_id, limit=limit)
    origins = await repo.first_contacts(session, tenant_id, [c.id for c in found])
    items = []
    for case in found:
        origin = origins.get(case.id)
        items.append(TimelineItemOut(
            at=min(case.created_at, origin[1]) if origin else case.created_at, kind="case",
            title=f"Case #{case.number}: {case.subject}", summary=_snippet(case.description),
            status=case.status, contact_id=origin[0] if origin else None,
            ref={"case_id": str(case.id), "number": case.number, "priority": case.priority,
                 "level": case.level, "origin": case.channel}))
    for event, case in await repo.person_case_events(session, tenant_id, person_id,
                                                     TIMELINE_KINDS, limit=limit):
        data = event.data or {}
        summary = event.body or (case.resolution_code or "" if event.kind == "solved" else "")
        items.append(TimelineItemOut(
            at=event.created_at, kind="case_event", title=_event_title(event, case),
            summary=_snippet(summary), status=event.kind,
            ref={"case_id": str(case.id), "number": case.number, "event": event.kind,
                 **({"metric": data["metric"]} if data.get("metric") else {})}))
    return items


async def scripts_source(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID,
                         limit: int) -> list[TimelineItemOut]:
    runs = (await session.scalars(select(ScriptRun).where(
        col(ScriptRun.tenant_id) == tenant_id, col(ScriptRun.person_id) == person_id)
        .order_by(col(ScriptRun.started_at).desc()).limit(limit))).all()
    items = []
    for run in runs:
        questions = {s["id"]: s for s in run.steps or []}
        answers = [f"{questions.get(k, {}).get('text', k)[:60]}: {v}"
                   for k, v in (run.answers or {}).items() if v not in (None, "")]
        items.append(TimelineItemOut(
            at=run.completed_at or run.started_at, kind="script",
            title=f"Script: {run.script_name}", summary=_snippet("; ".join(answers), 300),
            status=run.status, contact_id=run.contact_id,
            ref={"run_id": str(run.id), "case_id": str(run.case_id) if run.case_id else None}))
    return items


async def follow_merge(session: AsyncSession, tenant_id: uuid.UUID, kept_id: uuid.UUID,
                       duplicate_id: uuid.UUID) -> None:
    for model in (Case, ScriptRun):
        await session.execute(update(model).where(
            col(model.tenant_id) == tenant_id, col(model.person_id) == duplicate_id)
            .values(person_id=kept_id))


async def erase_cases(session: AsyncSession, tenant_id: uuid.UUID, person_id: uuid.UUID,
                      erased_values: list[str]) -> int:
    """The person's cases keep their numbers, times and figures (reporting), nothing of
    what was said: subjects, descriptions, notes, answers and comments are emptied."""
    found = await repo.cases_of_person(session, tenant_id, person_id, limit=100_000)
    ids = [c.id for c in found]
    if ids:
        await session.execute(update(Case).where(
            col(Case.tenant_id) == tenant_id, col(Case.id).in_(ids)).values(
            subject="[erased]", description="", resolution_note="", csat_comment=None))
        await session.execute(update(CaseEvent).where(
            col(CaseEvent.tenant_id) == tenant_id, col(CaseEvent.case_id).in_(ids)).values(
            body="", data={}))
        await session.execute(update(Escalation).where(
            col(Escalation.tenant_id) == tenant_id, col(Escalation.case_id).in_(ids)).values(
            note=""))
        await session.execute(update(Review).where(
            col(Review.tenant_id) == tenant_id, col(Review.case_id).in_(ids)).values(
            comment=""))
        await session.execute(update(Notification).where(
            col(Notification.tenant_id) == tenant_id, col(Notification.case_id).in_(ids))
            .values(body=""))
    await session.execute(update(ScriptRun).where(
        col(ScriptRun.tenant_id) == tenant_id,
        (col(ScriptRun.person_id) == person_id) | col(ScriptRun.case_id).in_(ids)).values(
        answers={}))
    return len(ids)


async def export_cases(session: AsyncSession, tenant_id: uuid.UUID,
                       person_id: uuid.UUID) -> dict[str, Any]:
    cases = []
    for case in await repo.cases_of_person(session, tenant_id, person_id, limit=100_000):
        cases.append({
            **case_data(case),
            "events": [CaseEventOut.model_validate(e).model_dump(mode="json")
                       for e in await repo.events_of(session, tenant_id, case.id)],
            "script_runs": [RunOut.model_validate(r).model_dump(mode="json")
                            for r in await repo.runs_of(session, tenant_id, case_id=case.id)],
        })
    return {"cases": cases}


def install() -> None:
    """Register every hook once (the module is imported once; a second call is a no-op)."""
    if cases_source in timeline.SOURCES:
        return
    timeline.register_source(cases_source)
    timeline.register_source(scripts_source)
    crm_service.register_merge_hook(follow_merge)
    privacy.register_erase_hook(erase_cases)
    privacy.register_export_hook(export_cases)
    crm_events.listen("contact.created", rules.on_contact_created)


install()
