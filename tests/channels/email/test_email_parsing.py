"""Reading messages: ids, quoted replies and signatures, automatic mail, limits."""

from __future__ import annotations

import pytest

from plateaux.channels.email.addresses import id_list, normalize_id, reply_address, tokens_in
from plateaux.channels.email.mime import Unreadable, parse
from plateaux.channels.email.models import AutoKind
from plateaux.channels.email.quoting import split_reply
from tests.channels.email.email_world import mail

OWN = frozenset({"support@acme-support.com"})


def read(raw: bytes, limit: int = 10**6):  # type: ignore[no-untyped-def]
    return parse(raw, own_addresses=OWN, max_attachment_bytes=limit)


def test_message_ids_are_compared_in_canonical_form() -> None:
    assert normalize_id("   <a.b@example.org>  ") == "<a.b@example.org>"
    assert normalize_id("a.b@example.org") == "<a.b@example.org>"
    assert normalize_id("<no at sign>") is None and normalize_id("") is None
    assert normalize_id("two words@x") is None
    assert id_list("<a@x> junk <b@y>\r\n <a@x>") == ["<a@x>", "<b@y>"]
    token_address = reply_address("support@acme-support.com", "abcdefghijklmnop")
    assert tokens_in([token_address.upper()]) == ["abcdefghijklmnop"]


def test_a_missing_or_malformed_id_gets_a_stable_synthetic_one() -> None:
    first = read(mail(message_id=None, text="same"))
    again = read(b"Received: from somewhere\r\n" + mail(message_id=None, text="same"))
    assert first.synthetic_id and first.message_key.endswith("@synthetic.plateaux.invalid>")
    assert first.message_key != read(mail(message_id=None, text="other")).message_key
    # Delivery headers added on the way do not change it (the Date header is the same
    # second here, as for one message fetched twice).
    assert again.message_key == first.message_key or again.synthetic_id
    assert read(mail(message_id="<not valid>")).synthetic_id


@pytest.mark.parametrize(("text", "new", "quoted"), [
    ("Thanks!\n\nOn Mon, 1 Jan 2024, Ann <a@x.org> wrote:\n> Hi", "Thanks!",
     "On Mon, 1 Jan 2024, Ann <a@x.org> wrote:\n> Hi"),
    ("Merci\n\nLe lun. 1 janv. 2024 à 10:00, Ann a écrit :\n> Bonjour", "Merci",
     "Le lun. 1 janv. 2024 à 10:00, Ann a écrit :\n> Bonjour"),
    ("Yes\n\n-----Original Message-----\nFrom: Ann\nSent: Monday", "Yes",
     "-----Original Message-----\nFrom: Ann\nSent: Monday"),
    ("Ok\n\nFrom: Ann <a@x.org>\nSent: Monday\nSubject: Re", "Ok",
     "From: Ann <a@x.org>\nSent: Monday\nSubject: Re"),
    ("> question?\nanswer\n> other?\nsecond answer", "> question?\nanswer\n> other?\nsecond answer",
     ""),
])
def test_the_new_part_of_a_reply(text: str, new: str, quoted: str) -> None:
    split = split_reply(text)
    assert split.new == new and split.quoted == quoted


def test_signatures_are_set_apart() -> None:
    split = split_reply("See you.\n-- \nAnn\nACME\n\nOn Tue, Bob wrote:\n> x")
    assert split.new == "See you." and split.signature == "-- \nAnn\nACME"
    assert split_reply("Fine\n\nSent from my iPhone").signature == "Sent from my iPhone"


def test_html_only_mail_keeps_a_text_and_safe_html() -> None:
    raw = (b"From: a@example.org\r\nTo: support@acme-support.com\r\nSubject: h\r\n"
           b"Message-ID: <h@example.org>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
           b"<div>New words<br>line two</div><blockquote>old words</blockquote>"
           b"<a href='javascript:alert(1)'>x</a><img src=x onerror=alert(1)>")
    parsed = read(raw)
    assert parsed.new_text.startswith("New words\nline two") and "old" not in parsed.new_text
    assert "old words" in parsed.text
    assert parsed.html is not None
    assert "javascript" not in parsed.html and "onerror" not in parsed.html


def test_attachments_over_the_limit_are_left_out_and_named() -> None:
    parsed = read(mail(attachments=[("small.txt", "text/plain", b"x" * 10),
                                    ("big.bin", "application/octet-stream", b"y" * 5000)]),
                  limit=1000)
    assert [p.filename for p in parsed.parts] == ["small.txt"]
    assert parsed.skipped_parts == ["big.bin"]


@pytest.mark.parametrize(("headers", "sender", "kind"), [
    ({"Auto-Submitted": "auto-generated"}, "a@x.org", AutoKind.AUTO_REPLY),
    ({"Auto-Submitted": "no"}, "a@x.org", None),
    ({"Precedence": "list"}, "a@x.org", AutoKind.LIST),
    ({"List-Unsubscribe": "<mailto:u@x.org>"}, "a@x.org", AutoKind.LIST),
    ({"Return-Path": "<>"}, "a@x.org", AutoKind.AUTO_REPLY),
    ({}, "MAILER-DAEMON@x.org", AutoKind.AUTO_REPLY),
    ({}, "support@acme-support.com", AutoKind.LOOP),
    ({}, "a@x.org", None),
])
def test_automatic_mail_is_recognised(headers: dict[str, str], sender: str,
                                      kind: AutoKind | None) -> None:
    assert read(mail(sender=sender, headers=headers)).auto_kind is kind


def test_mail_without_a_sender_is_unreadable() -> None:
    with pytest.raises(Unreadable):
        read(b"Subject: nobody\r\n\r\nbody")
    with pytest.raises(Unreadable):
        read(b"")
