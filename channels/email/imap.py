"""The IMAP side, through aioimaplib: connect (implicit TLS, or plain where private hosts
are allowed), log in, select the folder (its UIDVALIDITY), list UIDs after a point, fetch
messages by UID without marking them read, and wait for new mail with IDLE.

aioimaplib has no STARTTLS; IMAP over implicit TLS (port 993) is what every provider
offers, so mailboxes use that.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aioimaplib

from plateaux.channels.email.models import Security
from plateaux.channels.email.net import ConnectionProblem, check_host, describe, tls_context

_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(.*?\{(\d+)\}$")
_UID = re.compile(rb"\bUID (\d+)")
_VALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    security: str
    username: str
    password: str
    folder: str


def _text(lines: list[bytes | bytearray]) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines)[:300]


def _quote_folder(folder: str) -> str:
    escaped = folder.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


class ImapSession:
    def __init__(self, client: aioimaplib.IMAP4) -> None:
        self.client = client

    async def select(self, folder: str) -> int:
        """Select ``folder``; its UIDVALIDITY."""
        response = await self.client.select(_quote_folder(folder))
        if response.result != "OK":
            raise ConnectionProblem("folder", f"the folder '{folder}' cannot be opened: "
                                    f"{_text(response.lines)}")
        for line in response.lines:
            match = _VALIDITY.search(bytes(line))
            if match:
                return int(match.group(1))
        raise ConnectionProblem("protocol", "the server gave no UIDVALIDITY")

    async def uids_after(self, last_uid: int) -> list[int]:
        response = await self.client.uid_search(f"UID {last_uid + 1}:*")
        if response.result != "OK":
            raise ConnectionProblem("protocol", f"UID SEARCH failed: {_text(response.lines)}")
        found: list[int] = []
        for line in response.lines[:-1]:
            found.extend(int(token) for token in bytes(line).split() if token.isdigit())
        # "n:*" always names the last message, even below n.
        return sorted(uid for uid in set(found) if uid > last_uid)

    async def fetch(self, uids: list[int], *, headers_only: bool = False) -> dict[int, bytes]:
        """The raw messages (or their Message-ID header) by UID, leaving them unread."""
        if not uids:
            return {}
        part = "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]" if headers_only else "BODY.PEEK[]"
        response = await self.client.uid("fetch", ",".join(map(str, uids)), f"(UID {part})")
        if response.result != "OK":
            raise ConnectionProblem("protocol", f"UID FETCH failed: {_text(response.lines)}")
        found: dict[int, bytes] = {}
        lines = response.lines
        index = 0
        while index < len(lines):
            line = lines[index]
            head = bytes(line) if isinstance(line, bytes | bytearray) else b""
            if (isinstance(line, bytes) and _FETCH_HEAD.match(head) and index + 1 < len(lines)
                    and isinstance(lines[index + 1], bytearray)):
                data = bytes(lines[index + 1])
                tail = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
                match = _UID.search(head) or _UID.search(tail)
                if match:
                    found[int(match.group(1))] = data
                index += 2
                continue
            index += 1
        return found

    async def noop(self) -> None:
        """Let the server tell of mail that arrived since the last command."""
        await self.client.noop()

    async def wait_for_mail(self, seconds: float) -> bool:
        """IDLE until the server announces new mail (True) or ``seconds`` pass (False)."""
        idle = await self.client.idle_start(timeout=seconds)
        try:
            pushed = await self.client.wait_server_push(timeout=seconds + 10)
        finally:
            self.client.idle_done()
            with contextlib.suppress(asyncio.TimeoutError, aioimaplib.AioImapException):
                await asyncio.wait_for(idle, 10)
        if not isinstance(pushed, list):
            return False
        return any(b"EXISTS" in bytes(line) for line in pushed)

    @property
    def can_idle(self) -> bool:
        return self.client.has_capability("IDLE")


@contextlib.asynccontextmanager
async def imap_session(config: ImapConfig, *, allow_private: bool,
                       timeout: float) -> AsyncIterator[ImapSession]:
    """A logged-in session (folder not yet selected); ConnectionProblem says what failed."""
    if config.security != Security.SSL and not allow_private:
        raise ConnectionProblem("tls", "plain IMAP is refused: use TLS (port 993)")
    await check_host(config.host, config.port, allow_private=allow_private, timeout=timeout)
    try:
        if config.security == Security.SSL:
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(
                host=config.host, port=config.port, timeout=timeout, ssl_context=tls_context())
        else:
            client = aioimaplib.IMAP4(host=config.host, port=config.port, timeout=timeout)
        await client.wait_hello_from_server()
    except Exception as exc:
        raise describe(exc) from exc
    try:
        try:
            response = await client.login(config.username, config.password)
        except Exception as exc:
            raise describe(exc) from exc
        if response.result != "OK":
            raise ConnectionProblem("login", f"the server refused the login: "
                                    f"{_text(response.lines)}")
        yield ImapSession(client)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.logout(), 5)
