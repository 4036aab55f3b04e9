"""Rules for the tenant's routing configuration: queues, workflows, agents' routing
profiles and away reasons.

Services flush and never commit (the request's unit of work does). Every change leaves an
audit entry and announces ``routing.config.changed`` to the ``routing`` audience, after
the commit only: each server process's live router reloads the tenant's configuration
when it hears it, and the tenant's steward brings a changed profile into the shared
routing state (``RoutingService._follow_config``).

References are checked here: a workflow, a threshold or a profile may only name the
tenant's own queues, skills, sites and people.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, UnprocessableContent
from plateaux.platform.publish import publish
from plateaux.platform.types import utcnow
from plateaux.routing import config_repository as repo
from plateaux.routing.config import (
    ConfigError,
    capacity_from,
    thresholds_from,
    workflow_from_definition,
    workflow_queue_ids,
)
from plateaux.routing.config_schemas import (
    AwayReasonIn,
    ProfileIn,
    QueueIn,
    QueuePatch,
    ThresholdIn,
    WorkflowIn,
    WorkflowPatch,
)
from plateaux.routing.contact_service import SYSTEM_REASONS
from plateaux.routing.expressions import ExpressionError, validate
from plateaux.routing.models import AgentProfile, AwayReason, RoutingQueue, RoutingWorkflow
from plateaux.tenants import repository as people
from plateaux.tenants import service as tenant_service
from plateaux.tenants.models import Site, Skill, User

What = Literal["queue", "workflow", "profile", "away_reason"]
CONFIG_CHANGED = "routing.config.changed"


def _audit(session: AsyncSession, subject: Subject, action: str, target: str = "",
           **details: Any) -> None:
    tenant_service.audit(session, subject.tenant_id, actor=subject.label, action=action,
                         target=target, **details)


def _changed(session: AsyncSession, subject: Subject, what: What, object_id: uuid.UUID) -> None:
    publish(session, subject.tenant_id, CONFIG_CHANGED, {"what": what, "id": str(object_id)},
            audience="routing")


async def _flush_unique(session: AsyncSession, message: str) -> None:
    """Flush in a savepoint: a unique-constraint race becomes a 409 and the unit of work
    stays usable (a console page can still re-render with the reason)."""
    try:
        async with savepoint(session):
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


def _uuids(values: Any, what: str) -> set[uuid.UUID]:
    ids = set()
    for value in values:
        try:
            ids.add(uuid.UUID(str(value)))
        except ValueError as exc:
            raise UnprocessableContent(f"Unknown {what} '{value}'.") from exc
    return ids


async def _check_owned(session: AsyncSession, subject: Subject, model: Any,
                       ids: set[uuid.UUID], what: str) -> None:
    unknown = ids - await repo.owned_ids(session, model, subject.tenant_id, ids)
    if unknown:
        raise UnprocessableContent(f"Unknown {what}: " + ", ".join(sorted(map(str, unknown))))


# --- queues ----------------------------------------------------------------------------


async def _thresholds(session: AsyncSession, subject: Subject,
                      items: list[ThresholdIn]) -> list[dict[str, Any]]:
    await _check_owned(session, subject, Site, {t.site for t in items if t.site}, "site")
    await _check_owned(session, subject, Skill, {t.skill for t in items if t.skill}, "skill")
    stored = [t.stored() for t in items]
    try:
        thresholds_from(stored)
    except ConfigError as exc:
        raise UnprocessableContent(str(exc)) from exc
    return stored


async def create_queue(session: AsyncSession, subject: Subject, data: QueueIn) -> RoutingQueue:
    if await repo.name_taken(session, RoutingQueue, subject.tenant_id, data.name):
        raise Conflict(f"A queue named '{data.name}' already exists.")
    values = data.model_dump(mode="json", exclude={"thresholds"})
    row = RoutingQueue(tenant_id=subject.tenant_id, **values,
                       thresholds=await _thresholds(session, subject, data.thresholds))
    session.add(row)
    await _flush_unique(session, f"A queue named '{data.name}' already exists.")
    _audit(session, subject, "queue.created", row.name)
    _changed(session, subject, "queue", row.id)
    return row


async def update_queue(session: AsyncSession, subject: Subject, row: RoutingQueue,
                       data: QueuePatch) -> RoutingQueue:
    changes = data.model_dump(mode="json", exclude_unset=True, exclude={"thresholds"})
    if data.thresholds is not None:
        changes["thresholds"] = await _thresholds(session, subject, data.thresholds)
    name = changes.get("name")
    if name is not None and await repo.name_taken(
            session, RoutingQueue, subject.tenant_id, name, except_id=row.id):
        raise Conflict(f"Another queue is already named '{name}'.")
    before = row.name
    for field, value in changes.items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    await _flush_unique(session, f"Another queue is already named '{row.name}'.")
    _audit(session, subject, "queue.updated", before, fields=sorted(changes))
    _changed(session, subject, "queue", row.id)
    return row


async def delete_queue(session: AsyncSession, subject: Subject, row: RoutingQueue) -> None:
    """Refused while a workflow sends contacts to the queue; agents stop serving it."""
    using = await repo.workflows_naming_queue(session, subject.tenant_id, row.id)
    if using:
        raise Conflict(
            f"The queue '{row.name}' is used by the workflow{'s' if len(using) > 1 else ''} "
            + ", ".join(f"'{n}'" for n in using) + ": change or delete them first.",
            extra={"workflows": using})
    for profile in await repo.profiles_serving(session, subject.tenant_id, row.id):
        # A new dict: the JSON column is saved only when the value is replaced.
        profile.queues = {q: m for q, m in profile.queues.items() if q != str(row.id)}
        profile.updated_at = utcnow()
        _changed(session, subject, "profile", profile.user_id)
    _audit(session, subject, "queue.deleted", row.name)
    _changed(session, subject, "queue", row.id)
    await session.delete(row)
    await session.flush()


# --- workflows -------------------------------------------------------------------------

_TOP_KEYS = frozenset({"filters", "default_steps", "overflow", "max_estimated_wait"})
_FILTER_KEYS = frozenset({"name", "expression", "steps"})
_STEP_KEYS = frozenset({"queue_id", "required_skills", "agent_expression", "target_agent",
                        "timeout", "priority", "skip_if_no_agents"})
_OVERFLOW_KEYS = frozenset({"action", "queue_id", "priority"})


def _refuse(message: str, where: str, **extra: Any) -> UnprocessableContent:
    return UnprocessableContent(f"{where}: {message}", extra={"field": where, **extra})


def _object(value: Any, where: str, keys: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _refuse("must be an object", where)
    unknown = sorted(set(value) - keys)
    if unknown:
        raise _refuse(f"unknown field{'s' if len(unknown) > 1 else ''} "
                      + ", ".join(map(repr, unknown)) + f" (known: {', '.join(sorted(keys))})",
                      where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _refuse("must be a list", where)
    return value


def _expression(value: Any, where: str) -> None:
    if value is None or value == "":
        return
    if not isinstance(value, str):
        raise _refuse("must be a string", where)
    try:
        validate(value)
    except ExpressionError as exc:
        raise _refuse(str(exc), where, position=exc.position) from exc


def _number(value: Any, where: str, *, low: float, high: float, whole: bool = False) -> None:
    if value is None:
        return
    kinds = int if whole else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise _refuse(f"must be a {'whole ' if whole else ''}number from {low:g} to {high:g}",
                      where)


def _check_step(step: Any, where: str, refs: dict[str, set[str]]) -> None:
    step = _object(step, where, _STEP_KEYS)
    if "queue_id" not in step:
        raise _refuse("a step needs a queue_id", where)
    refs["queues"].add(str(step["queue_id"]))
    skills = step.get("required_skills") or {}
    if not isinstance(skills, Mapping):
        raise _refuse("must be an object of skill id -> minimum level",
                      f"{where}.required_skills")
    for skill, level in skills.items():
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
            raise _refuse("skill levels are whole numbers from 1 to 5",
                          f"{where}.required_skills.{skill}")
        refs["skills"].add(str(skill))
    _expression(step.get("agent_expression"), f"{where}.agent_expression")
    if step.get("target_agent") is not None:
        refs["users"].add(str(step["target_agent"]))
    _number(step.get("timeout"), f"{where}.timeout", low=0.001, high=7 * 86_400)
    _number(step.get("priority"), f"{where}.priority", low=-100, high=100, whole=True)


def _check_shape(definition: Mapping[str, Any]) -> dict[str, set[str]]:
    """Refuse what the core would misread or silently ignore (a misspelt field), with
    the place of the fault; returns the ids the document refers to."""
    refs: dict[str, set[str]] = {"queues": set(), "skills": set(), "users": set()}
    _object(definition, "definition", _TOP_KEYS)
    for i, flt in enumerate(_list(definition.get("filters"), "filters")):
        where = f"filters[{i}]"
        flt = _object(flt, where, _FILTER_KEYS)
        if not isinstance(flt.get("name"), str) or not flt["name"].strip():
            raise _refuse("a filter needs a name", f"{where}.name")
        if not isinstance(flt.get("expression"), str) or not flt["expression"].strip():
            raise _refuse("a filter needs an expression", f"{where}.expression")
        _expression(flt["expression"], f"{where}.expression")
        steps = _list(flt.get("steps"), f"{where}.steps")
        if not steps:
            raise _refuse("a filter needs at least one step", f"{where}.steps")
        for j, step in enumerate(steps):
            _check_step(step, f"{where}.steps[{j}]", refs)
    for j, step in enumerate(_list(definition.get("default_steps"), "default_steps")):
        _check_step(step, f"default_steps[{j}]", refs)
    if definition.get("overflow") is not None:
        overflow = _object(definition["overflow"], "overflow", _OVERFLOW_KEYS)
        _number(overflow.get("priority"), "overflow.priority", low=-100, high=100,
                whole=True)
    _number(definition.get("max_estimated_wait"), "max_estimated_wait", low=1, high=86_400)
    return refs


async def check_definition(session: AsyncSession, subject: Subject,
                           definition: Mapping[str, Any]) -> None:
    """A workflow document the router can use, naming only the tenant's own queues,
    skills and people; UnprocessableContent says what is wrong and where."""
    refs = _check_shape(definition)
    try:
        workflow_from_definition("check", definition)
        refs["queues"] |= workflow_queue_ids(definition)
    except ConfigError as exc:
        raise UnprocessableContent(str(exc)) from exc
    await _check_owned(session, subject, RoutingQueue, _uuids(refs["queues"], "queue"), "queue")
    await _check_owned(session, subject, Skill, _uuids(refs["skills"], "skill"), "skill")
    await _check_owned(session, subject, User, _uuids(refs["users"], "agent"), "agent")


async def create_workflow(session: AsyncSession, subject: Subject,
                          data: WorkflowIn) -> RoutingWorkflow:
    if await repo.name_taken(session, RoutingWorkflow, subject.tenant_id, data.name):
        raise Conflict(f"A workflow named '{data.name}' already exists.")
    await check_definition(session, subject, data.definition)
    row = RoutingWorkflow(tenant_id=subject.tenant_id, name=data.name,
                          description=data.description, definition=data.definition)
    session.add(row)
    await _flush_unique(session, f"A workflow named '{data.name}' already exists.")
    _audit(session, subject, "workflow.created", row.name)
    _changed(session, subject, "workflow", row.id)
    return row


async def update_workflow(session: AsyncSession, subject: Subject, row: RoutingWorkflow,
                          data: WorkflowPatch) -> RoutingWorkflow:
    changes = data.changes()
    name = changes.get("name")
    if name is not None and await repo.name_taken(
            session, RoutingWorkflow, subject.tenant_id, name, except_id=row.id):
        raise Conflict(f"Another workflow is already named '{name}'.")
    if data.definition is not None:
        await check_definition(session, subject, data.definition)
    before = row.name
    for field, value in changes.items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    await _flush_unique(session, f"Another workflow is already named '{row.name}'.")
    _audit(session, subject, "workflow.updated", before, fields=sorted(changes))
    _changed(session, subject, "workflow", row.id)
    return row


async def delete_workflow(session: AsyncSession, subject: Subject, row: RoutingWorkflow) -> None:
    # Contacts of the workflow keep waiting in the queue they are in (the router routes
    # a contact whose workflow is gone by its queue).
    _audit(session, subject, "workflow.deleted", row.name)
    _changed(session, subject, "workflow", row.id)
    await session.delete(row)
    await session.flush()


# --- routing profiles ------------------------------------------------------------------


async def profile_user(session: AsyncSession, subject: Subject, user_id: uuid.UUID) -> User:
    """The tenant's user ``user_id``; 404 otherwise."""
    return await people.get_user(session, subject.tenant_id, user_id)


async def set_profile(session: AsyncSession, subject: Subject, user: User,
                      data: ProfileIn) -> AgentProfile:
    """Make the user's routing profile exactly ``data``."""
    await _check_owned(session, subject, RoutingQueue, set(data.queues), "queue")
    capacity = {channel.value: count for channel, count in data.capacity.items()}
    try:
        capacity_from(capacity)
    except ConfigError as exc:
        raise UnprocessableContent(str(exc)) from exc
    queues = {str(q): {"priority": m.priority, "delay": m.delay} for q, m in data.queues.items()}
    profile = await repo.profile_of(session, subject.tenant_id, user.id)
    if profile is None:
        profile = AgentProfile(tenant_id=subject.tenant_id, user_id=user.id)
        session.add(profile)
    profile.capacity = capacity
    profile.chats_beside_calls = data.chats_beside_calls
    profile.queues = queues
    profile.updated_at = utcnow()
    await _flush_unique(session, "This profile was changed at the same time; retry.")
    _audit(session, subject, "routing_profile.changed", user.email, queues=len(queues),
           capacity=capacity, chats_beside_calls=data.chats_beside_calls)
    _changed(session, subject, "profile", user.id)
    return profile


# --- away reasons ----------------------------------------------------------------------


async def create_reason(session: AsyncSession, subject: Subject,
                        data: AwayReasonIn) -> AwayReason:
    if data.code in SYSTEM_REASONS:
        raise UnprocessableContent(
            f"'{data.code}' is reserved: the platform sets it when an agent misses or "
            "declines an offer.")
    if await repo.reason_with_code(session, subject.tenant_id, data.code) is not None:
        raise Conflict(f"An away reason with the code '{data.code}' already exists.")
    row = AwayReason(tenant_id=subject.tenant_id, code=data.code, label=data.label)
    session.add(row)
    await _flush_unique(session, f"An away reason with the code '{data.code}' already exists.")
    _audit(session, subject, "away_reason.created", row.code, label=row.label)
    _changed(session, subject, "away_reason", row.id)
    return row


async def delete_reason(session: AsyncSession, subject: Subject, row: AwayReason) -> None:
    # Agents away for this reason stay away; they cannot choose it again.
    _audit(session, subject, "away_reason.deleted", row.code)
    _changed(session, subject, "away_reason", row.id)
    await session.delete(row)
    await session.flush()
