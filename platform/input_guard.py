"""Refuse input no text column can hold, and oversized bodies, before any handler runs.

PostgreSQL text cannot contain NUL characters; letting one through would turn a visitor's
odd input into a 500. JSON and form bodies are checked (and size-limited) here, once for
every route; binary uploads (multipart) are left to their own handlers.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_TEXT_BODY = 1_000_000
_JSON_NUL = (b"\x00", b"\\u0000")
_FORM_NUL = (b"\x00", b"%00")


def _problem(status: int, title: str, detail: str) -> tuple[int, bytes]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return status, json.dumps(body).encode()


class InputGuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", ""):
            await self._refuse(send, *_problem(400, "Bad request",
                                               "The address contains a NUL character."))
            return
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind not in (b"application/json", b"application/x-www-form-urlencoded") and not (
            kind.endswith(b"+json")
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_TEXT_BODY:
                await self._refuse(send, *_problem(413, "Payload too large",
                                                   f"The body exceeds {MAX_TEXT_BODY} bytes."))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        markers = _FORM_NUL if kind == b"application/x-www-form-urlencoded" else _JSON_NUL
        if any(marker in body for marker in markers):
            await self._refuse(send, *_problem(422, "Invalid input",
                                               "Text must not contain NUL characters."))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
