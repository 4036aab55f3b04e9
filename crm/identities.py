"""Identity values in the one form they are stored and compared in: email addresses in
lower case, phone numbers in E.164 (the ``phonenumbers`` library), the rest trimmed."""

from __future__ import annotations

import uuid

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from plateaux.crm.models import IdentityKind
from plateaux.platform.errors import UnprocessableContent

MAX_VALUE = 320


class InvalidIdentity(UnprocessableContent):
    pass


def normalize_email(value: str) -> str:
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidIdentity(f"'{value[:80]}' is not an email address.") from error
    return checked.normalized.lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164; a number without a country code needs the tenant's region."""
    text = value.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(f"'{value[:40]}' is not a phone number.") from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(f"'{value[:40]}' is not a valid phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize(kind: str, value: str, *, region: str | None = None) -> str:
    try:
        known = IdentityKind(kind)
    except ValueError as error:
        raise InvalidIdentity(f"Unknown identity kind '{kind[:20]}'.") from error
    if known is IdentityKind.EMAIL:
        return normalize_email(value)
    if known is IdentityKind.PHONE:
        return normalize_phone(value, region)
    text = value.strip()
    if known is IdentityKind.VISITOR:
        try:
            return str(uuid.UUID(text))
        except ValueError as error:
            raise InvalidIdentity("A visitor identity is a visitor's id.") from error
    if not text or len(text) > MAX_VALUE:
        raise InvalidIdentity(f"A {known.value} identity is 1 to {MAX_VALUE} characters.")
    return text


def try_normalize(kind: str, value: str | None, *, region: str | None = None) -> str | None:
    """The normalised value, or None for a value that is missing or not valid (what a
    channel hands over is matched when it can be, never refused)."""
    if not value or not isinstance(value, str):
        return None
    try:
        return normalize(kind, value, region=region)
    except InvalidIdentity:
        return None
