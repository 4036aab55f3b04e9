"""Reading a fetched message with the standard library's modern email API.

Everything an agent or the threading needs is taken out once, here: identifiers, people,
the text (and the text of the HTML when there is no plain alternative), the sanitised
HTML, the new part of a reply, attachments and inline images within the size limit, and
whether the message is automatic. A message this cannot read raises
:class:`Unreadable` and goes to the quarantine with its raw source.
"""

from __future__ import annotations

import asyncio
import hashlib
import html as html_lib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime

import nh3

from plateaux.channels.email import quoting
from plateaux.channels.email.addresses import id_list, normalize_address, normalize_id
from plateaux.channels.email.classify import Bounce, classify, read_bounce
from plateaux.channels.email.models import AutoKind

SYNTHETIC_DOMAIN = "synthetic.plateaux.invalid"

# Email HTML: structure and emphasis, tables, quotes and inline images; no style, no
# script, no forms, no remote images (they tell the sender when the mail is read).
EMAIL_TAGS = {"a", "b", "strong", "i", "em", "u", "s", "code", "pre", "br", "p", "div", "span",
              "ul", "ol", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
              "table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "img", "sub",
              "sup", "small", "font"}
EMAIL_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt", "width", "height"},
                    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}, "*": set()}


class Unreadable(ValueError):
    """A message that cannot be read into a conversation (kept in quarantine)."""


@dataclass
class Part:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None
    inline: bool


@dataclass
class ParsedMail:
    message_key: str
    message_id: str
    synthetic_id: bool
    in_reply_to: str | None
    references: list[str]
    from_address: str
    from_name: str | None
    reply_to: str | None
    to: list[str]
    cc: list[str]
    recipients: list[str]  # every address it was sent to, delivery headers included
    subject: str
    date: datetime | None
    text: str
    html: str | None
    new_text: str
    quoted_text: str
    signature: str
    parts: list[Part] = field(default_factory=list)
    skipped_parts: list[str] = field(default_factory=list)  # over the size limit
    auto_kind: AutoKind | None = None
    bounce: Bounce | None = None


def _keep_image_source(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.lower().startswith("cid:"):
        return None
    return value


def sanitize_html(value: str) -> str:
    return nh3.clean(
        value, tags=EMAIL_TAGS, attributes=EMAIL_ATTRIBUTES,
        clean_content_tags={"script", "style", "head", "title"},
        url_schemes={"http", "https", "mailto", "cid"}, url_relative="deny",
        link_rel="nofollow noopener noreferrer", strip_comments=True,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        attribute_filter=_keep_image_source)


_BLOCK_END = re.compile(r"</(p|div|li|tr|h[1-6]|blockquote|table)>|<br\s*/?>", re.IGNORECASE)


def html_to_text(value: str, *, drop_quotes: bool = False) -> str:
    """Readable text of HTML: block ends become line breaks, quotes optionally left out."""
    content_tags = {"script", "style", "head", "title"}
    if drop_quotes:
        content_tags.add("blockquote")
    marked = _BLOCK_END.sub(lambda m: m.group(0) + "\n", value)
    stripped = nh3.clean(marked, tags=set(), attributes={}, clean_content_tags=content_tags)
    lines = [line.strip() for line in html_lib.unescape(stripped).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header the registry cannot parse: read it raw
        value = None
        for key, raw in message.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    return "" if value is None else " ".join(str(value).split())


def _addresses(message: Message, *names: str) -> list[tuple[str, str]]:
    values = [_header(message, name) for name in names]
    found = []
    for name, address in getaddresses([v for v in values if v]):
        if "@" in address:
            found.append((name.strip(), normalize_address(address)))
    return found


def _text_of(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return content if isinstance(content, str) else ""


def synthetic_key(message: Message, raw: bytes) -> str:
    """A stable id for a message without a usable Message-ID: the same message fetched
    again (another UID, another UIDVALIDITY) hashes the same; delivery headers added on
    the way (Received, Return-Path) are left out."""
    digest = hashlib.sha256()
    for name in ("From", "To", "Cc", "Date", "Subject"):
        digest.update(name.encode() + b":" + _header(message, name).encode() + b"\n")
    split = re.search(rb"\r?\n\r?\n", raw)
    body = raw[split.end():] if split else b""
    digest.update(b"\n".join(line.rstrip() for line in body.splitlines()).strip())
    return f"<{digest.hexdigest()[:40]}@{SYNTHETIC_DOMAIN}>"


def _filename(part: Message, index: int) -> str:
    name = part.get_filename() or ""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>').strip()
    if cleaned:
        return cleaned[:200]
    subtype = part.get_content_subtype() or "bin"
    return f"part-{index}.{'eml' if part.get_content_type() == 'message/rfc822' else subtype}"


def _leaves(message: Message) -> list[Message]:
    """Leaf parts in order; an attached message is one leaf (not descended into)."""
    if message.get_content_type() == "message/rfc822" or not message.is_multipart():
        return [message]
    found: list[Message] = []
    payload = message.get_payload()
    for sub in payload if isinstance(payload, list) else []:
        if isinstance(sub, Message):
            found.extend(_leaves(sub))
    return found


def _collect_parts(message: EmailMessage, bodies: set[int], max_bytes: int,
                   ) -> tuple[list[Part], list[str]]:
    parts: list[Part] = []
    skipped: list[str] = []
    for index, leaf in enumerate(_leaves(message)):
        if id(leaf) in bodies:
            continue
        kind = leaf.get_content_type()
        if kind in ("message/delivery-status", "text/rfc822-headers"):
            continue
        disposition = (leaf.get_content_disposition() or "").lower()
        if kind.startswith("text/") and not disposition and not leaf.get_filename():
            continue  # an extra text part of the body, not a file
        if kind == "message/rfc822":
            payload = leaf.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            data = inner.as_bytes() if isinstance(inner, Message) else b""
        else:
            decoded = leaf.get_payload(decode=True)
            data = decoded if isinstance(decoded, bytes) else b""
        name = _filename(leaf, index)
        if len(data) > max_bytes:
            skipped.append(name)
            continue
        if not data:
            continue
        content_id = normalize_id(_header(leaf, "Content-ID"))
        parts.append(Part(filename=name, content_type=kind[:100], data=data,
                          content_id=content_id,
                          inline=disposition == "inline" or (content_id is not None
                                                             and disposition != "attachment")))
    return parts, skipped


def parse(raw: bytes, *, own_addresses: frozenset[str], max_attachment_bytes: int,
          ) -> ParsedMail:
    try:
        return _parse(raw, own_addresses, max_attachment_bytes)
    except (Unreadable, KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError):
        raise
    except BaseException as exc:
        # Whatever a library trips on (a Rust panic in the sanitiser is a BaseException),
        # the mail is kept in quarantine rather than retried forever.
        raise Unreadable(f"The message cannot be read: {type(exc).__name__}: {exc}") from exc


def _parse(raw: bytes, own_addresses: frozenset[str], max_attachment_bytes: int) -> ParsedMail:
    if not raw.strip():
        raise Unreadable("The message is empty.")
    message = BytesParser(policy=default_policy).parsebytes(raw)
    if not isinstance(message, EmailMessage):
        raise Unreadable("The message cannot be read.")
    senders = _addresses(message, "From") or _addresses(message, "Sender")
    if not senders:
        raise Unreadable("The message has no sender address (From).")
    from_name, from_address = senders[0]
    declared = normalize_id(_header(message, "Message-ID"))
    key = declared or synthetic_key(message, raw)
    replied = id_list(_header(message, "In-Reply-To"))
    in_reply_to = replied[0] if replied else None
    references = id_list(_header(message, "References"))
    if in_reply_to and in_reply_to not in references:
        references.append(in_reply_to)
    date = None
    try:
        date_header = _header(message, "Date")
        date = parsedate_to_datetime(date_header) if date_header else None
    except (TypeError, ValueError, IndexError):
        date = None
    plain = message.get_body(preferencelist=("plain",))
    rich = message.get_body(preferencelist=("html",))
    text = _text_of(plain) if plain is not None else ""
    html = sanitize_html(_text_of(rich)) if rich is not None else None
    if rich is not None and not text.strip():
        text = html_to_text(_text_of(rich))
    if plain is not None:
        split = quoting.split_reply(text)
    else:
        new = html_to_text(_text_of(rich), drop_quotes=True) if rich is not None else ""
        split = quoting.split_reply(new or text)
        if new and split.new != text.strip():
            split = quoting.Split(new=split.new, signature=split.signature,
                                  quoted=text[len(new):].strip() if text.startswith(new)
                                  else split.quoted)
    bodies = {id(part) for part in (plain, rich) if part is not None}
    parts, skipped = _collect_parts(message, bodies, max_attachment_bytes)
    auto_kind = classify(message, sender=from_address, own_addresses=own_addresses)
    reply_to = _addresses(message, "Reply-To")
    recipients = [address for _, address in _addresses(
        message, "To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")]
    return ParsedMail(
        message_key=key, message_id=_header(message, "Message-ID")[:500] or key,
        synthetic_id=declared is None, in_reply_to=in_reply_to, references=references[-50:],
        from_address=from_address[:320], from_name=(from_name or None) and from_name[:200],
        reply_to=reply_to[0][1] if reply_to else None,
        to=[a for _, a in _addresses(message, "To")],
        cc=[a for _, a in _addresses(message, "Cc")], recipients=recipients,
        subject=_header(message, "Subject")[:500], date=date, text=text, html=html,
        new_text=split.new, quoted_text=split.quoted, signature=split.signature,
        parts=parts, skipped_parts=skipped, auto_kind=auto_kind,
        bounce=read_bounce(message) if auto_kind is AutoKind.BOUNCE else None)
