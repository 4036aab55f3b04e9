"""Canned responses and wrap-up codes: agents read them, admins manage them."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel

from plateaux.api.idempotency import idempotent_create
from plateaux.channels.chat import repository as chat_repo
from plateaux.console import repository as repo
from plateaux.console import service as svc
from plateaux.console.schemas import (
    CannedResponseIn,
    CannedResponseOut,
    CannedResponsePatch,
    WrapUpCodeIn,
    WrapUpCodeOut,
)
from plateaux.platform.auth.subject import Scope, Subject
from plateaux.platform.deps import DbSession, require_scope
from plateaux.platform.errors import NotFound
from plateaux.routing import contact_service

router = APIRouter(tags=["console"])

Reader = Annotated[Subject, Depends(require_scope(Scope.TENANT_READ))]
Writer = Annotated[Subject, Depends(require_scope(Scope.TENANT_WRITE))]
ContactReader = Annotated[Subject, Depends(require_scope(Scope.CONTACTS_READ))]


class ConversationRef(BaseModel):
    id: uuid.UUID


@router.get("/contacts/{contact_id}/conversation", response_model=ConversationRef)
async def conversation_of_contact(contact_id: uuid.UUID, subject: ContactReader,
                                  session: DbSession) -> ConversationRef:
    """Which conversation a chat contact holds, for the console that was offered the
    contact (the conversation itself checks who may read it)."""
    contact = await contact_service.get_contact(session, subject, contact_id)
    conversation = await chat_repo.conversation_of_contact(session, subject.tenant_id,
                                                           contact.id)
    if conversation is None:
        raise NotFound("This contact has no conversation.")
    return ConversationRef(id=conversation.id)


@router.get("/canned-responses", response_model=list[CannedResponseOut])
async def list_canned(subject: Reader, session: DbSession,
                      language: Annotated[str | None, Query(max_length=10)] = None,
                      ) -> list[CannedResponseOut]:
    """Every canned response, by shortcut; with ``language``, those written in it and
    those for any language (a tenant keeps a few dozen, so the list is not paged)."""
    rows = await repo.all_canned(session, subject.tenant_id, language=language)
    return [CannedResponseOut.model_validate(r) for r in rows]


@router.post("/canned-responses", response_model=CannedResponseOut, status_code=201)
async def create_canned(body: CannedResponseIn, request: Request, subject: Writer,
                        session: DbSession) -> Response:
    async def create() -> CannedResponseOut:
        return CannedResponseOut.model_validate(await svc.create_canned(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.patch("/canned-responses/{canned_id}", response_model=CannedResponseOut)
async def update_canned(canned_id: uuid.UUID, body: CannedResponsePatch, subject: Writer,
                        session: DbSession) -> CannedResponseOut:
    row = await repo.get_canned(session, subject.tenant_id, canned_id)
    return CannedResponseOut.model_validate(await svc.update_canned(session, subject, row, body))


@router.delete("/canned-responses/{canned_id}", status_code=204, response_class=Response)
async def delete_canned(canned_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    row = await repo.get_canned(session, subject.tenant_id, canned_id)
    await svc.delete_canned(session, subject, row)
    return Response(status_code=204)


@router.get("/wrap-up-codes", response_model=list[WrapUpCodeOut])
async def list_codes(subject: Reader, session: DbSession) -> list[WrapUpCodeOut]:
    """The codes an agent classifies a finished contact with."""
    return [WrapUpCodeOut.model_validate(r) for r in await repo.all_codes(session,
                                                                         subject.tenant_id)]


@router.post("/wrap-up-codes", response_model=WrapUpCodeOut, status_code=201)
async def create_code(body: WrapUpCodeIn, request: Request, subject: Writer,
                      session: DbSession) -> Response:
    async def create() -> WrapUpCodeOut:
        return WrapUpCodeOut.model_validate(await svc.create_code(session, subject, body))

    return await idempotent_create(request, session, subject, body, create)


@router.delete("/wrap-up-codes/{code_id}", status_code=204, response_class=Response)
async def delete_code(code_id: uuid.UUID, subject: Writer, session: DbSession) -> Response:
    row = await repo.get_code(session, subject.tenant_id, code_id)
    await svc.delete_code(session, subject, row)
    return Response(status_code=204)
