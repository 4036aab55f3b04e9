"""Asking the tenant's own CRM about a person: a signed POST with the person's identities
to the tenant's lookup address, answered within a short timeout with a JSON object that
the customer panel shows as it is (text only). The last answer is kept, so the panel
still has something when the tenant's CRM is slow or down."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.crm import repository as repo
from plateaux.crm import service
from plateaux.crm.models import IdentityKind, Person
from plateaux.crm.outbound import BlockedAddress, OutboundError, post
from plateaux.crm.schemas import ExternalOut
from plateaux.crm.signing import HEADER, sign
from plateaux.crm.webhooks import USER_AGENT, guard_of
from plateaux.platform.security import decrypt_secret
from plateaux.platform.services import Services

MAX_FIELDS = 50


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    """At most a few dozen fields of text, numbers or lists of them: what a panel shows."""
    shown: dict[str, Any] = {}
    for key, value in list(data.items())[:MAX_FIELDS]:
        name = str(key)[:80]
        if isinstance(value, str | int | float | bool) or value is None:
            shown[name] = value if not isinstance(value, str) else value[:1000]
        elif isinstance(value, list):
            shown[name] = [str(v)[:200] for v in value[:20]]
        else:
            shown[name] = orjson.dumps(value).decode()[:1000]
    return shown


async def lookup(session: AsyncSession, services: Services, person: Person) -> ExternalOut:
    settings = await repo.settings_of(session, person.tenant_id)
    if not settings.lookup_url or not settings.lookup_secret_encrypted:
        return ExternalOut(status="not_configured")
    identities = await repo.identities_of(session, person.tenant_id, [person.id])
    body = orjson.dumps({
        "person_id": str(person.id), "name": person.name,
        "identities": [{"kind": i.kind, "value": i.value} for i in identities
                       if i.kind != IdentityKind.VISITOR.value]})
    secret = decrypt_secret(services.settings.secret_key, settings.lookup_secret_encrypted)
    cached = await repo.external_record(session, person.tenant_id, person.id)
    try:
        reply = await post(guard_of(services), settings.lookup_url, content=body, headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "User-Agent": USER_AGENT, HEADER: sign(secret, body)},
            timeout=services.settings.crm_lookup_timeout_seconds)
    except (BlockedAddress, OutboundError) as error:
        return _fallback(cached, str(getattr(error, "detail", error))[:300])
    if reply.status_code == 404:
        return ExternalOut(status="not_found")
    if reply.status_code != 200:
        return _fallback(cached, f"HTTP {reply.status_code}")
    try:
        data = orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return _fallback(cached, "The answer is not JSON.")
    if not isinstance(data, dict):
        return _fallback(cached, "The answer is not a JSON object.")
    record = await service.remember_external(session, person, _flatten(data))
    return ExternalOut(status="ok", data=record.data, fetched_at=record.fetched_at)


def _fallback(cached: Any, error: str) -> ExternalOut:
    if cached is None:
        return ExternalOut(status="unavailable", error=error)
    return ExternalOut(status="cached", data=cached.data, fetched_at=cached.fetched_at,
                       error=error)
