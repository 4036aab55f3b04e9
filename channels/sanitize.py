"""User content made safe when stored: a small allow-list of HTML, safe links, escaped text.

Messages are stored twice: ``text`` (plain, what the user typed) and ``body`` (HTML that
is safe to insert in a page). Whatever comes in, ``body`` only ever holds the tags below,
links only to http, https or mailto addresses that open in a new tab without telling the
target who sent the visitor there. Clients still escape ``text`` when they show it.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = frozenset({"a", "b", "strong", "i", "em", "code", "pre", "br", "p", "ul", "ol",
                          "li"})
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"

# A URL in typed text: a scheme or "www.", then anything up to a space or an angle bracket
# (the text is escaped first, so "<" and ">" arrive as entities and end the match).
_URL = re.compile(r"(?:(?:https?://)|(?:www\.))[^\s<>\"']+", re.IGNORECASE)
_EMAIL = re.compile(r"\bmailto:[^\s<>\"'&]+@[^\s<>\"'&]+", re.IGNORECASE)
# Punctuation that ends a sentence rather than the URL.
_TRAILING = ".,;:!?)]}"


# Built once: a call of nh3.clean with options builds its sanitizer anew each time, which
# was nine tenths of the time of sanitising a chat message.
_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    # "*" replaces the default generic attributes (title, lang) with none.
    attributes={"a": {"href"}, "*": set()},
    url_schemes=set(URL_SCHEMES),
    # A relative address would resolve against whatever page shows the message.
    url_relative="deny",
    link_rel=LINK_REL,
    set_tag_attribute_values={"a": {"target": "_blank"}},
    strip_comments=True,
)
_TEXT_ONLY = nh3.Cleaner(tags=set())


def clean_html(value: str) -> str:
    """Only the allowed tags; every attribute but a link's address dropped; links safe."""
    return _CLEANER.clean(value)


def _link(match: re.Match[str]) -> str:
    # The match is already escaped text: entities (&amp;) stay as they are in the href.
    found = match.group(0)
    tail = ""
    while found and found[-1] in _TRAILING:
        tail = found[-1] + tail
        found = found[:-1]
    if found.endswith("&amp"):  # an escaped "&" cut by the trailing ";" rule
        found, tail = found[:-4], "&amp" + tail
    href = found if "://" in found or found.lower().startswith("mailto:") else f"https://{found}"
    return f'<a href="{href}">{found}</a>{tail}'


def render_text(text: str) -> str:
    """Typed text as safe HTML: escaped, URLs turned into safe links, line breaks kept."""
    escaped = html.escape(text, quote=True)
    linked = _URL.sub(_link, escaped)
    linked = _EMAIL.sub(_link, linked)
    return clean_html(linked.replace("\r\n", "\n").replace("\n", "<br>"))


def plain_text(value: str) -> str:
    """The text of sanitised HTML (for transcripts, notifications and search)."""
    stripped = _TEXT_ONLY.clean(value.replace("<br>", "\n"))
    return html.unescape(stripped)
