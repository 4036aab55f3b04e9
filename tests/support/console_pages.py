"""Driving the server-rendered sign-in and console pages over HTTP, as a browser would."""

from __future__ import annotations

import re
import threading
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
from aiosmtpd.controller import Controller

from tests.support.servers import free_port

_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF_FIELD.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


async def sign_in(
    client: httpx.AsyncClient, slug: str, email: str, password: str, *, next: str | None = None
) -> httpx.Response:
    """Open the sign-in page (which sets the form cookie) and post the form."""
    page = await client.get(f"/t/{slug}/login", params={"next": next} if next else None)
    assert page.status_code == 200, page.text
    data = {
        "csrf_token": csrf_from(page.text),
        "email": email,
        "password": password,
        "next": next or "",
    }
    return await client.post(f"/t/{slug}/login", data=data)


async def operator_sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/operator/login")
    assert page.status_code == 200, page.text
    return await client.post(
        "/operator/login",
        data={"csrf_token": csrf_from(page.text), "email": email, "password": password},
    )


async def page_csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_from(page.text)


class _Collector:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted"


class SmtpSink:
    """An SMTP server on loopback that keeps every message it receives."""

    def __init__(self) -> None:
        self.port = free_port()
        self._collector = _Collector()
        self._controller = Controller(self._collector, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[Message]:
        with self._collector.lock:
            return list(self._collector.messages)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    @staticmethod
    def body(message: Message) -> str:
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode(message.get_content_charset() or "utf-8")
