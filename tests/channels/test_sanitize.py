"""User content is sanitised when stored: allowed tags only, safe links, escaped text."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from plateaux.channels.sanitize import clean_html, plain_text, render_text


def test_script_tags_and_their_content_are_removed() -> None:
    assert clean_html("<p>hi</p><script>alert(1)</script>") == "<p>hi</p>"
    assert "alert" not in clean_html("<style>body{}</style><b>x</b><script>alert(1)</script>")


@pytest.mark.parametrize("href", [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,<script>x</script>",
    "vbscript:x", "/relative/path", "//evil.example/x",
])
def test_unsafe_links_lose_their_address(href: str) -> None:
    cleaned = clean_html(f'<a href="{href}">click</a>')
    assert "href" not in cleaned
    assert "click" in cleaned


def test_safe_links_open_in_a_new_tab_without_referrer() -> None:
    cleaned = clean_html('<a href="https://example.com/a" title="t">x</a>')
    assert 'href="https://example.com/a"' in cleaned
    assert 'target="_blank"' in cleaned
    assert 'rel="nofollow noopener noreferrer"' in cleaned
    assert "title" not in cleaned
    assert 'href="mailto:a@example.com"' in clean_html('<a href="mailto:a@example.com">m</a>')


def test_attributes_are_stripped() -> None:
    cleaned = clean_html('<p style="color:red" onclick="x()" class="c" id="i">t</p>'
                         '<img src="x" onerror="alert(1)"><b onmouseover="y">b</b>')
    assert cleaned == "<p>t</p><b>b</b>"


def test_only_the_chat_tags_are_kept() -> None:
    source = ("<b>b</b><strong>s</strong><i>i</i><em>e</em><code>c</code><pre>p</pre>"
              "<br><p>p</p><ul><li>l</li></ul><ol><li>o</li></ol>")
    assert clean_html(source) == source
    assert clean_html("<h1>t</h1><iframe src=x></iframe><table><tr><td>c</td></tr></table>"
                      ) == "tc"


def test_typed_text_is_escaped() -> None:
    body = render_text('<script>alert("x")</script> & <b>not bold</b>')
    assert "<script" not in body and "<b>" not in body
    assert "&lt;script&gt;" in body and "&amp;" in body
    assert plain_text(body) == '<script>alert("x")</script> & <b>not bold</b>'


def test_urls_in_text_become_safe_links() -> None:
    body = render_text("see https://example.com/a?b=1&c=2. or www.example.org, ok")
    assert ('<a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
            'rel="nofollow noopener noreferrer">https://example.com/a?b=1&amp;c=2</a>.') in body
    assert '<a href="https://www.example.org"' in body
    assert body.endswith(", ok")


def test_a_url_cannot_break_out_of_its_attribute() -> None:
    body = render_text('https://example.com/"onmouseover="alert(1) x')
    attributes = _attributes(body)
    assert attributes == [("a", ["href", "target", "rel"])]
    assert body.startswith('<a href="https://example.com/&quot;onmouseover=&quot;')


def _attributes(fragment: str) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, [name for name, _ in attrs]))

    Collect().feed(fragment)
    return found


def test_javascript_in_text_is_not_a_link() -> None:
    assert "<a" not in render_text("javascript:alert(1)")


def test_emoji_and_line_breaks_pass_through() -> None:
    assert render_text("Bonjour 😀👍🏽\nça va ?") == "Bonjour 😀👍🏽<br>ça va ?"
    assert plain_text(render_text("a\nb 😀")) == "a\nb 😀"
