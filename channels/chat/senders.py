"""Who writes on a chat WebSocket, authorised when it opens and checked on every write
without a database round trip where nothing can have changed.

A visitor's right to write is fixed when the socket opens (the conversation is theirs, on
that site); the statement that stores a message checks it again, with the conversation
being open, at no extra cost (``writer.py``). An agent's depends on the routing contact:
transferred, re-queued or given to someone else, it changes at any moment, so each write
asks the process's live routing state (in memory, kept current by the routing engine) who
serves the contact; only a contact that has left it sends the check to the database.
The agent's name and role are read once per connection.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod

from sqlalchemy.ext.asyncio import AsyncSession

from plateaux.channels.chat import repository as repo
from plateaux.channels.chat import service as svc
from plateaux.channels.chat.models import AuthorType, Conversation
from plateaux.platform.auth.subject import Subject
from plateaux.platform.errors import Forbidden
from plateaux.platform.services import Services


class Sender(ABC):
    """One side of one conversation, as its WebSocket was authorised."""

    tenant_id: uuid.UUID
    conversation_id: uuid.UUID
    actor: svc.Actor  # as first authorised; ``current()`` says who writes now
    audiences: list[str]  # what the socket hears

    # For a visitor, (visitor id, widget id): the conversation the statement storing a
    # message may write to must still be theirs.
    owner: tuple[uuid.UUID, uuid.UUID] | None = None

    @property
    @abstractmethod
    def who(self) -> str:
        """The person behind the socket, for limits on how often they open one."""

    @abstractmethod
    async def current(self) -> svc.Actor:
        """Who writes now; Forbidden when this side may no longer write."""

    @abstractmethod
    async def load(self, session: AsyncSession) -> tuple[Conversation, svc.Actor]:
        """The conversation, read in this unit of work, and who writes (checked there)."""


class VisitorSender(Sender):
    def __init__(self, conversation: Conversation, actor: svc.Actor, *,
                 widget_id: uuid.UUID, visitor_id: uuid.UUID, audiences: list[str]) -> None:
        self.tenant_id = conversation.tenant_id
        self.conversation_id = conversation.id
        self.actor = actor
        self.audiences = audiences
        self.owner = (visitor_id, widget_id)

    @property
    def who(self) -> str:
        return f"visitor:{self.owner[0] if self.owner else None}"

    async def current(self) -> svc.Actor:
        return self.actor

    async def load(self, session: AsyncSession) -> tuple[Conversation, svc.Actor]:
        found = await repo.get_conversation(session, self.tenant_id, self.conversation_id)
        if (found.visitor_id, found.widget_id) != self.owner:
            raise Forbidden("Not your conversation.")
        return found, self.actor


class AgentSender(Sender):
    def __init__(self, services: Services, subject: Subject, conversation: Conversation,
                 actor: svc.Actor, *, audiences: list[str]) -> None:
        self.services = services
        self.subject = subject
        self.tenant_id = conversation.tenant_id
        self.conversation_id = conversation.id
        self.contact_id = conversation.contact_id
        self.actor = actor
        self.audiences = audiences
        self.supervises = svc.supervises(subject)

    @property
    def who(self) -> str:
        return self.subject.principal_key

    async def current(self) -> svc.Actor:
        routing = self.services.routing
        if routing is not None and self.contact_id is not None:
            router = await routing.router(self.tenant_id)
            known, agent = svc.live_assignment(router, self.contact_id)
            if known:
                return self._as(agent)
        async with self.services.unit_of_work(tenant_id=self.tenant_id) as session:
            _, actor = await self.load(session)
        return actor

    def _as(self, serving: uuid.UUID | None) -> svc.Actor:
        """The same rule as ``service.agent_actor``, with the name read when it opened."""
        mine = self.subject.user_id is not None and self.subject.user_id == serving
        if not mine and not self.supervises:
            raise Forbidden("Only the agent serving this conversation, or a supervisor, may.")
        author = AuthorType.AGENT if mine else AuthorType.SUPERVISOR
        if author is not self.actor.author_type:
            self.actor = svc.Actor(author_type=author, id=self.actor.id, name=self.actor.name)
        return self.actor

    async def load(self, session: AsyncSession) -> tuple[Conversation, svc.Actor]:
        conversation, actor = await svc.conversation_for_agent(session, self.subject,
                                                               self.conversation_id)
        self.actor = actor
        return conversation, actor
