"""Brute-force checks of routing decisions, independent of the indexes the decisions use.

``offer_problems`` looks at an offer against the snapshot it was decided on (before it is
applied) by scanning every waiting contact; ``capacity_problems`` checks every agent. They
are slow on purpose (no index, no shortcut) and serve tests, the benchmark, and adapters
that want to audit a sample of live decisions.
"""

from __future__ import annotations

from plateaux.routing.capacity import within_capacity
from plateaux.routing.core import rank_for
from plateaux.routing.eligibility import eligible
from plateaux.routing.snapshot import Snapshot
from plateaux.routing.state import ContactStatus, Offer


def offer_problems(snapshot: Snapshot, offer: Offer, now: float) -> list[str]:
    """What is wrong with ``offer``: a contact not waiting, an agent offered twice or not
    eligible (capacity and policy included), or a priority inversion: an offered agent
    could take a waiting contact they rank higher (higher priority at the same membership
    priority, or a queue of better membership priority)."""
    problems: list[str] = []
    contact = snapshot.contacts.get(offer.contact_id)
    if contact is None or contact.status != ContactStatus.QUEUED:
        return [f"{offer.contact_id} is not waiting"]
    if len(set(offer.agent_ids)) != len(offer.agent_ids):
        problems.append(f"{offer.contact_id} offered twice to one agent")
    for agent_id in offer.agent_ids:
        agent = snapshot.agents.get(agent_id)
        if agent is None:
            problems.append(f"unknown agent {agent_id}")
            continue
        if not eligible(snapshot, agent, contact, now):
            problems.append(f"{agent_id} is not eligible for {contact.id}")
            continue
        mine = rank_for(agent, contact)
        assert mine is not None  # eligible implies served
        for other in snapshot.contacts.values():
            if other.status != ContactStatus.QUEUED or other.id == contact.id:
                continue
            theirs = rank_for(agent, other)
            if theirs is not None and theirs[:2] < mine[:2] \
                    and eligible(snapshot, agent, other, now):
                problems.append(f"priority inversion: {agent_id} got {contact.id} "
                                f"{mine[:2]} while {other.id} {theirs[:2]} waits")
    return problems


def capacity_problems(snapshot: Snapshot) -> list[str]:
    return [f"{agent.id} holds {dict(agent.load)} beyond {dict(agent.capacity)}"
            for agent in snapshot.agents.values() if not within_capacity(agent)]


def stranded(snapshot: Snapshot, now: float) -> list[str]:
    """Waiting contacts that an agent with room could take right now. Between events an
    engine that follows the transitions' follow-ups and the contacts' wake-ups leaves none:
    this is the invariant its incremental decisions rely on."""
    return [f"{contact.id} waits while {agent.id} could take it"
            for contact in snapshot.contacts.values() if contact.status == ContactStatus.QUEUED
            for agent in snapshot.agents.values() if eligible(snapshot, agent, contact, now)]
