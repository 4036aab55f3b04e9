"""A real SMTP server for the email tests (aiosmtpd on a loopback port) that keeps what it
receives, and can be told to refuse mail for a while."""

from __future__ import annotations

import asyncio
import email
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class SinkHandler:
    received: list[Received] = field(default_factory=list)
    refuse_with: str | None = None  # e.g. "451 try later" or "550 no such user"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_with:
            return self.refuse_with
        parsed = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(sender=envelope.mail_from,
                                      recipients=list(envelope.rcpt_tos), message=parsed))
        return "250 OK"


@dataclass
class SmtpSink:
    host: str
    port: int
    handler: SinkHandler

    def to(self, address: str) -> list[EmailMessage]:
        return [r.message for r in self.handler.received if address in r.recipients]

    async def wait_for(self, address: str, count: int = 1,
                       timeout: float = 15) -> list[EmailMessage]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.to(address)) < count:
            assert asyncio.get_running_loop().time() < deadline, f"no mail to {address}"
            await asyncio.sleep(0.05)
        return self.to(address)

    @classmethod
    @contextmanager
    def start(cls) -> Iterator[SmtpSink]:
        handler = SinkHandler()
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            yield cls(host="127.0.0.1", port=port, handler=handler)
        finally:
            controller.stop()
