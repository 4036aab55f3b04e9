"""Telephone numbers as the platform accepts them: parsed and normalised to E.164 with
``phonenumbers`` (Google's libphonenumber data), from the countries the tenant allows,
and never a premium-rate, shared-cost or short number (a callback form must not be a way
to make the platform dial a paying number on someone's behalf)."""

from __future__ import annotations

from collections.abc import Iterable

import phonenumbers
from phonenumbers import PhoneNumberType

from plateaux.platform.errors import UnprocessableContent

REFUSED_TYPES = frozenset({PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST,
                           PhoneNumberType.UAN, PhoneNumberType.VOICEMAIL,
                           PhoneNumberType.PAGER, PhoneNumberType.UNKNOWN})
MAX_INPUT = 40


def normalise(raw: str, *, default_region: str | None = None,
              allowed_countries: Iterable[str] = (), field: str = "number") -> str:
    """The number in E.164 (``+33612345678``), or a 422 saying what is wrong with it."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_INPUT:
        raise UnprocessableContent("Give a telephone number.", extra={"field": field})
    region = (default_region or "").upper() or None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise UnprocessableContent(
            "This is not a telephone number; write it with its country code, like "
            "+33 6 12 34 56 78.", extra={"field": field}) from error
    if phonenumbers.is_possible_short_number(parsed) and \
            not phonenumbers.is_valid_number(parsed):
        raise UnprocessableContent("Short numbers cannot be called back.",
                                   extra={"field": field})
    if not phonenumbers.is_valid_number(parsed):
        raise UnprocessableContent("This telephone number does not exist.",
                                   extra={"field": field})
    if phonenumbers.number_type(parsed) in REFUSED_TYPES:
        raise UnprocessableContent(
            "Premium-rate and shared-cost numbers cannot be called.", extra={"field": field})
    country = phonenumbers.region_code_for_number(parsed)
    allowed = {c.upper() for c in allowed_countries}
    if allowed and country not in allowed:
        raise UnprocessableContent(
            f"Numbers of this country ({country}) cannot be called here.",
            extra={"field": field})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def did(raw: str) -> str:
    """A number the platform answers (a DID): E.164, any valid type."""
    text = (raw or "").strip()
    if not text.startswith("+"):
        text = "+" + text.lstrip("0")
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        raise UnprocessableContent("Give the number with its country code, like +33 1 23 "
                                   "45 67 89.", extra={"field": "e164"}) from error
    if not phonenumbers.is_valid_number(parsed):
        raise UnprocessableContent("This telephone number does not exist.",
                                   extra={"field": "e164"})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str) -> str:
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, None),
                                          phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except phonenumbers.NumberParseException:
        return e164


def valid_countries(codes: Iterable[str]) -> list[str]:
    known = phonenumbers.SUPPORTED_REGIONS
    result = []
    for code in codes:
        upper = code.strip().upper()
        if upper not in known:
            raise UnprocessableContent(f"Unknown country code '{code}'.",
                                       extra={"field": "callback_countries"})
        if upper not in result:
            result.append(upper)
    return result
