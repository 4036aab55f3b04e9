"""Default security headers on every response that does not set its own.

Console pages are served with a strict Content-Security-Policy (no inline script, no
framing, forms only to ourselves); routes that must differ (the embeddable widget, the API
reference that loads its viewer) set their own policy, which this leaves alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONSOLE_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)
_DEFAULTS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
# Swagger UI's page loads its script and styles from a CDN.
_NO_CSP_PATHS = ("/api/v1/docs",)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in _DEFAULTS:
                    if name not in present:
                        headers.append((name, value))
                if b"content-security-policy" not in present and not path.startswith(
                    _NO_CSP_PATHS
                ):
                    headers.append((b"content-security-policy", CONSOLE_CSP.encode()))
                if b"x-frame-options" not in present and not path.startswith("/embed/"):
                    headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
