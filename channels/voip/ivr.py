"""IVR menus: the definition an administrator writes (checked here), and what callers
hear (the texts the platform speaks when the tenant has not recorded its own).

A definition: the languages offered (a choice is asked first when there are several),
a greeting and a menu per language, options by DTMF digit (each adds attributes to the
contact, may send it to its own queue or workflow, or lead to voicemail or a callback
offer), the default target, how long to wait for a digit, and what happens when the
caller has waited too long (voicemail or a callback offer).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from plateaux.channels.voip.audio import VOICES

Scalar = str | int | float | bool | None
Digit = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]


class MenuOption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digit: Digit
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=120)]
    action: Literal["route", "voicemail", "callback"] = "route"
    attributes: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")],
                     Scalar] = Field(default_factory=dict, max_length=20)
    workflow_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None


class IvrDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    languages: list[Language] = Field(default_factory=lambda: ["en"], min_length=1,
                                      max_length=4)
    greeting: dict[Language, Text] = Field(default_factory=dict)
    menu: dict[Language, Text] = Field(default_factory=dict)
    options: list[MenuOption] = Field(default_factory=list, max_length=12)
    workflow_id: uuid.UUID | None = None
    queue_id: uuid.UUID | None = None
    timeout_seconds: int = Field(default=6, ge=2, le=30)
    retries: int = Field(default=2, ge=0, le=5)
    max_wait_seconds: int | None = Field(default=None, ge=10, le=3600)
    overflow: Literal["voicemail", "callback"] = "voicemail"

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        unknown = [lang for lang in self.languages if lang not in VOICES]
        if unknown:
            raise ValueError(f"no voice for the language(s) {', '.join(unknown)}")
        if len(set(self.languages)) != len(self.languages):
            raise ValueError("each language once")
        digits = [o.digit for o in self.options]
        if len(set(digits)) != len(digits):
            raise ValueError("each digit once in the menu")
        for option in self.options:
            if option.workflow_id and option.queue_id:
                raise ValueError(f"option {option.digit}: a workflow or a queue, not both")
        if self.workflow_id and self.queue_id:
            raise ValueError("a workflow or a queue, not both")
        routed = [o for o in self.options if o.action == "route"]
        if not (self.workflow_id or self.queue_id) and (
                not self.options or any(not (o.workflow_id or o.queue_id) for o in routed)):
            raise ValueError("name where calls go: a workflow or queue for the menu, or "
                             "one for every option")
        return self

    def target(self, option: MenuOption | None) -> dict[str, str]:
        if option is not None and option.workflow_id:
            return {"workflow_id": str(option.workflow_id)}
        if option is not None and option.queue_id:
            return {"queue_id": str(option.queue_id)}
        if self.workflow_id:
            return {"workflow_id": str(self.workflow_id)}
        if self.queue_id:
            return {"queue_id": str(self.queue_id)}
        return {}

    def option(self, digit: str) -> MenuOption | None:
        return next((o for o in self.options if o.digit == digit), None)

    def referenced_ids(self) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
        """(workflows, queues) the definition names."""
        workflows = {w for w in [self.workflow_id, *(o.workflow_id for o in self.options)] if w}
        queues = {q for q in [self.queue_id, *(o.queue_id for o in self.options)] if q}
        return workflows, queues


# What the platform says when the tenant recorded nothing for it. {n}: a number.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "choose_language": "For English, press {n}.",
        "greeting": "Hello, thank you for calling.",
        "invalid": "Sorry, that is not one of the choices.",
        "position": "You are number {n} in the queue.",
        "wait": "Your estimated waiting time is about {n} minutes.",
        "wait_short": "You will be answered in less than a minute.",
        "hold": "Please hold, an advisor will be with you shortly.",
        "voicemail": "Nobody can take your call at the moment. Please leave a message "
                     "after the tone, then hang up.",
        "callback_offer": "Nobody can take your call at the moment. To be called back on "
                          "this number as soon as possible, press 1. Otherwise, please "
                          "hang up.",
        "callback_taken": "Thank you. We will call you back as soon as possible. Goodbye.",
        "recording": "This call is recorded.",
        "calling_customer": "Calling the customer.",
        "no_answer": "The customer did not answer.",
        "busy": "The customer's line is busy.",
        "next_attempt": "The next attempt starts in {n} seconds.",
        "goodbye": "Goodbye.",
        "closed": "We are closed at the moment. Please call again during our opening hours.",
    },
    "fr": {
        "choose_language": "Pour le français, tapez {n}.",
        "greeting": "Bonjour, merci de votre appel.",
        "invalid": "Désolé, ce choix n'existe pas.",
        "position": "Vous êtes le numéro {n} dans la file d'attente.",
        "wait": "Le temps d'attente estimé est d'environ {n} minutes.",
        "wait_short": "Un conseiller vous répondra dans moins d'une minute.",
        "hold": "Veuillez patienter, un conseiller va vous répondre.",
        "voicemail": "Personne ne peut prendre votre appel pour le moment. Laissez un "
                     "message après le bip, puis raccrochez.",
        "callback_offer": "Personne ne peut prendre votre appel pour le moment. Pour être "
                          "rappelé à ce numéro dès que possible, tapez 1. Sinon, "
                          "raccrochez.",
        "callback_taken": "Merci. Nous vous rappellerons dès que possible. Au revoir.",
        "recording": "Cet appel est enregistré.",
        "calling_customer": "Appel du client en cours.",
        "no_answer": "Le client n'a pas répondu.",
        "busy": "La ligne du client est occupée.",
        "next_attempt": "Le prochain essai commence dans {n} secondes.",
        "goodbye": "Au revoir.",
        "closed": "Nous sommes fermés pour le moment. Merci de rappeler pendant nos heures "
                  "d'ouverture.",
    },
}


def say(language: str, key: str, **values: Any) -> str:
    texts = TEXTS.get(language) or TEXTS["en"]
    return (texts.get(key) or TEXTS["en"][key]).format(**values)
