"""API shapes of canned responses and wrap-up codes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from plateaux.tenants.schemas import Input, Output, Patch

_SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LANGUAGE = re.compile(r"^([a-z]{2,3}(-[A-Za-z0-9]{2,8})?)?$")


def _shortcut(value: str) -> str:
    shortcut = value.strip().lower().removeprefix("/")
    if not _SHORTCUT.match(shortcut):
        raise ValueError("a shortcut is 1 to 40 lowercase letters, digits, - or _ (hello, "
                         "refund-policy)")
    return shortcut


def _code(value: str) -> str:
    code = value.strip().lower()
    if not _CODE.match(code):
        raise ValueError("a code is 1 to 40 lowercase letters, digits or _, starting with a "
                         "letter (resolved, callback_needed)")
    return code


def _language(value: str) -> str:
    language = value.strip()
    if not _LANGUAGE.match(language):
        raise ValueError("a language is a code such as fr or en-GB, or empty for any")
    return language


Shortcut = Annotated[str, Field(min_length=1, max_length=41), AfterValidator(_shortcut)]
Code = Annotated[str, Field(min_length=1, max_length=60), AfterValidator(_code)]
Language = Annotated[str, Field(max_length=10), AfterValidator(_language)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class CannedResponseIn(Input):
    shortcut: Shortcut = Field(description="What an agent types after '/' to insert it")
    title: Title
    body: Body = Field(description="Plain text; {name} is replaced by the customer's name")
    language: Language = Field(default="", description="Empty: offered in every language")


class CannedResponsePatch(Patch):
    shortcut: Shortcut | None = None
    title: Title | None = None
    body: Body | None = None
    language: Language | None = None


class CannedResponseOut(Output):
    id: uuid.UUID
    shortcut: str
    title: str
    body: str
    language: str
    created_at: datetime
    updated_at: datetime


class WrapUpCodeIn(Input):
    code: Code
    label: Title


class WrapUpCodeOut(Output):
    id: uuid.UUID
    code: str
    label: str
    created_at: datetime
