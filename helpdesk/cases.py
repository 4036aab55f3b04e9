"""Business rules of cases: opening one (from a contact, by hand or by the tenant's rule),
changing it, grouping contacts in it, notes, solving, closing and reopening.

Status moves: new → open → pending ⇄ open → solved → closed. A solved case reopens when
the customer writes again or an agent reopens it; a closed case is final (the customer
writing again opens a follow-up case). Services flush and never commit; webhooks, live
events and mail go out once the unit of work commits.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.models import Conversation, ConversationMessage
from plateaux.crm import repository as crm_repo
from plateaux.crm.models import Person
from plateaux.crm.timeline import CHANNEL_TITLES
from plateaux.helpdesk import events, notify, quality, sla_service
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import (
    ACTIVE_STATUSES,
    Case,
    CaseContact,
    CaseStatus,
)
from plateaux.helpdesk.schemas import CaseIn, CaseOut, CasePatch, SolveIn
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, UnprocessableContent
from plateaux.platform.types import utcnow
from plateaux.routing.models import Contact
from plateaux.tenants.models import Team, User

ACTIVE = frozenset(s.value for s in ACTIVE_STATUSES)
TRACKED = ("subject", "description", "priority", "category", "level", "owner_id", "team_id",
           "person_id", "status")


def case_out(case: Case) -> CaseOut:
    return CaseOut.model_validate(case)


async def actor_of(session: AsyncSession, subject: Subject) -> tuple[uuid.UUID | None, str]:
    if subject.user_id is None:
        return None, subject.label
    user = await session.get(User, subject.user_id)
    return subject.user_id, user.name if user is not None else subject.label


def channel_key(contact: Contact) -> str:
    """The channel a rule or policy names: the site's email form is "webform" (an email
    thread that came from the embed), a message left while nobody could chat is "form"."""
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    if contact.channel == "email" and attributes.get("source") == "form":
        return "webform"
    return contact.channel


def set_status(case: Case, status: str) -> None:
    if status == case.status:
        return
    now = utcnow()
    case.status = status
    case.status_log = [*(case.status_log or []), [now.isoformat(), status]]
    if status == CaseStatus.SOLVED:
        case.solved_at = now
    elif status == CaseStatus.CLOSED:
        case.closed_at = now
        case.solved_at = case.solved_at or now
    else:
        case.solved_at = case.closed_at = None
        case.csat_sent_at = None


async def check_people(session: AsyncSession, tenant_id: uuid.UUID, *,
                        owner_id: uuid.UUID | None = None,
                        team_id: uuid.UUID | None = None,
                        person_id: uuid.UUID | None = None) -> None:
    if owner_id is not None:
        owner = await session.get(User, owner_id)
        if owner is None or owner.tenant_id != tenant_id or not owner.is_active:
            raise UnprocessableContent("The owner is not an active user of this workspace.")
    if team_id is not None:
        team = await session.get(Team, team_id)
        if team is None or team.tenant_id != tenant_id:
            raise UnprocessableContent("The team is not one of this workspace.")
    if person_id is not None:
        await crm_repo.get_person(session, tenant_id, person_id)


async def _check_category(session: AsyncSession, tenant_id: uuid.UUID,
                          category: str | None) -> str | None:
    if category is None or not category.strip():
        return None
    allowed = (await repo.settings_of(session, tenant_id)).categories or []
    if allowed and category.strip() not in allowed:
        raise UnprocessableContent("Choose one of the workspace's categories: "
                                   + ", ".join(allowed)[:300])
    return category.strip()


async def contact_of(session: AsyncSession, tenant_id: uuid.UUID,
                     contact_id: uuid.UUID) -> Contact:
    found = (await session.scalars(select(Contact).where(
        col(Contact.tenant_id) == tenant_id, col(Contact.id) == contact_id))).first()
    if found is None:
        raise UnprocessableContent("The contact is not one of this workspace.")
    return found


async def conversation_of(session: AsyncSession, contact: Contact) -> Conversation | None:
    return (await session.scalars(select(Conversation).where(
        col(Conversation.tenant_id) == contact.tenant_id,
        col(Conversation.contact_id) == contact.id))).first()


async def first_words(session: AsyncSession, contact: Contact) -> str | None:
    """The customer's first chat message in this contact, cut to a subject's length."""
    conversation = await conversation_of(session, contact)
    if conversation is None:
        return None
    first = (await session.scalars(select(ConversationMessage.text).where(
        col(ConversationMessage.tenant_id) == contact.tenant_id,
        col(ConversationMessage.conversation_id) == conversation.id,
        col(ConversationMessage.author_type) == "visitor",
        col(ConversationMessage.kind) == "message")
        .order_by(col(ConversationMessage.seq)).limit(1))).first()
    return shorten(first or "") or None


def shorten(text: str, size: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size - 1] + "…"


async def subject_from(session: AsyncSession, contact: Contact) -> tuple[str, bool]:
    """A subject for a case opened from ``contact``, and whether it is final (False: a
    stand-in naming the customer, for when what they wrote is not stored yet)."""
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    if isinstance(attributes.get("subject"), str) and attributes["subject"].strip():
        return " ".join(str(attributes["subject"]).split())[:300], True
    words = await first_words(session, contact)
    if words:
        return words, True
    who = attributes.get("name") or attributes.get("email") or contact.customer_key or ""
    title = CHANNEL_TITLES.get(contact.channel, contact.channel.title())
    return (f"{title} from {who}".strip()[:300] if who else title), False


async def _language_of(session: AsyncSession, tenant_id: uuid.UUID, contact: Contact | None,
                       person_id: uuid.UUID | None) -> str | None:
    if contact is not None:
        attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
        if isinstance(attributes.get("language"), str) and attributes["language"]:
            return str(attributes["language"])[:10]
        conversation = await conversation_of(session, contact)
        if conversation is not None and conversation.language:
            return conversation.language[:10]
    if person_id is not None:
        person = await session.get(Person, person_id)
        if person is not None and person.tenant_id == tenant_id and person.language:
            return person.language[:10]
    return None


async def link_contact(session: AsyncSession, case: Case, contact: Contact, *,
                       linked_by: str) -> CaseContact:
    """Group ``contact`` in ``case``; Conflict when it is in another case already."""
    existing = await repo.link_of_contact(session, case.tenant_id, contact.id)
    if existing is not None:
        if existing.case_id == case.id:
            return existing
        raise Conflict("This contact is in another case already.")
    attributes = contact.attributes if isinstance(contact.attributes, dict) else {}
    thread = attributes.get("email_thread_id")
    conversation = await conversation_of(session, contact)
    link = CaseContact(tenant_id=case.tenant_id, case_id=case.id, contact_id=contact.id,
                       channel=channel_key(contact),
                       conversation_id=conversation.id if conversation else None,
                       email_thread_id=uuid.UUID(str(thread)) if thread else None,
                       linked_by=linked_by[:200])
    try:
        async with savepoint(session):
            session.add(link)
            await session.flush()
    except IntegrityError as error:
        raise Conflict("This contact is in another case already.") from error
    if case.person_id is None and contact.person_id is not None:
        case.person_id = contact.person_id
    case.updated_at = utcnow()
    session.add(case)
    return link


async def create_case(session: AsyncSession, subject: Subject, body: CaseIn, *,
                      source: str = "agent", actor: tuple[uuid.UUID | None, str] | None = None,
                      follow_up_of: Case | None = None) -> Case:
    tenant_id = subject.tenant_id
    actor_id, actor_name = actor or await actor_of(session, subject)
    contact = await contact_of(session, tenant_id, body.contact_id) if body.contact_id else None
    if contact is not None and await repo.link_of_contact(session, tenant_id, contact.id):
        raise Conflict("This contact is in a case already.")
    person_id = body.person_id or (contact.person_id if contact is not None else None)
    await check_people(session, tenant_id, owner_id=body.owner_id, team_id=body.team_id,
                        person_id=body.person_id)
    category = await _check_category(session, tenant_id, body.category)
    title = (body.subject or "").strip()
    final = True
    if not title:
        if contact is None:
            raise UnprocessableContent("A case needs a subject (or a contact to take it from).")
        title, final = await subject_from(session, contact)
    status = body.status or (CaseStatus.OPEN.value if body.owner_id else CaseStatus.NEW.value)
    now = utcnow()
    case = Case(tenant_id=tenant_id, number=await repo.next_case_number(session, tenant_id),
                subject=title, description=body.description.strip(), status=status,
                priority=body.priority.value, category=category, level=body.level,
                owner_id=body.owner_id, team_id=body.team_id, person_id=person_id,
                channel=channel_key(contact) if contact is not None else None, source=source,
                language=await _language_of(session, tenant_id, contact, person_id),
                follow_up_of_id=follow_up_of.id if follow_up_of is not None else None,
                created_by_id=actor_id if subject.kind == "user" else None,
                status_log=[[now.isoformat(), status]], created_at=now, updated_at=now)
    session.add(case)
    await session.flush()
    if contact is not None:
        await link_contact(session, case, contact, linked_by=actor_name)
    await sla_service.apply_policy(session, case)
    events.record(session, case, "created", actor_id=actor_id, actor_name=actor_name,
                  source=source, contact_id=str(contact.id) if contact else None,
                  follow_up_of=follow_up_of.number if follow_up_of is not None else None,
                  **({} if final else {"provisional_subject": title}))
    await session.flush()
    await sla_service.refresh(session, case)
    await events.emit(session, case, "case.created")
    notify.announce_case(session, case, "created")
    if case.owner_id is not None and case.owner_id != actor_id:
        await notify.notify(session, case, await repo.users_by_ids(
            session, tenant_id, [case.owner_id]), kind="assigned",
            title=f"Case #{case.number} is yours", body=case.subject)
    return case


def _value(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def update_case(session: AsyncSession, subject: Subject, case: Case,
                      body: CasePatch) -> Case:
    if case.status == CaseStatus.CLOSED:
        raise Conflict("A closed case is final; the customer's next request opens a "
                       "follow-up case.")
    changes = body.model_dump(exclude_unset=True)
    tenant_id = case.tenant_id
    await check_people(session, tenant_id, owner_id=changes.get("owner_id"),
                        team_id=changes.get("team_id"), person_id=changes.get("person_id"))
    if "category" in changes:
        changes["category"] = await _check_category(session, tenant_id, changes["category"])
    for name in ("subject", "description"):
        if name in changes:
            if changes[name] is None:
                changes.pop(name)
            else:
                changes[name] = changes[name].strip()
    for name in ("priority", "level", "person_id", "status"):
        if name in changes and changes[name] is None:
            changes.pop(name)
    if "priority" in changes:
        changes["priority"] = getattr(changes["priority"], "value", changes["priority"])
    done: dict[str, list[Any]] = {}
    for name, value in changes.items():
        old = getattr(case, name)
        if old == value:
            continue
        done[name] = [_value(old), _value(value)]
        if name == "status":
            set_status(case, value)
        else:
            setattr(case, name, value)
    if not done:
        return case
    actor_id, actor_name = await actor_of(session, subject)
    if "owner_id" in done and case.status == CaseStatus.NEW and case.owner_id is not None:
        set_status(case, CaseStatus.OPEN.value)
    case.updated_at = utcnow()
    session.add(case)
    await session.flush()
    if {"priority", "category"} & done.keys():
        await sla_service.apply_policy(session, case)
    events.record(session, case, "updated", actor_id=actor_id, actor_name=actor_name,
                  changes=done)
    await sla_service.refresh(session, case)
    await events.emit(session, case, "case.updated", changes=done)
    notify.announce_case(session, case, "updated")
    if "owner_id" in done and case.owner_id is not None and case.owner_id != actor_id:
        await notify.notify(session, case, await repo.users_by_ids(
            session, tenant_id, [case.owner_id]), kind="assigned",
            title=f"Case #{case.number} is yours", body=case.subject)
    return case


async def add_note(session: AsyncSession, subject: Subject, case: Case, body: str) -> None:
    actor_id, actor_name = await actor_of(session, subject)
    events.record(session, case, "note", actor_id=actor_id, actor_name=actor_name,
                  body=body.strip())
    case.updated_at = utcnow()
    session.add(case)
    await session.flush()
    notify.announce_case(session, case, "note")


async def link(session: AsyncSession, subject: Subject, case: Case,
               contact_id: uuid.UUID) -> CaseContact:
    if case.status == CaseStatus.CLOSED:
        raise Conflict("A closed case is final.")
    contact = await contact_of(session, case.tenant_id, contact_id)
    actor_id, actor_name = await actor_of(session, subject)
    found = await link_contact(session, case, contact, linked_by=actor_name)
    events.record(session, case, "linked", actor_id=actor_id, actor_name=actor_name,
                  contact_id=str(contact.id), channel=found.channel)
    await session.flush()
    await sla_service.refresh(session, case)
    notify.announce_case(session, case, "linked")
    return found


async def unlink(session: AsyncSession, subject: Subject, case: Case,
                 contact_id: uuid.UUID) -> None:
    found = await repo.link_of_contact(session, case.tenant_id, contact_id)
    if found is None or found.case_id != case.id:
        raise UnprocessableContent("The contact is not in this case.")
    actor_id, actor_name = await actor_of(session, subject)
    await session.delete(found)
    events.record(session, case, "unlinked", actor_id=actor_id, actor_name=actor_name,
                  contact_id=str(contact_id))
    await session.flush()
    await sla_service.refresh(session, case)


async def solve(session: AsyncSession, subject: Subject, case: Case, body: SolveIn) -> Case:
    if case.status == CaseStatus.CLOSED:
        raise Conflict("The case is closed already.")
    if case.status == CaseStatus.SOLVED and not body.close:
        raise Conflict("The case is solved already.")
    codes = {c.code: c for c in await repo.resolution_codes(session, case.tenant_id)}
    code = (body.resolution_code or "").strip().lower() or None
    if code is None and case.resolution_code is None and codes:
        raise UnprocessableContent("Choose a resolution code.")
    if code is not None and code not in codes:
        raise UnprocessableContent("Unknown resolution code.")
    actor_id, actor_name = await actor_of(session, subject)
    if code is not None:
        case.resolution_code = code
    if body.resolution_note.strip():
        case.resolution_note = body.resolution_note.strip()
    was_solved = case.status == CaseStatus.SOLVED
    if not was_solved:
        set_status(case, CaseStatus.SOLVED.value)
        events.record(session, case, "solved", actor_id=actor_id, actor_name=actor_name,
                      body=case.resolution_note, resolution_code=case.resolution_code)
    if body.close:
        set_status(case, CaseStatus.CLOSED.value)
        events.record(session, case, "closed", actor_id=actor_id, actor_name=actor_name)
    case.updated_at = utcnow()
    session.add(case)
    await session.flush()
    await sla_service.refresh(session, case)
    if not was_solved:
        await events.emit(session, case, "case.solved")
        await quality.request_satisfaction(session, case)
    if body.close:
        await events.emit(session, case, "case.closed")
    notify.announce_case(session, case, case.status)
    return case


async def close(session: AsyncSession, case: Case, *, actor_name: str = "Automatic",
                actor_id: uuid.UUID | None = None) -> Case:
    if case.status == CaseStatus.CLOSED:
        return case
    if case.status != CaseStatus.SOLVED:
        raise Conflict("Only a solved case is closed; solve it first.")
    set_status(case, CaseStatus.CLOSED.value)
    case.updated_at = utcnow()
    events.record(session, case, "closed", actor_id=actor_id, actor_name=actor_name)
    session.add(case)
    await session.flush()
    await events.emit(session, case, "case.closed")
    notify.announce_case(session, case, "closed")
    return case


async def reopen(session: AsyncSession, case: Case, *, actor_id: uuid.UUID | None,
                 actor_name: str, note: str = "", why: str = "agent") -> Case:
    if case.status == CaseStatus.CLOSED:
        raise Conflict("A closed case is final; open a follow-up case.")
    if case.status in ACTIVE and case.status != CaseStatus.PENDING:
        return case
    was = case.status
    set_status(case, CaseStatus.OPEN.value)
    case.updated_at = utcnow()
    session.add(case)
    events.record(session, case, "reopened", actor_id=actor_id, actor_name=actor_name,
                  body=note.strip()[:2000], was=was, why=why)
    await session.flush()
    await sla_service.refresh(session, case)
    await events.emit(session, case, "case.updated",
                      changes={"status": [was, CaseStatus.OPEN.value]})
    notify.announce_case(session, case, "reopened")
    if why == "customer" and case.owner_id is not None:
        await notify.notify(session, case, await repo.users_by_ids(
            session, case.tenant_id, [case.owner_id]), kind="customer_replied",
            title=f"Case #{case.number}: the customer wrote again", body=case.subject)
    return case
