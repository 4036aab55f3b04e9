"""Agents and contacts of the routing core as JSON records, for the shared state store.

A record is what every server process agrees on: the store keeps it with a version, and a
process changes it only by naming the version it read (see ``store.py``).
"""

from __future__ import annotations

from typing import Any

import orjson

from plateaux.routing.state import (
    AgentState,
    CapacityPolicy,
    ContactState,
    ContactStatus,
    Membership,
    Presence,
)

AGENT = "a"
CONTACT = "c"


def agent_key(agent_id: str) -> str:
    return f"{AGENT}:{agent_id}"


def contact_key(contact_id: str) -> str:
    return f"{CONTACT}:{contact_id}"


def split_key(key: str) -> tuple[str, str]:
    kind, _, ident = key.partition(":")
    return kind, ident


def encode_agent(agent: AgentState, *, since: float) -> str:
    """``since``: when the agent entered their current presence (time in state)."""
    return _dumps({
        "id": agent.id, "presence": agent.presence.value, "away_reason": agent.away_reason,
        "capacity": dict(agent.capacity), "load": dict(agent.load),
        "skills": dict(agent.skills), "site": agent.site, "idle_since": agent.idle_since,
        "queues": {q: [m.priority, m.delay] for q, m in agent.queues.items()},
        "blocking": sorted(agent.policy.blocking), "alongside": sorted(agent.policy.alongside),
        "attributes": dict(agent.attributes), "since": since,
    })


def decode_agent(raw: str | dict[str, Any]) -> tuple[AgentState, float]:
    data = orjson.loads(raw) if isinstance(raw, str) else raw
    agent = AgentState(
        id=data["id"], presence=Presence(data["presence"]), away_reason=data["away_reason"],
        capacity=data["capacity"], load=data["load"], skills=data["skills"],
        site=data["site"], idle_since=data["idle_since"],
        queues={q: Membership(priority=p, delay=d) for q, (p, d) in data["queues"].items()},
        policy=CapacityPolicy(blocking=frozenset(data["blocking"]),
                              alongside=frozenset(data["alongside"])),
        attributes=data["attributes"])
    return agent, float(data["since"])


def encode_contact(contact: ContactState, *, wrap_up_until: float | None = None) -> str:
    return _dumps({
        "id": contact.id, "channel": contact.channel, "created_at": contact.created_at,
        "attributes": dict(contact.attributes), "priority": contact.priority,
        "base_priority": contact.base_priority, "status": contact.status.value,
        "queue_id": contact.queue_id, "required_skills": dict(contact.required_skills),
        "agent_expression": contact.agent_expression, "workflow_id": contact.workflow_id,
        "filter_name": contact.filter_name, "step_index": contact.step_index,
        "next_change": contact.next_change, "sticky_agent": contact.sticky_agent,
        "sticky_until": contact.sticky_until, "target_agent": contact.target_agent,
        "rejected_by": sorted(contact.rejected_by), "offered_to": list(contact.offered_to),
        "offer_expires_at": contact.offer_expires_at, "agent_id": contact.agent_id,
        "not_before": contact.not_before, "wrap_up_until": wrap_up_until,
    })


def decode_contact(raw: str | dict[str, Any]) -> tuple[ContactState, float | None]:
    data = orjson.loads(raw) if isinstance(raw, str) else raw
    contact = ContactState(
        id=data["id"], channel=data["channel"], created_at=data["created_at"],
        attributes=data["attributes"], priority=data["priority"],
        base_priority=data["base_priority"], status=ContactStatus(data["status"]),
        queue_id=data["queue_id"], required_skills=data["required_skills"],
        agent_expression=data["agent_expression"], workflow_id=data["workflow_id"],
        filter_name=data["filter_name"], step_index=data["step_index"],
        next_change=data["next_change"], sticky_agent=data["sticky_agent"],
        sticky_until=data["sticky_until"], target_agent=data["target_agent"],
        rejected_by=frozenset(data["rejected_by"]), offered_to=tuple(data["offered_to"]),
        offer_expires_at=data["offer_expires_at"], agent_id=data["agent_id"],
        not_before=data.get("not_before"))
    return contact, data.get("wrap_up_until")


def _dumps(record: dict[str, Any]) -> str:
    # orjson: records are encoded on every commit and decoded by every other process, and
    # the standard library's encoder was a tenth of a busy router's time. Its output is
    # compact JSON with no raw control characters (the store's log relies on that).
    return orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS).decode()
