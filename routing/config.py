"""Stored routing configuration turned into the routing core's values, and back.

The core knows queues, agents and workflows by string ids; here they are the rows'
UUIDs as strings, and skills are skill ids (a skill can be renamed without breaking the
workflows that require it).

A workflow is stored as one JSON document::

    {"filters": [{"name": "vip", "expression": "tier == 'gold'",
                  "steps": [{"queue_id": "…", "required_skills": {"<skill id>": 4},
                             "timeout": 20}, {"queue_id": "…"}]}],
     "default_steps": [{"queue_id": "…", "agent_expression": "", "priority": 1,
                        "skip_if_no_agents": false, "target_agent": null}],
     "overflow": {"action": "offer_callback"},
     "max_estimated_wait": 600}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from plateaux.routing.models import AgentProfile, RoutingQueue
from plateaux.routing.state import (
    CHATS_BESIDE_CALLS,
    DEFAULT_CAPACITY,
    STRICT,
    AgentState,
    Channel,
    Membership,
    Ordering,
    Presence,
    Queue,
    Strategy,
    Threshold,
)
from plateaux.routing.workflows import Filter, Overflow, OverflowAction, Step, Workflow

CHANNELS = frozenset(channel.value for channel in Channel)


class ConfigError(ValueError):
    """A stored or submitted configuration the core cannot use; the message says why."""


def queue_from_row(row: RoutingQueue, *, open_now: bool = True) -> Queue:
    return Queue(
        id=str(row.id), ordering=Ordering(row.ordering), strategy=Strategy(row.strategy),
        sla_threshold=row.sla_threshold_seconds, sla_target=row.sla_target,
        offer_to=row.offer_to, accept_timeout=row.accept_timeout_seconds,
        away_on_timeout=row.away_on_timeout, away_on_reject=row.away_on_reject,
        sticky_seconds=row.sticky_seconds, thresholds=thresholds_from(row.thresholds),
        open=open_now)


def thresholds_from(raw: Sequence[Mapping[str, Any]]) -> tuple[Threshold, ...]:
    try:
        return tuple(Threshold(
            site=item.get("site"), skill=item.get("skill"),
            min_level=int(item.get("min_level", 1)), max_busy=item.get("max_busy"),
            min_busy=item.get("min_busy"), max_share=item.get("max_share"),
            min_share=item.get("min_share")) for item in raw)
    except (TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"invalid threshold: {error}") from error


def workflow_from_definition(workflow_id: str, definition: Mapping[str, Any]) -> Workflow:
    """Build and validate a workflow; a ConfigError names what is wrong."""
    try:
        filters = tuple(
            Filter(name=str(item["name"]), expression=str(item["expression"]),
                   steps=_steps(item.get("steps", ())))
            for item in definition.get("filters", ()))
        raw_overflow = definition.get("overflow") or {}
        overflow = Overflow(
            action=OverflowAction(raw_overflow.get("action", OverflowAction.STAY_QUEUED)),
            queue_id=raw_overflow.get("queue_id"), priority=raw_overflow.get("priority"))
        limit = definition.get("max_estimated_wait")
        workflow = Workflow(
            id=workflow_id, filters=filters,
            default_steps=_steps(definition.get("default_steps", ())), overflow=overflow,
            max_estimated_wait=None if limit is None else float(limit))
        workflow.validate()
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"invalid workflow: {error}") from error
    return workflow


def _steps(raw: Sequence[Mapping[str, Any]]) -> tuple[Step, ...]:
    steps = []
    for item in raw:
        skills = {str(skill): int(level)
                  for skill, level in (item.get("required_skills") or {}).items()}
        timeout = item.get("timeout")
        steps.append(Step(
            queue_id=str(item["queue_id"]), required_skills=skills,
            agent_expression=str(item.get("agent_expression") or ""),
            target_agent=None if item.get("target_agent") is None else str(item["target_agent"]),
            timeout=None if timeout is None else float(timeout),
            priority=None if item.get("priority") is None else int(item["priority"]),
            skip_if_no_agents=bool(item.get("skip_if_no_agents", False))))
    return tuple(steps)


def workflow_queue_ids(definition: Mapping[str, Any]) -> set[str]:
    """Every queue a workflow definition names (to check they are the tenant's own)."""
    ids = {str(step["queue_id"]) for item in definition.get("filters", ())
           for step in item.get("steps", ())}
    ids |= {str(step["queue_id"]) for step in definition.get("default_steps", ())}
    overflow = definition.get("overflow") or {}
    if overflow.get("queue_id"):
        ids.add(str(overflow["queue_id"]))
    return ids


def capacity_from(raw: Mapping[str, int] | None) -> dict[str, int]:
    capacity = dict(DEFAULT_CAPACITY)
    for channel, count in (raw or {}).items():
        if channel not in CHANNELS:
            raise ConfigError(f"unknown channel '{channel}'")
        capacity[channel] = int(count)
    return capacity


def agent_from_profile(
    *, user_id: str, profile: AgentProfile | None, skills: Mapping[str, int],
    site: str | None, languages: Sequence[str],
) -> AgentState:
    """An agent as the core sees it, offline until their console connects."""
    memberships: dict[str, Membership] = {}
    if profile is not None:
        for queue_id, entry in profile.queues.items():
            memberships[str(queue_id)] = Membership(
                priority=int(entry.get("priority", 1)), delay=float(entry.get("delay", 0.0)))
    return AgentState(
        id=user_id, presence=Presence.OFFLINE,
        capacity=capacity_from(profile.capacity if profile is not None else None),
        skills=dict(skills), site=site, queues=memberships,
        policy=CHATS_BESIDE_CALLS if profile is not None and profile.chats_beside_calls
        else STRICT,
        attributes={"languages": list(languages)})
