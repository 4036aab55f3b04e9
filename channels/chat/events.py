"""What chat publishes on the event bus, and the frames clients receive.

Every event's payload is the frame itself (``{"type": ...}``), so forwarding is one step.
Audiences: ``conversation:<id>`` carries what the visitor may see; ``conversation:<id>:agents``
carries what only the agent and the supervisors watching see (notes, whispers, ratings).
The agents' sockets subscribe to both, so an event for everyone is published once, on the
public audience (publishing it on both was twice the bus's work for every message).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from plateaux.channels.chat.models import PUBLIC_KINDS, ConversationMessage, MessageKind

MESSAGE = "chat.message"
TYPING = "chat.typing"
READ = "chat.read"
ENDED = "chat.ended"
RATED = "chat.rated"


def public_audience(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}"


def agents_audience(conversation_id: uuid.UUID) -> str:
    return f"conversation:{conversation_id}:agents"


def contact_audience(contact_id: uuid.UUID) -> str:
    return f"contact:{contact_id}"


def message_frame(message: ConversationMessage) -> dict[str, Any]:
    return new_message_frame(
        seq=message.seq, kind=message.kind, author_type=message.author_type,
        author_name=message.author_name, body=message.body, text=message.text,
        attachments=message.attachments, created_at=message.created_at,
        client_id=message.client_id)


def new_message_frame(*, seq: int, kind: str, author_type: str, author_name: str | None,
                      body: str, text: str, attachments: list[dict[str, Any]] | None,
                      created_at: datetime, client_id: str | None) -> dict[str, Any]:
    """The ``message`` frame, from a stored row or from what was just stored."""
    return {
        "type": "message",
        "seq": seq,
        "kind": kind,
        "author_type": author_type,
        "author_name": author_name,
        "body": body,
        "text": text,
        "attachments": list(attachments or []),
        "created_at": created_at.isoformat(),
        "client_id": client_id,
    }


def read_frame(by_visitor: bool, seq: int) -> dict[str, Any]:
    """A read receipt: one side has read up to ``seq``."""
    return {"type": "read", "reader": "visitor" if by_visitor else "agent", "seq": seq}


def is_public(kind: str) -> bool:
    return MessageKind(kind) in PUBLIC_KINDS


def audience_for(conversation_id: uuid.UUID, kind: str) -> str:
    """Where a message of this kind goes: everyone for public kinds, else the agents."""
    if is_public(kind):
        return public_audience(conversation_id)
    return agents_audience(conversation_id)
