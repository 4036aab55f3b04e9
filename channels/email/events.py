"""What the email channel publishes: a thread's new or changed messages, to the agents
watching that thread (``email-thread:<id>``); the payload is the frame the console shows."""

from __future__ import annotations

import uuid
from typing import Any

from plateaux.channels.email.models import EmailMessage

MESSAGE = "email.message"
STATUS = "email.status"


def thread_audience(thread_id: uuid.UUID) -> str:
    return f"email-thread:{thread_id}"


def message_frame(message: EmailMessage) -> dict[str, Any]:
    return {
        "type": "message",
        "id": str(message.id),
        "direction": message.direction,
        "kind": message.kind,
        "from_address": message.from_address,
        "from_name": message.from_name,
        "to": list(message.to or []),
        "cc": list(message.cc or []),
        "subject": message.subject,
        "new_text": message.new_text,
        "quoted_text": message.quoted_text,
        "signature": message.signature,
        "html": message.html,
        "auto_kind": message.auto_kind,
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "author_name": message.author_name,
        "attachments": list(message.attachments or []),
        "created_at": message.created_at.isoformat(),
        "sent_at": message.sent_at.isoformat() if message.sent_at else None,
        "client_id": message.client_id,
    }


def status_frame(message: EmailMessage) -> dict[str, Any]:
    return {"type": "status", "id": str(message.id), "status": message.status,
            "last_error": message.last_error, "attempts": message.attempts,
            "sent_at": message.sent_at.isoformat() if message.sent_at else None}
