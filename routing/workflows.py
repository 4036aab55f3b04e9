"""Workflows: where a contact waits now, and what it needs, as it ages.

A workflow has ordered filters (expressions on the contact's attributes); the first filter
that matches gives the contact its ordered steps. Each step targets a queue with required
skills and an optional agent expression, and lasts until the contact's age reaches the
step's timeout; later steps usually relax the requirements (bullseye rings). A step marked
``skip_if_no_agents`` is passed over when nobody logged in could ever serve it. When the
last step has timed out, the workflow's overflow applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from plateaux.routing.expressions import compile_expression, matches


class OverflowAction(StrEnum):
    STAY_QUEUED = "stay_queued"
    OFFER_CALLBACK = "offer_callback"
    TAKE_MESSAGE = "take_message"
    TRANSFER_QUEUE = "transfer_queue"


@dataclass(frozen=True, slots=True)
class Step:
    queue_id: str
    required_skills: dict[str, int] = field(default_factory=dict)
    agent_expression: str = ""
    timeout: float | None = None  # contact age (seconds) at which the next step starts
    priority: int | None = None  # replaces the contact's priority while in this step
    skip_if_no_agents: bool = False


@dataclass(frozen=True, slots=True)
class Filter:
    name: str
    expression: str
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Overflow:
    action: OverflowAction = OverflowAction.STAY_QUEUED
    queue_id: str | None = None  # for TRANSFER_QUEUE


@dataclass(frozen=True, slots=True)
class Workflow:
    filters: tuple[Filter, ...]
    default_steps: tuple[Step, ...]
    overflow: Overflow = Overflow()

    def validate(self) -> None:
        """Compile every expression now, so a typo is refused when the workflow is saved."""
        for flt in self.filters:
            compile_expression(flt.expression)
            for step in flt.steps:
                compile_expression(step.agent_expression or "true")
        for step in self.default_steps:
            compile_expression(step.agent_expression or "true")


@dataclass(frozen=True, slots=True)
class Placement:
    step: Step
    index: int  # which step of the chosen filter
    filter_name: str  # "default" when no filter matched
    next_change: float | None  # age at which the placement changes (for timers)


@dataclass(frozen=True, slots=True)
class Overflowed:
    overflow: Overflow


def place(workflow: Workflow, attributes: dict[str, object], age: float,
          servable: Callable[[Step], bool]) -> Placement | Overflowed:
    """The contact's placement at ``age``; ``servable(step)`` tells whether someone logged
    in could serve a step (used by ``skip_if_no_agents``)."""
    name, steps = "default", workflow.default_steps
    for flt in workflow.filters:
        if matches(flt.expression, attributes):
            name, steps = flt.name, flt.steps
            break
    for index, step in enumerate(steps):
        if step.timeout is not None and age >= step.timeout:
            continue
        if step.skip_if_no_agents and not servable(step):
            continue
        return Placement(step=step, index=index, filter_name=name, next_change=step.timeout)
    if workflow.overflow.action == OverflowAction.STAY_QUEUED and steps:
        last = steps[-1]
        return Placement(step=last, index=len(steps) - 1, filter_name=name, next_change=None)
    return Overflowed(workflow.overflow)
