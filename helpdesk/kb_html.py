"""Article HTML made safe when stored, and the plain text search and chats read.

Authors write HTML; what is stored only ever holds the tags below, links and images only
to http(s) (links also mailto) addresses, no attribute that could run script or style the
page, no relative address (it would resolve against whichever page shows the article).
The plain text is taken from the sanitised HTML with the standard library's parser,
block elements becoming line breaks.
"""

from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser

import nh3

TAGS = frozenset({"p", "br", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "s", "code",
                  "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead",
                  "tbody", "tr", "th", "td", "hr"})
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "th": {"colspan", "rowspan"}, "td": {"colspan", "rowspan"}, "*": set()}
BLOCKS = frozenset({"p", "br", "h2", "h3", "h4", "li", "tr", "blockquote", "pre", "hr",
                    "table", "ul", "ol"})
LINK_REL = "noopener noreferrer nofollow"


def sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(TAGS),
        clean_content_tags={"script", "style"},
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel=LINK_REL,
        strip_comments=True,
    ).strip()


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(safe_html: str) -> str:
    parser = _Text()
    parser.feed(safe_html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def slugify(title: str) -> str:
    ascii_only = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_only.lower()).strip("-")
    return slug[:80].rstrip("-") or "article"
