"""The Routing section of the tenant admin console: queues, workflows, agents' routing
profiles and away reasons, under ``/t/{slug}/admin/routing/``.

The pages share the admin console's plumbing (navigation, signed notices, refusals
re-rendered with their reason, each change in a savepoint) and go through the same
services as the API, so the same rules, audit entries and change events apply.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from plateaux.platform.deps import AdminConsole, ConsoleContext, DbSession
from plateaux.platform.errors import ProblemError, UnprocessableContent
from plateaux.routing import config_repository as repo
from plateaux.routing import config_service as svc
from plateaux.routing.config import capacity_from
from plateaux.routing.config_schemas import (
    AwayReasonIn,
    MembershipIn,
    ProfileIn,
    QueueIn,
    QueuePatch,
    WorkflowIn,
    WorkflowPatch,
)
from plateaux.routing.contact_service import DEFAULT_REASONS, SYSTEM_REASONS
from plateaux.routing.models import RoutingQueue, RoutingWorkflow
from plateaux.routing.state import Channel, Ordering, Strategy
from plateaux.routing.workflows import OverflowAction
from plateaux.tenants import admin_repository as tenant_repo
from plateaux.tenants import repository as people
from plateaux.tenants.console import ADMIN, REFUSED, _attempt, _back, _failure, _field, _page

router = APIRouter(include_in_schema=False)
ROUTING = ADMIN + "/routing"
TABS = [("queues", "Queues"), ("workflows", "Workflows"), ("profiles", "Agents"),
        ("away-reasons", "Away reasons")]
CHANNEL_LABELS = {
    Channel.PHONE: "Phone calls", Channel.WEBCALL: "Calls from the website",
    Channel.CALLBACK: "Callbacks", Channel.CHAT: "Chats", Channel.EMAIL: "Emails",
    Channel.FORM: "Forms",
}
OVERFLOW_LABELS = {
    OverflowAction.STAY_QUEUED: "stay in the queue",
    OverflowAction.OFFER_CALLBACK: "offer a callback",
    OverflowAction.TAKE_MESSAGE: "take a message",
    OverflowAction.TRANSFER_QUEUE: "transfer to another queue",
}


def _routing_page(request: Request, console: ConsoleContext, template: str, *, tab: str,
                  failure: BaseException | None = None, status_code: int = 200,
                  **context: Any) -> Response:
    return _page(request, console, f"routing/{template}", section="routing", failure=failure,
                 status_code=status_code, tab=tab, tabs=TABS, **context)


# --- form values -----------------------------------------------------------------------


def _number(form: FormData, name: str, label: str, *, default: float | None = None) -> float:
    raw = _field(form, name).replace(",", ".")
    if not raw and default is not None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise UnprocessableContent(f"{label}: give a number.") from exc


def _whole(form: FormData, name: str, label: str, *, default: int | None = None) -> int:
    raw = _field(form, name)
    if not raw and default is not None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise UnprocessableContent(f"{label}: give a whole number.") from exc


def _json(text: str, label: str, *, empty: Any) -> Any:
    if not text.strip():
        return empty
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnprocessableContent(
            f"{label}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}).",
            extra={"field": "definition"}) from exc


def _queue_values(form: FormData) -> dict[str, Any]:
    timeout = _field(form, "accept_timeout_seconds")
    return {
        "name": _field(form, "name"),
        "description": _field(form, "description"),
        "ordering": _field(form, "ordering") or Ordering.FIFO.value,
        "strategy": _field(form, "strategy") or Strategy.LONGEST_IDLE.value,
        "sla_threshold_seconds": _number(form, "sla_threshold_seconds", "Answer within",
                                         default=20.0),
        "sla_target": _number(form, "sla_target_percent", "Service level target",
                              default=80.0) / 100,
        "offer_to": _whole(form, "offer_to", "Offer to", default=1),
        "accept_timeout_seconds": None if not timeout else _number(
            form, "accept_timeout_seconds", "Time to accept"),
        "away_on_timeout": form.get("away_on_timeout") == "on",
        "away_on_reject": form.get("away_on_reject") == "on",
        "sticky_seconds": _number(form, "sticky_seconds", "Wait for the last agent",
                                  default=0.0),
        "wrap_up_seconds": _number(form, "wrap_up_seconds", "Wrap-up", default=0.0),
        "follow_business_hours": form.get("follow_business_hours") == "on",
        "thresholds": _json(_field(form, "thresholds"), "Thresholds", empty=[]),
    }


# --- readable workflows ----------------------------------------------------------------


def _step_text(step: Mapping[str, Any], queues: Mapping[str, str], skills: Mapping[str, str],
               users: Mapping[str, str]) -> str:
    parts = [f"queue {queues.get(str(step.get('queue_id')), step.get('queue_id'))}"]
    for skill, level in (step.get("required_skills") or {}).items():
        parts.append(f"{skills.get(str(skill), skill)} ≥ {level}")
    if step.get("agent_expression"):
        parts.append(f"agents where {step['agent_expression']}")
    if step.get("target_agent"):
        parts.append(f"only {users.get(str(step['target_agent']), step['target_agent'])}")
    if step.get("priority") is not None:
        parts.append(f"priority {step['priority']}")
    if step.get("skip_if_no_agents"):
        parts.append("skipped when nobody could serve it")
    text = ", ".join(parts)
    if step.get("timeout") is not None:
        text += f" — until the contact is {step['timeout']:g} s old"
    return text


def summarise(definition: Mapping[str, Any], *, queues: Mapping[str, str],
              skills: Mapping[str, str], users: Mapping[str, str]) -> dict[str, Any]:
    """What a workflow does, in words: its filters with their steps, then the rest."""
    try:
        rules = [{"title": f"If {f.get('expression')} ({f.get('name')})",
                  "steps": [_step_text(s, queues, skills, users) for s in f.get("steps", ())]}
                 for f in definition.get("filters", ())]
        rules.append({"title": "Otherwise" if rules else "Every contact",
                      "steps": [_step_text(s, queues, skills, users)
                                for s in definition.get("default_steps", ())]})
        overflow = definition.get("overflow") or {}
        action = OverflowAction(overflow.get("action", OverflowAction.STAY_QUEUED))
        then = OVERFLOW_LABELS[action]
        if action == OverflowAction.TRANSFER_QUEUE:
            then += f": {queues.get(str(overflow.get('queue_id')), overflow.get('queue_id'))}"
        wait = definition.get("max_estimated_wait")
    except (AttributeError, TypeError, ValueError):
        return {"rules": [], "overflow": "", "max_wait": None, "unreadable": True}
    return {"rules": rules, "overflow": then, "max_wait": wait, "unreadable": False}


async def _names(session: DbSession, console: ConsoleContext) -> dict[str, dict[str, str]]:
    tid = console.tenant.id
    return {
        "queues": {str(q.id): q.name for q in await repo.all_queues(session, tid)},
        "skills": {str(s.id): s.name for s in await tenant_repo.all_skills(session, tid)},
        "users": {str(u.id): u.name for u in await tenant_repo.all_users(session, tid)},
    }


def _example(queues: Sequence[RoutingQueue]) -> str:
    queue = str(queues[0].id) if queues else "<queue id>"
    return json.dumps({
        "filters": [{"name": "vip", "expression": "tier == 'gold'",
                     "steps": [{"queue_id": queue}]}],
        "default_steps": [{"queue_id": queue}],
        "overflow": {"action": "offer_callback"},
        "max_estimated_wait": 600,
    }, indent=2)


# --- queues ----------------------------------------------------------------------------


async def _queues_page(request: Request, console: ConsoleContext, session: DbSession, *,
                       failure: BaseException | None = None) -> Response:
    tid = console.tenant.id
    queues = await repo.all_queues(session, tid)
    serving: dict[str, int] = {}
    users = [u.id for u in await tenant_repo.all_users(session, tid)]
    for profile in (await repo.profiles_of(session, tid, users)).values():
        for queue_id in profile.queues:
            serving[queue_id] = serving.get(queue_id, 0) + 1
    return _routing_page(request, console, "queues.html", tab="queues", failure=failure,
                         queues=queues, serving=serving, orderings=list(Ordering),
                         strategies=list(Strategy))


@router.get(ROUTING + "/queues")
async def queues(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _queues_page(request, console, session)


@router.post(ROUTING + "/queues")
async def create_queue(request: Request, console: AdminConsole, session: DbSession) -> Response:
    form = await request.form()

    async def create() -> RoutingQueue:
        return await svc.create_queue(session, console.subject, QueueIn(**_queue_values(form)))

    try:
        queue = await _attempt(session, create)
    except REFUSED as exc:
        return await _queues_page(request, console, session, failure=exc)
    return _back(request, console, f"routing/queues/{queue.id}", f"Queue {queue.name} created.")


async def _queue_page(request: Request, console: ConsoleContext, session: DbSession,
                      queue_id: uuid.UUID, *, failure: BaseException | None = None) -> Response:
    tid = console.tenant.id
    queue = await repo.get_queue(session, tid, queue_id)
    users = await tenant_repo.all_users(session, tid)
    profiles = await repo.profiles_of(session, tid, [u.id for u in users])
    agents = [(u, profiles[u.id].queues[str(queue.id)]) for u in users
              if u.id in profiles and str(queue.id) in profiles[u.id].queues]
    return _routing_page(
        request, console, "queue.html", tab="queues", failure=failure, queue=queue,
        agents=agents, workflows=await repo.workflows_naming_queue(session, tid, queue.id),
        thresholds=json.dumps(queue.thresholds, indent=2) if queue.thresholds else "",
        orderings=list(Ordering), strategies=list(Strategy))


@router.get(ROUTING + "/queues/{queue_id}")
async def queue_detail(request: Request, queue_id: uuid.UUID, console: AdminConsole,
                       session: DbSession) -> Response:
    return await _queue_page(request, console, session, queue_id)


@router.post(ROUTING + "/queues/{queue_id}")
async def update_queue(request: Request, queue_id: uuid.UUID, console: AdminConsole,
                       session: DbSession) -> Response:
    queue = await repo.get_queue(session, console.tenant.id, queue_id)
    form = await request.form()

    async def save() -> RoutingQueue:
        data = QueuePatch(**_queue_values(form))
        return await svc.update_queue(session, console.subject, queue, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _queue_page(request, console, session, queue_id, failure=exc)
    return _back(request, console, f"routing/queues/{queue_id}", f"Queue {queue.name} saved.")


@router.post(ROUTING + "/queues/{queue_id}/delete")
async def delete_queue(request: Request, queue_id: uuid.UUID, console: AdminConsole,
                       session: DbSession) -> Response:
    queue = await repo.get_queue(session, console.tenant.id, queue_id)
    try:
        await _attempt(session, lambda: svc.delete_queue(session, console.subject, queue))
    except ProblemError as exc:
        return await _queue_page(request, console, session, queue_id, failure=exc)
    return _back(request, console, "routing/queues", f"Queue {queue.name} deleted.")


# --- workflows -------------------------------------------------------------------------


async def _workflows_page(request: Request, console: ConsoleContext, session: DbSession, *,
                          failure: BaseException | None = None,
                          form: FormData | None = None) -> Response:
    tid = console.tenant.id
    names = await _names(session, console)
    queues = await repo.all_queues(session, tid)
    workflows = [(w, summarise(w.definition, **names))
                 for w in await repo.all_workflows(session, tid)]
    return _routing_page(
        request, console, "workflows.html", tab="workflows", failure=failure,
        workflows=workflows, queues=queues, skills=await tenant_repo.all_skills(session, tid),
        draft={"name": _field(form, "name"), "description": _field(form, "description"),
               "definition": _field(form, "definition")} if form is not None
        else {"name": "", "description": "", "definition": _example(queues)},
        definition_error=_failure(failure)[0] if failure is not None else None)


@router.get(ROUTING + "/workflows")
async def workflows(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _workflows_page(request, console, session)


@router.post(ROUTING + "/workflows")
async def create_workflow(request: Request, console: AdminConsole,
                          session: DbSession) -> Response:
    form = await request.form()

    async def create() -> RoutingWorkflow:
        data = WorkflowIn(name=_field(form, "name"), description=_field(form, "description"),
                          definition=_json(_field(form, "definition"), "Definition", empty={}))
        return await svc.create_workflow(session, console.subject, data)

    try:
        workflow = await _attempt(session, create)
    except REFUSED as exc:
        return await _workflows_page(request, console, session, failure=exc, form=form)
    return _back(request, console, f"routing/workflows/{workflow.id}",
                 f"Workflow {workflow.name} created.")


async def _workflow_page(request: Request, console: ConsoleContext, session: DbSession,
                         workflow_id: uuid.UUID, *, failure: BaseException | None = None,
                         form: FormData | None = None) -> Response:
    tid = console.tenant.id
    workflow = await repo.get_workflow(session, tid, workflow_id)
    names = await _names(session, console)
    return _routing_page(
        request, console, "workflow.html", tab="workflows", failure=failure,
        workflow=workflow, summary=summarise(workflow.definition, **names),
        queues=await repo.all_queues(session, tid),
        skills=await tenant_repo.all_skills(session, tid),
        draft={"name": _field(form, "name"), "description": _field(form, "description"),
               "definition": _field(form, "definition")} if form is not None
        else {"name": workflow.name, "description": workflow.description,
              "definition": json.dumps(workflow.definition, indent=2)},
        definition_error=_failure(failure)[0] if failure is not None else None)


@router.get(ROUTING + "/workflows/{workflow_id}")
async def workflow_detail(request: Request, workflow_id: uuid.UUID, console: AdminConsole,
                          session: DbSession) -> Response:
    return await _workflow_page(request, console, session, workflow_id)


@router.post(ROUTING + "/workflows/{workflow_id}")
async def update_workflow(request: Request, workflow_id: uuid.UUID, console: AdminConsole,
                          session: DbSession) -> Response:
    workflow = await repo.get_workflow(session, console.tenant.id, workflow_id)
    form = await request.form()

    async def save() -> RoutingWorkflow:
        data = WorkflowPatch(name=_field(form, "name"), description=_field(form, "description"),
                             definition=_json(_field(form, "definition"), "Definition",
                                              empty={}))
        return await svc.update_workflow(session, console.subject, workflow, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _workflow_page(request, console, session, workflow_id, failure=exc,
                                    form=form)
    return _back(request, console, f"routing/workflows/{workflow_id}",
                 f"Workflow {workflow.name} saved.")


@router.post(ROUTING + "/workflows/{workflow_id}/delete")
async def delete_workflow(request: Request, workflow_id: uuid.UUID, console: AdminConsole,
                          session: DbSession) -> Response:
    workflow = await repo.get_workflow(session, console.tenant.id, workflow_id)
    await svc.delete_workflow(session, console.subject, workflow)
    return _back(request, console, "routing/workflows", f"Workflow {workflow.name} deleted.")


# --- routing profiles ------------------------------------------------------------------


async def _profiles_page(request: Request, console: ConsoleContext,
                         session: DbSession) -> Response:
    tid = console.tenant.id
    users = await tenant_repo.all_users(session, tid)
    profiles = await repo.profiles_of(session, tid, [u.id for u in users])
    queue_names = {str(q.id): q.name for q in await repo.all_queues(session, tid)}
    rows = []
    for user in users:
        profile = profiles.get(user.id)
        rows.append({
            "user": user,
            "capacity": capacity_from(profile.capacity if profile else None),
            "queues": sorted(
                ((queue_names.get(q, q), int(m.get("priority", 1)))
                 for q, m in (profile.queues if profile else {}).items()),
                key=lambda item: (item[1], item[0])),
            "set": profile is not None,
        })
    return _routing_page(request, console, "profiles.html", tab="profiles", rows=rows,
                         channels=CHANNEL_LABELS)


@router.get(ROUTING + "/profiles")
async def profiles(request: Request, console: AdminConsole, session: DbSession) -> Response:
    return await _profiles_page(request, console, session)


async def _profile_page(request: Request, console: ConsoleContext, session: DbSession,
                        user_id: uuid.UUID, *, failure: BaseException | None = None) -> Response:
    tid = console.tenant.id
    person = await people.get_user(session, tid, user_id)
    profile = await repo.profile_of(session, tid, person.id)
    return _routing_page(
        request, console, "profile.html", tab="profiles", failure=failure, person=person,
        capacity=capacity_from(profile.capacity if profile else None),
        chats_beside_calls=profile is not None and profile.chats_beside_calls,
        memberships=profile.queues if profile else {}, channels=CHANNEL_LABELS,
        queues=await repo.all_queues(session, tid))


@router.get(ROUTING + "/profiles/{user_id}")
async def profile_detail(request: Request, user_id: uuid.UUID, console: AdminConsole,
                         session: DbSession) -> Response:
    return await _profile_page(request, console, session, user_id)


@router.post(ROUTING + "/profiles/{user_id}")
async def save_profile(request: Request, user_id: uuid.UUID, console: AdminConsole,
                       session: DbSession) -> Response:
    person = await people.get_user(session, console.tenant.id, user_id)
    form = await request.form()

    async def save() -> None:
        capacity = {channel: _whole(form, f"capacity:{channel.value}", label)
                    for channel, label in CHANNEL_LABELS.items()
                    if _field(form, f"capacity:{channel.value}")}
        memberships = {}
        for queue in await repo.all_queues(session, console.tenant.id):
            if form.get(f"serves:{queue.id}") != "on":
                continue
            memberships[queue.id] = MembershipIn(
                priority=_whole(form, f"priority:{queue.id}", f"{queue.name} priority",
                                default=1),
                delay=_number(form, f"delay:{queue.id}", f"{queue.name} delay", default=0.0))
        data = ProfileIn(capacity=capacity, queues=memberships,
                         chats_beside_calls=form.get("chats_beside_calls") == "on")
        await svc.set_profile(session, console.subject, person, data)

    try:
        await _attempt(session, save)
    except REFUSED as exc:
        return await _profile_page(request, console, session, user_id, failure=exc)
    return _back(request, console, f"routing/profiles/{user_id}",
                 f"Routing profile of {person.name} saved.")


# --- away reasons ----------------------------------------------------------------------


async def _reasons_page(request: Request, console: ConsoleContext, session: DbSession, *,
                        failure: BaseException | None = None) -> Response:
    return _routing_page(
        request, console, "away_reasons.html", tab="away-reasons", failure=failure,
        reasons=await repo.all_reasons(session, console.tenant.id),
        defaults=sorted(DEFAULT_REASONS), reserved=sorted(SYSTEM_REASONS))


@router.get(ROUTING + "/away-reasons")
async def away_reasons(request: Request, console: AdminConsole,
                       session: DbSession) -> Response:
    return await _reasons_page(request, console, session)


@router.post(ROUTING + "/away-reasons")
async def create_reason(request: Request, console: AdminConsole,
                        session: DbSession) -> Response:
    form = await request.form()

    async def create() -> str:
        data = AwayReasonIn(code=_field(form, "code"), label=_field(form, "label"))
        return (await svc.create_reason(session, console.subject, data)).code

    try:
        code = await _attempt(session, create)
    except REFUSED as exc:
        return await _reasons_page(request, console, session, failure=exc)
    return _back(request, console, "routing/away-reasons", f"Away reason {code} added.")


@router.post(ROUTING + "/away-reasons/{reason_id}/delete")
async def delete_reason(request: Request, reason_id: uuid.UUID, console: AdminConsole,
                        session: DbSession) -> Response:
    reason = await repo.get_reason(session, console.tenant.id, reason_id)
    await svc.delete_reason(session, console.subject, reason)
    return _back(request, console, "routing/away-reasons", f"Away reason {reason.code} removed.")
