"""Service level of a queue over a period, from its contacts as stored.

Service level = contacts answered within the queue's threshold / contacts offered, where
a contact counts as offered once it has had its chance: answered, ended without an answer
(abandoned, cancelled), or still waiting beyond the threshold. A contact still waiting
under the threshold is left out of both counts, so a queue is not marked down for
contacts it may yet answer in time. Pure: the caller reads the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ContactTimes:
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class ServiceLevel:
    offered: int
    answered: int
    answered_within: int
    abandoned: int

    @property
    def value(self) -> float | None:
        """None with nothing offered yet: no figure rather than a flattering 100%."""
        return self.answered_within / self.offered if self.offered else None


def service_level(contacts: list[ContactTimes], *, threshold_seconds: float,
                  now: datetime) -> ServiceLevel:
    offered = answered = within = abandoned = 0
    for contact in contacts:
        if contact.answered_at is not None:
            offered += 1
            answered += 1
            if (contact.answered_at - contact.created_at).total_seconds() <= threshold_seconds:
                within += 1
        elif contact.ended_at is not None:
            offered += 1
            abandoned += 1
        elif (now - contact.created_at).total_seconds() > threshold_seconds:
            offered += 1
    return ServiceLevel(offered=offered, answered=answered, answered_within=within,
                        abandoned=abandoned)
