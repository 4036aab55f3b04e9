"""Quality control: scorecards (the tenant's criteria and weights), supervisors' reviews of
finished cases, and the customer's satisfaction (CSAT).

Satisfaction comes from where the customer already is: a chat rated at its end in the
widget gives the case its score; otherwise, once the case is solved, the customer gets an
email with a link to a one-question survey (1 to 5, and a comment).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from plateaux.channels.chat.models import Conversation
from plateaux.channels.email.models import EmailThread
from plateaux.crm import repository as crm_repo
from plateaux.crm.models import IdentityKind
from plateaux.helpdesk import events, notify
from plateaux.helpdesk import repository as repo
from plateaux.helpdesk.models import Case, Review, Scorecard
from plateaux.helpdesk.schemas import ReviewIn, ScorecardIn, ScorecardPatch
from plateaux.platform.auth.subject import Subject
from plateaux.platform.database import savepoint
from plateaux.platform.errors import Conflict, NotFound, UnprocessableContent
from plateaux.platform.mail import queue_mail
from plateaux.platform.security import constant_time_equal
from plateaux.platform.types import utcnow
from plateaux.tenants.models import Tenant, User
from plateaux.tenants.service import audit

MAX_SCORE = 5
LOW_SCORE = 2


# --- scorecards ------------------------------------------------------------------------------


def _criteria(body: ScorecardIn | ScorecardPatch) -> list[dict[str, Any]]:
    criteria = [c.model_dump() for c in body.criteria or []]
    keys = [c["key"] for c in criteria]
    if len(set(keys)) != len(keys):
        raise UnprocessableContent("Each criterion needs its own key.")
    return criteria


async def create_scorecard(session: AsyncSession, subject: Subject,
                           body: ScorecardIn) -> Scorecard:
    if any(s.name == body.name.strip() for s in await repo.scorecards(session,
                                                                      subject.tenant_id)):
        raise Conflict("A scorecard has this name already.")
    card = Scorecard(tenant_id=subject.tenant_id, name=body.name.strip(),
                     description=body.description.strip(), criteria=_criteria(body),
                     active=body.active)
    session.add(card)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.scorecard_created",
          target=card.name)
    return card


async def update_scorecard(session: AsyncSession, subject: Subject, card: Scorecard,
                           body: ScorecardPatch) -> Scorecard:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name") and changes["name"].strip() != card.name:
        if any(s.name == changes["name"].strip() for s in await repo.scorecards(
                session, subject.tenant_id)):
            raise Conflict("A scorecard has this name already.")
        card.name = changes["name"].strip()
    if changes.get("description") is not None:
        card.description = changes["description"].strip()
    if changes.get("criteria") is not None:
        card.criteria = _criteria(body)
    if changes.get("active") is not None:
        card.active = changes["active"]
    card.updated_at = utcnow()
    session.add(card)
    await session.flush()
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.scorecard_updated",
          target=card.name)
    return card


async def delete_scorecard(session: AsyncSession, subject: Subject, card: Scorecard) -> None:
    """Past reviews keep their copy of the criteria."""
    audit(session, subject.tenant_id, actor=subject.label, action="helpdesk.scorecard_deleted",
          target=card.name)
    await session.delete(card)
    await session.flush()


# --- reviews ---------------------------------------------------------------------------------


def score_percent(criteria: list[dict[str, Any]], scores: dict[str, int | None]) -> float:
    """The weighted mean of the scored criteria, as a percentage (criteria marked not
    applicable count for nothing)."""
    weights = {c["key"]: float(c.get("weight", 1.0)) for c in criteria}
    unknown = sorted(set(scores) - set(weights))
    if unknown:
        raise UnprocessableContent(f"Unknown criterion '{unknown[0][:40]}'.")
    scored = {k: v for k, v in scores.items() if v is not None}
    if not scored:
        raise UnprocessableContent("Score at least one criterion.")
    for key, value in scored.items():
        if isinstance(value, bool) or not 0 <= value <= MAX_SCORE:
            raise UnprocessableContent(f"'{key}' is scored from 0 to {MAX_SCORE}.")
    total = sum(weights[k] for k in scored)
    return round(sum(weights[k] * v / MAX_SCORE for k, v in scored.items()) / total * 100, 1)


async def review(session: AsyncSession, subject: Subject, case: Case,
                 body: ReviewIn) -> Review:
    if case.status not in ("solved", "closed"):
        raise Conflict("Only a solved or closed case is reviewed.")
    try:
        card = await repo.get_owned(session, Scorecard, case.tenant_id, body.scorecard_id,
                                    "Scorecard")
    except NotFound as error:
        raise UnprocessableContent("Unknown scorecard.") from error
    if not card.active:
        raise UnprocessableContent("This scorecard is not in use.")
    percent = score_percent(card.criteria, body.scores)
    reviewer = await session.get(User, subject.user_id) if subject.user_id else None
    found = Review(tenant_id=case.tenant_id, case_id=case.id, scorecard_id=card.id,
                   scorecard_name=card.name, criteria=list(card.criteria),
                   scores=dict(body.scores), comment=body.comment.strip(), percent=percent,
                   agent_id=case.owner_id, reviewer_id=subject.user_id,
                   reviewer_name=reviewer.name if reviewer else subject.label)
    try:
        async with savepoint(session):
            session.add(found)
            await session.flush()
    except IntegrityError as error:
        raise Conflict("This case was reviewed with this scorecard already.") from error
    events.record(session, case, "reviewed", actor_id=subject.user_id,
                  actor_name=found.reviewer_name, body=found.comment, percent=percent,
                  scorecard=card.name)
    await session.flush()
    if case.owner_id is not None and case.owner_id != subject.user_id:
        await notify.notify(session, case, await repo.users_by_ids(
            session, case.tenant_id, [case.owner_id]), kind="reviewed",
            title=f"Case #{case.number} was reviewed: {percent:g} %",
            body=f"{card.name} by {found.reviewer_name}")
    return found


# --- satisfaction ----------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def chat_rating(session: AsyncSession, case: Case) -> Conversation | None:
    """The latest rated chat among the case's contacts."""
    contact_ids = [link.contact_id for link in await repo.links_of(session, case.tenant_id,
                                                                   case.id)]
    if not contact_ids:
        return None
    return (await session.scalars(select(Conversation).where(
        col(Conversation.tenant_id) == case.tenant_id,
        col(Conversation.contact_id).in_(contact_ids),
        col(Conversation.rating).is_not(None)).order_by(col(Conversation.ended_at).desc())
    )).first()


async def take_chat_rating(session: AsyncSession, case: Case) -> bool:
    """Give the case the score of its rated chat, when it has none; whether it did."""
    if case.csat_score is not None:
        return False
    rated = await chat_rating(session, case)
    if rated is None or rated.rating is None:
        return False
    await _record(session, case, score=rated.rating, comment=rated.rating_comment,
                  source="chat")
    return True


async def customer_address(session: AsyncSession, case: Case) -> str | None:
    """Where to send the survey: the person's email address (a verified one first), else
    the address of the case's email thread."""
    if case.person_id is not None:
        emails = sorted((i for i in await crm_repo.identities_of(
            session, case.tenant_id, [case.person_id]) if i.kind == IdentityKind.EMAIL.value),
            key=lambda i: not i.verified)
        if emails:
            return emails[0].value
    threads = [link.email_thread_id for link in await repo.links_of(
        session, case.tenant_id, case.id) if link.email_thread_id]
    if threads:
        thread = await session.get(EmailThread, threads[-1])
        if thread is not None and thread.tenant_id == case.tenant_id and "@" in (
                thread.customer_address or ""):
            return thread.customer_address
    return None


async def request_satisfaction(session: AsyncSession, case: Case) -> str | None:
    """On solving: the chat's rating when there is one, else a survey by email. Returns
    how ('chat', 'email') or None when neither applies."""
    settings = await repo.settings_of(session, case.tenant_id)
    if not settings.csat_enabled or case.csat_score is not None:
        return None
    if await take_chat_rating(session, case):
        return "chat"
    if case.csat_sent_at is not None:
        return None
    address = await customer_address(session, case)
    if address is None:
        return None
    tenant = await session.get(Tenant, case.tenant_id)
    if tenant is None:
        return None
    token = secrets.token_urlsafe(24)
    case.csat_token_hash = token_hash(token)
    case.csat_sent_at = utcnow()
    session.add(case)
    services = session.info.get("services")
    base = services.settings.base_url.rstrip("/") if services is not None else ""
    link = f"{base}/t/{tenant.slug}/satisfaction/{case.id}?t={token}"
    queue_mail(session, to=address, subject=f"{tenant.name}: how did we do? (case #{case.number})",
               text=(f"Hello,\n\nYour request \"{case.subject}\" is solved. Would you tell us "
                     f"how we did? One click is enough:\n\n{link}\n\nThank you,\n{tenant.name}\n"))
    events.record(session, case, "satisfaction_asked", actor_name="Survey", channel="email")
    await session.flush()
    return "email"


def check_token(case: Case, token: str) -> bool:
    if not case.csat_token_hash or not token:
        return False
    return constant_time_equal(case.csat_token_hash, token_hash(token))


async def answer_survey(session: AsyncSession, case: Case, *, token: str, score: int,
                        comment: str | None) -> None:
    if not check_token(case, token):
        raise NotFound("This survey link is not valid.")
    await _record(session, case, score=score, comment=comment, source="email")


async def _record(session: AsyncSession, case: Case, *, score: int, comment: str | None,
                  source: str) -> None:
    if not 1 <= score <= MAX_SCORE:
        raise UnprocessableContent(f"The score is 1 to {MAX_SCORE}.")
    case.csat_score = score
    case.csat_comment = (comment or "").strip()[:2000] or None
    case.csat_source = source
    case.csat_at = utcnow()
    session.add(case)
    events.record(session, case, "satisfaction", actor_name="Customer",
                  body=case.csat_comment or "", score=score, source=source)
    await session.flush()
    await events.emit(session, case, "case.updated",
                      changes={"csat_score": [None, score]})
    if score <= LOW_SCORE:
        await notify.notify(session, case, await notify.owner_and_supervisors(session, case),
                            kind="low_satisfaction",
                            title=f"Case #{case.number}: the customer rated {score}/5",
                            body=case.csat_comment or case.subject)


def survey_case_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as error:
        raise NotFound("This survey link is not valid.") from error
