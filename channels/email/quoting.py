"""What is new in a reply: the text above the quoted message and above the signature.

Mail clients quote in a few recognisable ways: lines starting with ">", an attribution
line ("On Mon, Ann wrote:", "Le lun., Ann a écrit :"), Outlook's "-----Original
Message-----" or its "From: … Sent: …" header block, and a line of underscores. A
signature starts at the "-- " line of RFC 3676, or at a phone's "Sent from my …". The
agent sees the new part first and can unfold the rest; nothing is thrown away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ATTRIBUTION = [
    re.compile(r"^\s*on\b.{0,200}\bwrote:\s*$", re.IGNORECASE),
    re.compile(r"^\s*le\b.{0,200}\ba\s+écrit\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*am\b.{0,200}\bschrieb\b.{0,80}:\s*$", re.IGNORECASE),
    re.compile(r"^\s*el\b.{0,200}\bescribió\s*:\s*$", re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(original message|message d'origine|message original)\s*-{2,}\s*$",
               re.IGNORECASE),
    re.compile(r"^\s*-{2,}\s*(forwarded message|message transféré)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^\s*_{20,}\s*$"),
]
# Outlook's quoted header block: "From:" (or "De :") followed within two lines by "Sent:"
# (or "Envoyé :") or "Date:".
_HEADER_FROM = re.compile(r"^\s*\*?(from|de)\s*:\*?\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*\*?(sent|envoyé|date|to|à)\s*:\*?\s", re.IGNORECASE)
# An attribution line that a client wrapped in two: "On Mon, 1 Jan 2024 at 10:00, Ann"
# then "<ann@example.com> wrote:".
_WROTE_TAIL = re.compile(r"\b(wrote|a\s+écrit)\s*:\s*$", re.IGNORECASE)
_WROTE_HEAD = re.compile(r"^\s*(on|le)\b", re.IGNORECASE)

_SIGNATURE = [
    re.compile(r"^-- ?$"),
    re.compile(r"^\s*(sent from my|envoyé de mon|envoyé depuis mon|get outlook for)\b",
               re.IGNORECASE),
]


@dataclass(frozen=True, slots=True)
class Split:
    new: str
    quoted: str
    signature: str


def _quote_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if any(pattern.match(line) for pattern in _ATTRIBUTION):
            return index
        if (_WROTE_TAIL.search(line) and index > 0 and _WROTE_HEAD.match(lines[index - 1])
                and not lines[index - 1].strip().endswith(":")):
            return index - 1
        if _HEADER_FROM.match(line) and any(
                _HEADER_NEXT.match(following) for following in lines[index + 1:index + 3]):
            return index
        if line.startswith(">"):
            # A quoted block that runs to the end (blank lines aside) is the quote; ">"
            # lines interleaved with answers are part of the answer.
            rest = [item for item in lines[index:] if item.strip()]
            if all(item.startswith(">") for item in rest):
                return index
    return None


def _signature_start(lines: list[str]) -> int | None:
    for index, line in enumerate(lines):
        if any(pattern.match(line) for pattern in _SIGNATURE):
            return index
    return None


def split_reply(text: str) -> Split:
    """The text divided into its new part, the signature, and the quoted message."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    quote_at = _quote_start(lines)
    head = lines if quote_at is None else lines[:quote_at]
    quoted = "" if quote_at is None else "\n".join(lines[quote_at:]).strip()
    signature_at = _signature_start(head)
    signature = ""
    if signature_at is not None and signature_at > 0:
        signature = "\n".join(head[signature_at:]).strip()
        head = head[:signature_at]
    new = "\n".join(head).strip()
    if not new:
        # A message that is all quote (a forward with no comment): show it whole.
        return Split(new=text.strip(), quoted="", signature="")
    return Split(new=new, quoted=quoted, signature=signature)
