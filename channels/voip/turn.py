"""ICE servers for one browser leg: STUN, and TURN with credentials made for that leg
alone (the "TURN REST API" shared-secret scheme coturn implements with
``use-auth-secret``): the user name is ``<expiry>:<leg id>`` and the password the
base64 HMAC-SHA1 of that name under the secret shared with coturn. Nothing static ever
reaches a page, and a credential stops working at its expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any


def turn_credentials(secret: str, leg_id: str, *, ttl: int,
                     now: float | None = None) -> tuple[str, str]:
    expiry = int((now if now is not None else time.time()) + ttl)
    username = f"{expiry}:{leg_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(*, stun_urls: list[str], turn_urls: list[str], secret: str | None,
                leg_id: str, ttl: int) -> list[dict[str, Any]]:
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and secret:
        username, credential = turn_credentials(secret, leg_id, ttl=ttl)
        servers.append({"urls": list(turn_urls), "username": username,
                        "credential": credential})
    return servers
