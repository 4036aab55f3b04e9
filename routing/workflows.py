"""Workflows: where a contact waits now, with what requirements and priority, as it ages.

A workflow has ordered filters (expressions on the contact's attributes); the first that
matches gives the contact its ordered steps, and a contact no filter matches gets the
default steps. Each step targets a queue with minimum skill levels and an optional agent
expression (or a named agent), and lasts until the contact's *age* reaches the step's
timeout: a contact declined by an agent or re-placed keeps its age, so its rings do not
start over. Later steps usually relax the requirements (bullseye rings). A step marked
``skip_if_no_agents`` is passed over when nobody on duty could ever serve it.

Overflow applies when every step has timed out, and, as the contact enters, when the
target queue is closed (business hours) or its estimated wait exceeds the workflow's
limit: stay queued, offer a callback, take a message, or send to another queue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from plateaux.routing.expressions import ExpressionError, matches, validate
from plateaux.routing.state import ContactState


class OverflowAction(StrEnum):
    STAY_QUEUED = "stay_queued"
    OFFER_CALLBACK = "offer_callback"
    TAKE_MESSAGE = "take_message"
    TRANSFER_QUEUE = "transfer_queue"


class OverflowReason(StrEnum):
    EXHAUSTED = "exhausted"  # every step timed out (or was skipped)
    CLOSED = "closed"  # outside the queue's business hours
    WAIT_TOO_LONG = "wait_too_long"  # the estimated wait is over the workflow's limit


@dataclass(frozen=True, slots=True)
class Step:
    queue_id: str
    required_skills: Mapping[str, int] = field(default_factory=dict)
    agent_expression: str = ""
    target_agent: str | None = None  # route to this agent only
    timeout: float | None = None  # contact age (seconds) at which the next step starts
    priority: int | None = None  # the contact's priority while in this step
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
    priority: int | None = None  # for TRANSFER_QUEUE


@dataclass(frozen=True, slots=True)
class Workflow:
    id: str
    filters: tuple[Filter, ...] = ()
    default_steps: tuple[Step, ...] = ()
    overflow: Overflow = Overflow()
    max_estimated_wait: float | None = None  # seconds; checked when a contact enters

    def validate(self) -> None:
        """Refuse a broken workflow when it is saved, not when a contact meets it."""
        if not self.default_steps:
            raise ValueError("a workflow needs a default step")
        for flt in self.filters:
            validate(flt.expression)
        for name, steps in [(f.name, f.steps) for f in self.filters] + [
                ("default", self.default_steps)]:
            previous = 0.0
            for index, step in enumerate(steps):
                validate(step.agent_expression)
                if step.timeout is not None:
                    if step.timeout <= previous:
                        raise ValueError(f"{name} step {index + 1}: timeouts must increase")
                    previous = step.timeout
        if self.overflow.action == OverflowAction.TRANSFER_QUEUE and not self.overflow.queue_id:
            raise ValueError("overflow to another queue needs that queue")


def skills_by_queue(workflows: Iterable[Workflow]) -> dict[str, list[str]]:
    """For each queue, the skills its workflows' steps ask a level of, the most asked
    first: what the snapshot splits the queue's free agents by (each step's highest
    required level is the one a walk starts from)."""
    asked: dict[str, Counter[str]] = {}
    for workflow in workflows:
        steps = [step for flt in workflow.filters for step in flt.steps]
        for step in (*steps, *workflow.default_steps):
            levels = [(level, skill) for skill, level in step.required_skills.items()
                      if level > 0]
            if levels:
                asked.setdefault(step.queue_id, Counter())[max(levels)[1]] += 1
    return {queue_id: [skill for skill, _ in counts.most_common()]
            for queue_id, counts in asked.items()}


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a contact waits now. ``queue_id`` is None when it leaves the queues (overflow
    to a callback or a message)."""

    queue_id: str | None
    required_skills: Mapping[str, int]
    agent_expression: str
    priority: int
    filter_name: str  # "default" when no filter matched
    step_index: int | None  # None when overflowed
    next_change: float | None  # absolute time at which to evaluate again
    target_agent: str | None = None
    overflow: OverflowAction | None = None
    reason: OverflowReason | None = None


class WorkflowContext(Protocol):
    """What a workflow needs to know beyond the contact (the snapshot provides it)."""

    def has_agents(self, step: Step, contact: ContactState) -> bool: ...

    def is_open(self, queue_id: str) -> bool: ...

    def estimated_wait(self, queue_id: str, contact: ContactState) -> float | None:
        """Seconds; ``math.inf`` when nobody serves the queue, None when unknown."""


DEFAULT = "default"


def evaluate_workflow(contact: ContactState, workflows: Mapping[str, Workflow], now: float,
                      context: WorkflowContext | None = None) -> Placement:
    """The placement that applies to ``contact`` at ``now``.

    ``context`` answers skip_if_no_agents, business hours and estimated wait; without it
    no step is skipped, queues count as open and the wait as acceptable.
    """
    if contact.workflow_id is None:
        raise ValueError(f"contact {contact.id} has no workflow")
    workflow = workflows[contact.workflow_id]
    age = now - contact.created_at
    name, steps = DEFAULT, workflow.default_steps
    for flt in workflow.filters:
        try:
            matched = matches(flt.expression, contact.attributes)
        except ExpressionError:
            matched = False  # a workflow saved before validation existed must not stop routing
        if matched:
            name, steps = flt.name, flt.steps
            break
    chosen: tuple[int, Step] | None = None
    for index, step in enumerate(steps):
        if step.timeout is not None and age >= step.timeout:
            continue
        if step.skip_if_no_agents and context is not None \
                and not context.has_agents(step, contact):
            continue
        chosen = (index, step)
        break
    if chosen is None:
        last = (len(steps) - 1, steps[-1]) if steps else None
        return _overflow(contact, workflow, name, last, OverflowReason.EXHAUSTED)
    index, step = chosen
    entering = contact.filter_name is None
    if entering and context is not None:
        if not context.is_open(step.queue_id):
            return _overflow(contact, workflow, name, chosen, OverflowReason.CLOSED)
        limit = workflow.max_estimated_wait
        if limit is not None:
            wait = context.estimated_wait(step.queue_id, contact)
            if wait is not None and wait > limit:
                return _overflow(contact, workflow, name, chosen, OverflowReason.WAIT_TOO_LONG)
    return _at_step(contact, name, index, step)


def _at_step(contact: ContactState, name: str, index: int, step: Step) -> Placement:
    return Placement(
        queue_id=step.queue_id, required_skills=step.required_skills,
        agent_expression=step.agent_expression,
        priority=contact.own_priority if step.priority is None else step.priority,
        filter_name=name, step_index=index, target_agent=step.target_agent,
        next_change=None if step.timeout is None else contact.created_at + step.timeout)


def _overflow(contact: ContactState, workflow: Workflow, name: str,
              at: tuple[int, Step] | None, reason: OverflowReason) -> Placement:
    overflow = workflow.overflow
    if overflow.action == OverflowAction.STAY_QUEUED and at is not None:
        placed = _at_step(contact, name, *at)
        if reason == OverflowReason.EXHAUSTED:
            # The last (most relaxed) requirements, for good: nothing changes after this.
            return replace(placed, next_change=None, overflow=overflow.action, reason=reason)
        return replace(placed, overflow=overflow.action, reason=reason)
    if overflow.action == OverflowAction.TRANSFER_QUEUE and overflow.queue_id is not None:
        return Placement(
            queue_id=overflow.queue_id, required_skills={}, agent_expression="",
            priority=contact.own_priority if overflow.priority is None else overflow.priority,
            filter_name=name, step_index=None, next_change=None,
            overflow=overflow.action, reason=reason)
    return Placement(queue_id=None, required_skills={}, agent_expression="",
                     priority=contact.own_priority, filter_name=name, step_index=None,
                     next_change=None, overflow=overflow.action, reason=reason)
