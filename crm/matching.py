"""Every contact request is matched to a person: the channels hand over what they know
(a visitor, a signed identity, an address, a number, what a form asked), and the CRM
finds the person holding one of those identities or creates one.

Claims are weighed: a signed identity from the tenant's site outranks an external CRM id,
which outranks an address or a number, which outrank a website visitor. When claims point
at different people the strongest wins; a website visitor then moves to that person (the
same browser, now known), and the others stay where they are for an admin to merge.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.crm import events, service
from plateaux.crm import repository as repo
from plateaux.crm.identities import try_normalize
from plateaux.crm.models import Identity, IdentityKind, Person
from plateaux.embed.models import Visitor
from plateaux.platform.database import savepoint
from plateaux.platform.types import utcnow
from plateaux.routing.models import Contact

RANK = {IdentityKind.VERIFIED: 0, IdentityKind.EXTERNAL: 1, IdentityKind.EMAIL: 2,
        IdentityKind.PHONE: 2, IdentityKind.VISITOR: 3}


@dataclass(frozen=True, slots=True)
class Claim:
    kind: IdentityKind
    value: str  # normalised
    verified: bool


def claims_from(*, region: str | None = None, email: Any = None, phone: Any = None,
                visitor_id: Any = None, verified_id: Any = None, external_id: Any = None,
                email_verified: bool = False, phone_verified: bool = False) -> list[Claim]:
    """The valid claims among what a channel knows; anything malformed is left out."""
    found: list[Claim] = []
    for kind, raw, verified in (
        (IdentityKind.VERIFIED, verified_id, True),
        (IdentityKind.EXTERNAL, external_id, True),
        (IdentityKind.EMAIL, email, email_verified),
        (IdentityKind.PHONE, phone, phone_verified),
        (IdentityKind.VISITOR, None if visitor_id is None else str(visitor_id), True),
    ):
        value = try_normalize(kind.value, raw if isinstance(raw, str) else None,
                              region=region)
        if value is not None:
            found.append(Claim(kind, value, verified))
    return found


async def resolve(session: AsyncSession, tenant_id: uuid.UUID, claims: list[Claim], *,
                  name: str | None = None, language: str | None = None,
                  source: str = "contact") -> Person | None:
    """The person these claims name, created when none does; None without any claim."""
    if not claims:
        return None
    for _ in range(3):
        try:
            async with savepoint(session):
                return await _resolve(session, tenant_id, claims, name=name,
                                      language=language, source=source)
        except IntegrityError:
            # Another request attached one of these identities this instant: read again.
            continue
    return await _resolve(session, tenant_id, claims, name=name, language=language,
                          source=source)


async def _resolve(session: AsyncSession, tenant_id: uuid.UUID, claims: list[Claim], *,
                   name: str | None, language: str | None, source: str) -> Person:
    claims = sorted(claims, key=lambda c: RANK[c.kind])
    held = {(i.kind, i.value): i for i in await repo.find_identities(
        session, tenant_id, [(c.kind.value, c.value) for c in claims])}
    owner: uuid.UUID | None = None
    for claim in claims:
        identity = held.get((claim.kind.value, claim.value))
        if identity is not None:
            owner = identity.person_id
            break
    created = owner is None
    if owner is None:
        person = Person(tenant_id=tenant_id, name=(name or "").strip()[:200],
                        language=language, source=source)
        session.add(person)
        await session.flush()
    else:
        person = await repo.get_person(session, tenant_id, owner)
    strongest_verified = any(c.verified and c.kind is not IdentityKind.VISITOR
                             and held.get((c.kind.value, c.value)) is not None
                             and held[(c.kind.value, c.value)].person_id == person.id
                             for c in claims) or created
    changed = created
    for claim in claims:
        identity = held.get((claim.kind.value, claim.value))
        if identity is None:
            session.add(Identity(tenant_id=tenant_id, person_id=person.id,
                                 kind=claim.kind.value, value=claim.value,
                                 verified=claim.verified))
            changed = True
        elif identity.person_id != person.id:
            if claim.kind is IdentityKind.VISITOR and strongest_verified:
                identity.person_id = person.id
                session.add(identity)
                changed = True
        elif claim.verified and not identity.verified:
            identity.verified = True
            session.add(identity)
    if name and name.strip() and (not person.name or any(
            c.kind is IdentityKind.VERIFIED for c in claims)):
        changed = changed or person.name != name.strip()[:200]
        person.name = name.strip()[:200]
    if language and not person.language:
        person.language = language
    person.last_contact_at = utcnow()
    session.add(person)
    await session.flush()
    if changed:
        await service.refresh_search_text(session, person)
        await session.flush()
        out = await service.person_out(session, person)
        await events.emit(session, tenant_id,
                          "person.created" if created else "person.updated",
                          service.event_data(out), person_id=person.id)
    return person


async def attach(session: AsyncSession, contact: Contact, claims: list[Claim], *,
                 name: str | None = None, language: str | None = None) -> Person | None:
    """Match ``contact`` to its person and record it on the contact (the screen pop reads
    it); webhooks hear of the contact with its person."""
    person = await resolve(session, contact.tenant_id, claims, name=name, language=language,
                           source=contact.channel)
    if person is None:
        return None
    contact.person_id = person.id
    session.add(contact)
    await session.flush()
    await events.emit(session, contact.tenant_id, "contact.created", {
        "contact_id": str(contact.id), "channel": contact.channel,
        "created_at": contact.created_at.isoformat(),
        "person": service.event_data(await service.person_out(session, person))},
        person_id=person.id)
    return person


# --- what the channels call ------------------------------------------------------------------


async def person_for_phone(session: AsyncSession, tenant_id: uuid.UUID, number: str, *,
                           name: str | None = None) -> Person | None:
    """The person calling from (or to be called back at) ``number``, created when new;
    None when the number is not a valid phone number."""
    region = await service.region_of(session, tenant_id)
    return await resolve(session, tenant_id, claims_from(region=region, phone=number),
                         name=name, source="phone")


async def person_for_email(session: AsyncSession, tenant_id: uuid.UUID, address: str, *,
                           name: str | None = None) -> Person | None:
    return await resolve(session, tenant_id, claims_from(email=address), name=name,
                         source="email")


async def match_contact(session: AsyncSession, contact: Contact, *, email: str | None = None,
                        phone: str | None = None, visitor_id: uuid.UUID | str | None = None,
                        verified_id: str | None = None, external_id: str | None = None,
                        email_verified: bool = False, name: str | None = None,
                        language: str | None = None) -> Person | None:
    """One call for any channel (forms, IVR input, API): match what is known and record
    the person on the contact."""
    region = await service.region_of(session, contact.tenant_id)
    claims = claims_from(region=region, email=email, phone=phone, visitor_id=visitor_id,
                         verified_id=verified_id, external_id=external_id,
                         email_verified=email_verified or verified_id is not None)
    return await attach(session, contact, claims, name=name, language=language)


async def match_visitor_contact(session: AsyncSession, contact: Contact, visitor: Visitor, *,
                                attributes: dict[str, Any] | None = None,
                                email: str | None = None,
                                name: str | None = None) -> Person | None:
    """A website visitor's contact: their signed identity when the site vouched for them,
    else what they typed (a form's name and address, or the page's attributes), which is
    kept as unverified."""
    given = attributes or {}
    if visitor.verified and visitor.external_id:
        return await match_contact(
            session, contact, verified_id=visitor.external_id, email=visitor.email,
            email_verified=True, visitor_id=visitor.id, name=visitor.name or name,
            language=visitor.language)
    typed_email = email or _text(given.get("email"))
    typed_name = name or _text(given.get("name"))
    return await match_contact(session, contact, visitor_id=visitor.id, email=typed_email,
                               phone=_text(given.get("phone")), name=typed_name,
                               language=visitor.language)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
