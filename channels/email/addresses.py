"""Message-IDs, addresses and the reply token.

A Message-ID is compared in its canonical ``<left@right>`` form: surrounding whitespace,
comments and folding are dropped, so a header padded with spaces is the same id. A value
with no ``@`` or with spaces inside is malformed and the message gets a synthetic id.

Each thread has a reply token carried in the address replies go to
(``support+t-<token>@example.com``): a client that drops In-Reply-To and References still
sends the answer to that address, and the token finds the thread.
"""

from __future__ import annotations

import re
import secrets

_ID = re.compile(r"<([^<>\s]{1,250})>")
_BARE_ID = re.compile(r"^[^<>\s]{1,250}$")
_TOKEN = re.compile(r"\+t-([a-z2-7]{16})@", re.IGNORECASE)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def normalize_id(value: str | None) -> str | None:
    """``<left@right>`` from a Message-ID header, or None when it is missing or malformed."""
    if not value:
        return None
    text = str(value).strip()
    match = _ID.search(text)
    token = match.group(1) if match else (text if _BARE_ID.match(text) else "")
    if "@" not in token or token.startswith("@") or token.endswith("@"):
        return None
    return f"<{token}>"


def id_list(value: str | None) -> list[str]:
    """Every well-formed id in a References or In-Reply-To header, in order, once each."""
    if not value:
        return []
    found = [f"<{token}>" for token in _ID.findall(str(value)) if "@" in token.strip("@")]
    if not found:
        single = normalize_id(value)
        found = [single] if single else []
    return list(dict.fromkeys(found))


def normalize_address(address: str) -> str:
    return address.strip().lower()


def new_reply_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(16))


def reply_address(mailbox_address: str, token: str) -> str:
    local, _, domain = mailbox_address.partition("@")
    return f"{local}+t-{token}@{domain}"


def tokens_in(addresses: list[str]) -> list[str]:
    """Reply tokens found in recipient addresses."""
    return list(dict.fromkeys(match.lower() for address in addresses
                              for match in _TOKEN.findall(address)))
