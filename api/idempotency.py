"""``Idempotency-Key`` for create requests.

A client that retries a create with the same key gets the first response again instead of
a second object. The stored response is written in the same transaction as the object, so
either both exist or neither. Reusing a key with a different body is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from plateaux.api.models import IdempotencyRecord
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import BadRequest, Conflict

HEADER = "Idempotency-Key"


def _hash_body(body: Any) -> str:
    raw = json.dumps(jsonable_encoder(body), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


async def idempotent_create(
    request: Request,
    session: AsyncSession,
    subject: Subject,
    body: Any,
    create: Callable[[], Awaitable[Any]],
    *,
    status_code: int = 201,
) -> JSONResponse:
    key = request.headers.get(HEADER)
    if key is None:
        result = await create()
        return JSONResponse(jsonable_encoder(result), status_code=status_code)
    key = key.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise BadRequest("The Idempotency-Key must be 1 to 255 printable characters.")
    request_hash = _hash_body(body)
    existing = (
        await session.scalars(
            select(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == subject.tenant_id,
                IdempotencyRecord.principal == subject.principal_key,
                IdempotencyRecord.key == key,
            )
        )
    ).first()
    if existing is not None:
        if existing.request_hash != request_hash or existing.path != request.url.path:
            raise Conflict("This Idempotency-Key was already used with a different request.")
        return JSONResponse(
            existing.body, status_code=existing.status_code, headers={"Idempotent-Replayed": "true"}
        )
    result = jsonable_encoder(await create())
    session.add(
        IdempotencyRecord(
            tenant_id=subject.tenant_id,
            principal=subject.principal_key,
            key=key,
            method=request.method,
            path=request.url.path,
            request_hash=request_hash,
            status_code=status_code,
            body=result,
        )
    )
    try:
        await session.flush()
    except IntegrityError as exc:
        # A concurrent request with the same key won the race; its result stands.
        raise Conflict("A request with this Idempotency-Key is already being processed.") from exc
    return JSONResponse(result, status_code=status_code)
