"""The routing state of one tenant, with the indexes that keep decisions cheap.

A decision must not scan 10,000 agents or every waiting contact, so the snapshot keeps:

- per (queue, channel, membership delay), the agents who are available *and have room* for
  one more contact of that channel, sorted by (load, idle since): the longest-idle walk
  reads the lists whose delay the contact has waited out, in order, and stops at the first
  eligible agents (backup agents with a delay are not even looked at for young contacts);
- the same lists split by the level of a skill the queue's contacts have asked for, so a
  walk for "skill >= 4" merges the lists of levels 4 and up and never meets the agents
  below (in a busy queue those are most of the free ones: the qualified are taken first).
  A queue's skills are indexed when a decision first asks for one, up to
  ``MAX_INDEXED_SKILLS`` per queue, since every indexed skill adds a list per agent move;
- per (queue, channel), the waiting contacts sorted in the queue's order (priority first,
  then age, oldest or newest first), grouped by what their current steps need (their
  required skill levels), so an agent who becomes free passes over, in one test, every
  contact asking for a level they lack: on a busy floor most waiting contacts are young
  ones still asking for the first step's experts; contacts routed to a named agent wait in
  that agent's own list instead;
- per queue and threshold, how many agents of the group hold a contact of the queue, and
  how many of the queue's contacts the group accepted.

Every change goes through ``put_agent`` / ``put_contact`` (values are frozen), which keep
the indexes current. The sorted lists are plain lists kept with ``bisect``: a few thousand
entries move with one ``memmove``, cheaper in Python than any tree.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from plateaux.routing.capacity import has_room, routable
from plateaux.routing.expressions import compile_expression
from plateaux.routing.state import (
    HOLDING,
    AgentState,
    ContactState,
    ContactStatus,
    Ordering,
    Presence,
    Queue,
)

# (load, idle since, agent id): least loaded, then longest idle, first.
AgentKey = tuple[int, float, str]
# (-priority, age key, contact id): highest priority, then the queue's age order, first.
ContactKey = tuple[int, float, str]
# Required (skill, level) pairs of a contact's current step, sorted; () needs nothing.
Need = tuple[tuple[str, int], ...]
# (queue, channel, membership delay, skill, level): skill "" (level 0) lists every agent.
FreeBucket = tuple[str, str, float, str, int]

# Skills indexed per queue at most: past that a requirement walks the unsplit lists.
MAX_INDEXED_SKILLS = 4

OFF_DUTY = frozenset({Presence.OFFLINE, Presence.AWAY})
FINISHED = frozenset({ContactStatus.COMPLETED, ContactStatus.ABANDONED, ContactStatus.CANCELLED})
# Agent fields that change with every routing event and leave the roster as it was.
_BUSY_FIELDS = frozenset({"load", "idle_since", "presence", "away_reason"})


@dataclass(frozen=True, slots=True)
class Traffic:
    """Contacts of a queue accepted since the last reset, overall and per threshold group."""

    total: int
    by_threshold: tuple[int, ...]


class Snapshot:
    def __init__(self, *, agents: Iterable[AgentState] = (), queues: Iterable[Queue] = (),
                 contacts: Iterable[ContactState] = ()) -> None:
        self.agents: dict[str, AgentState] = {}
        self.queues: dict[str, Queue] = {}
        self.contacts: dict[str, ContactState] = {}
        self._free: dict[FreeBucket, list[AgentKey]] = {}
        self._agent_at: dict[str, tuple[AgentKey, tuple[FreeBucket, ...]]] = {}
        self._indexed_skills: dict[str, tuple[str, ...]] = {}  # queue -> skills split by
        self._levels: dict[tuple[str, str], list[int]] = {}  # (queue, skill) -> levels seen
        self._waiting_by_need: dict[tuple[str, str], dict[Need, list[ContactKey]]] = {}
        self._queue_channels: dict[str, set[str]] = {}
        self._direct: dict[str, list[ContactKey]] = {}
        self._contact_at: dict[str, tuple[list[ContactKey] | None,
                                          tuple[dict[Need, list[ContactKey]], Need] | None,
                                          ContactKey, tuple[str, ...], str | None]] = {}
        self._members: dict[str, set[str]] = {}
        self._delays: dict[str, tuple[float, ...]] = {}
        self._delay_counts: dict[str, dict[float, int]] = {}  # queue -> delay -> members
        self._held: dict[str, dict[str, int]] = {}  # agent -> queue -> contacts held
        self._busy: dict[str, list[int]] = {}  # queue -> agents of each threshold group busy
        self._traffic: dict[str, list[int]] = {}  # queue -> [total, per threshold...]
        self._on_duty_cache: dict[tuple[object, ...], bool] = {}
        # Bumped when who could serve what changes (not on every load change), so answers
        # about the roster can be cached between such changes.
        self.roster_version = 0
        for queue in queues:
            self.put_queue(queue)
        for agent in agents:
            self.put_agent(agent)
        for contact in contacts:
            self.put_contact(contact)

    # --- queues ---------------------------------------------------------------------------

    def put_queue(self, queue: Queue) -> None:
        old = self.queues.get(queue.id)
        self.queues[queue.id] = queue
        if old is None or old.thresholds != queue.thresholds:
            self._recount_thresholds(queue)
        if old is not None and old.ordering != queue.ordering:
            for contact in [c for c in self.contacts.values() if c.queue_id == queue.id]:
                self.put_contact(contact)

    def _recount_thresholds(self, queue: Queue) -> None:
        busy = [0] * len(queue.thresholds)
        for agent_id, held in self._held.items():
            agent = self.agents.get(agent_id)
            if agent is None or not held.get(queue.id):
                continue
            for i, threshold in enumerate(queue.thresholds):
                busy[i] += threshold.includes(agent)
        self._busy[queue.id] = busy
        self._traffic[queue.id] = [0] * (len(queue.thresholds) + 1)

    # --- agents ---------------------------------------------------------------------------

    def put_agent(self, agent: AgentState) -> None:
        """Add an agent, or replace one with a new value (``dataclasses.replace``)."""
        old = self.agents.get(agent.id)
        self.agents[agent.id] = agent
        self._unindex_agent(agent.id)
        self._index_agent(agent)
        if old is None or old.queues != agent.queues:
            self._update_memberships(old, agent)
        if old is None or _roster_changed(old, agent):
            self.roster_version += 1
            self._on_duty_cache.clear()
        if old is not None and (old.site != agent.site or old.skills != agent.skills):
            self._regroup(old, agent)

    def change_agent(self, agent_id: str, **fields: Any) -> AgentState:
        """Change fields of an agent in place, re-indexing them."""
        agent = self.agents[agent_id]
        if not fields.keys() <= _BUSY_FIELDS:
            self.put_agent(replace(agent, **fields))
            return self.agents[agent_id]
        on_duty = agent.presence not in OFF_DUTY
        self._unindex_agent(agent_id)
        for name, value in fields.items():
            setattr(agent, name, value)
        self._index_agent(agent)
        if (agent.presence not in OFF_DUTY) != on_duty:
            self.roster_version += 1
            self._on_duty_cache.clear()
        return agent

    def remove_agent(self, agent_id: str) -> None:
        old = self.agents.pop(agent_id, None)
        if old is None:
            return
        self._unindex_agent(agent_id)
        self._update_memberships(old, None)
        self.roster_version += 1
        self._on_duty_cache.clear()

    def _index_agent(self, agent: AgentState) -> None:
        if not routable(agent):
            return
        channels = [c for c, cap in agent.capacity.items() if cap > 0 and has_room(agent, c)]
        if not channels:
            return
        key: AgentKey = (agent.total_load, agent.idle_since, agent.id)
        buckets: list[FreeBucket] = []
        skills = agent.skills
        for queue_id, membership in agent.queues.items():
            delay = membership.delay
            indexed = self._indexed_skills.get(queue_id, ())
            for skill in indexed:
                level = skills.get(skill, 0)
                levels = self._levels[(queue_id, skill)]
                if level not in levels:
                    insort(levels, level)
            for channel in channels:
                if not indexed:
                    buckets.append((queue_id, channel, delay, "", 0))
                # Once split by a skill, the lists of all its levels merged are the
                # queue's whole list: no agent move pays for an unsplit copy.
                for skill in indexed:
                    buckets.append((queue_id, channel, delay, skill, skills.get(skill, 0)))
        free = self._free
        for bucket in buckets:
            entries = free.get(bucket)
            if entries is None:
                free[bucket] = [key]
            else:
                insort(entries, key)
        self._agent_at[agent.id] = (key, tuple(buckets))

    def _unindex_agent(self, agent_id: str) -> None:
        placed = self._agent_at.pop(agent_id, None)
        if placed is None:
            return
        key, buckets = placed
        for bucket in buckets:
            entries = self._free[bucket]
            del entries[bisect_left(entries, key)]

    def _update_memberships(self, old: AgentState | None, new: AgentState | None) -> None:
        before = old.queues if old is not None else {}
        after = new.queues if new is not None else {}
        touched = set(before) | set(after)
        for queue_id in touched:
            members = self._members.setdefault(queue_id, set())
            if queue_id in after and new is not None:
                members.add(new.id)
            elif old is not None:
                members.discard(old.id)
        for queue_id in touched:
            was, now = before.get(queue_id), after.get(queue_id)
            if was == now or (was is not None and now is not None and was.delay == now.delay):
                continue
            # Counted rather than recomputed from the members: loading a queue of thousands
            # of agents must not walk them all for each one added.
            counts = self._delay_counts.setdefault(queue_id, {})
            if was is not None:
                left = counts.get(was.delay, 0) - 1
                if left > 0:
                    counts[was.delay] = left
                else:
                    counts.pop(was.delay, None)
            if now is not None:
                counts[now.delay] = counts.get(now.delay, 0) + 1
            self._delays[queue_id] = tuple(sorted(d for d in counts if d > 0))

    def _regroup(self, old: AgentState, new: AgentState) -> None:
        """An agent moved site or changed skills: move their busy counts between groups."""
        for queue_id, count in self._held.get(new.id, {}).items():
            queue = self.queues.get(queue_id)
            if queue is None or count <= 0:
                continue
            busy = self._busy[queue_id]
            for i, threshold in enumerate(queue.thresholds):
                busy[i] += threshold.includes(new) - threshold.includes(old)

    # --- contacts -------------------------------------------------------------------------

    def put_contact(self, contact: ContactState) -> None:
        """Add or replace a contact; a finished one (completed, abandoned, cancelled) is
        dropped from the snapshot."""
        if contact.id in self.contacts:
            self._unindex_contact(contact.id)
        if contact.status in FINISHED:
            self.contacts.pop(contact.id, None)
            return
        self.contacts[contact.id] = contact
        self._index_contact(contact)

    def change_contact(self, contact_id: str, **fields: Any) -> ContactState:
        """Change fields of a contact in place, re-indexing it."""
        contact = self.contacts[contact_id]
        self._unindex_contact(contact_id)
        for name, value in fields.items():
            setattr(contact, name, value)
        if contact.status in FINISHED:
            del self.contacts[contact_id]
        else:
            self._index_contact(contact)
        return contact

    def remove_contact(self, contact_id: str) -> None:
        if self.contacts.pop(contact_id, None) is not None:
            self._unindex_contact(contact_id)

    def contact_key(self, contact: ContactState) -> ContactKey:
        queue = self.queues.get(contact.queue_id or "")
        lifo = queue is not None and queue.ordering == Ordering.LIFO
        return (-contact.priority, -contact.created_at if lifo else contact.created_at,
                contact.id)

    def _index_contact(self, contact: ContactState) -> None:
        holders = _holders(contact)
        for agent_id in holders:
            self._hold(agent_id, contact.queue_id, +1)
        entries: list[ContactKey] | None = None
        needed: tuple[dict[Need, list[ContactKey]], Need] | None = None
        key = self.contact_key(contact)
        if contact.status != ContactStatus.QUEUED:
            pass
        elif contact.target_agent is not None:
            entries = self._direct.setdefault(contact.target_agent, [])
        elif contact.queue_id is not None:
            bucket = (contact.queue_id, contact.channel)
            self._queue_channels.setdefault(contact.queue_id, set()).add(contact.channel)
            by_need = self._waiting_by_need.setdefault(bucket, {})
            need = need_of(contact.required_skills)
            insort(by_need.setdefault(need, []), key)
            needed = (by_need, need)
        if entries is not None:
            insort(entries, key)
        # What was indexed is remembered, so un-indexing never depends on the current value.
        self._contact_at[contact.id] = (entries, needed, key, holders, contact.queue_id)

    def _unindex_contact(self, contact_id: str) -> None:
        placed = self._contact_at.pop(contact_id, None)
        if placed is None:
            return
        entries, needed, key, holders, queue_id = placed
        for agent_id in holders:
            self._hold(agent_id, queue_id, -1)
        if entries is not None:
            del entries[bisect_left(entries, key)]
        if needed is not None:
            by_need, need = needed
            alike = by_need[need]
            del alike[bisect_left(alike, key)]
            if not alike:
                del by_need[need]  # steps asking for rare levels leave nothing behind

    def _hold(self, agent_id: str, queue_id: str | None, delta: int) -> None:
        if queue_id is None:
            return
        held = self._held.setdefault(agent_id, {})
        before = held.get(queue_id, 0)
        after = before + delta
        if after:
            held[queue_id] = after
        else:
            held.pop(queue_id, None)
        queue = self.queues.get(queue_id)
        agent = self.agents.get(agent_id)
        if queue is None or agent is None or not queue.thresholds or (before > 0) == (after > 0):
            return
        busy = self._busy[queue_id]
        step = 1 if after > 0 else -1
        for i, threshold in enumerate(queue.thresholds):
            if threshold.includes(agent):
                busy[i] += step

    # --- traffic shares -------------------------------------------------------------------

    def record_accepted(self, queue_id: str, agent: AgentState) -> None:
        counts = self._traffic.get(queue_id)
        queue = self.queues.get(queue_id)
        if counts is None or queue is None:
            return
        counts[0] += 1
        for i, threshold in enumerate(queue.thresholds):
            counts[i + 1] += threshold.includes(agent)

    def reset_traffic(self, queue_id: str) -> None:
        """Start counting shares afresh (the caller picks the window, e.g. each hour)."""
        queue = self.queues[queue_id]
        self._traffic[queue_id] = [0] * (len(queue.thresholds) + 1)

    # --- reads for the decision core ------------------------------------------------------

    def free_agents(self, queue_id: str, channel: str, waited: float = math.inf,
                    skills: Mapping[str, int] | None = None) -> Iterable[AgentKey]:
        """Available members of the queue with room for ``channel``, least loaded and
        longest idle first, among those whose membership delay is at most ``waited``.

        With ``skills`` (a contact's required levels), agents below the level of one of
        them may be left out (the order of the others is the same): callers still test
        every requirement, this only spares them walking agents who cannot pass."""
        skill, level = self._split_by(queue_id, skills) if skills else ("", 0)
        tiers: Sequence[int] = (0,)
        if skill:
            levels = self._levels[(queue_id, skill)]
            tiers = levels[bisect_left(levels, level):]
        elif queue_id in self._indexed_skills:
            skill = self._indexed_skills[queue_id][0]
            tiers = self._levels[(queue_id, skill)]  # every level of it: everyone
        delays = [0.0, *(d for d in self._delays.get(queue_id, ()) if d <= waited)]
        free = self._free
        lists = [entries for d in delays for tier in tiers
                 if (entries := free.get((queue_id, channel, d, skill, tier)))]
        if len(lists) <= 1:
            return lists[0] if lists else ()
        return heapq.merge(*lists)

    def _split_by(self, queue_id: str, skills: Mapping[str, int]) -> tuple[str, int]:
        """The required skill whose per-level lists to walk: an indexed one, the highest
        level first; else the highest required, indexed from now on if there is room."""
        indexed = self._indexed_skills.get(queue_id, ())
        best: tuple[int, str] | None = None
        for skill, level in skills.items():
            if level > 0 and skill in indexed and (best is None or (level, skill) > best):
                best = (level, skill)
        if best is not None:
            return best[1], best[0]
        if len(indexed) >= MAX_INDEXED_SKILLS or queue_id not in self.queues:
            return "", 0
        level, skill = max((level, skill) for skill, level in skills.items())
        if level <= 0:
            return "", 0
        self._index_skill(queue_id, skill)
        return skill, level

    def split_by_skills(self, queue_id: str, skills: Iterable[str]) -> None:
        """Split the queue's free agents by these skills now (at most
        ``MAX_INDEXED_SKILLS`` in all), rather than when a decision first asks: the
        configuration says which ones its workflows ask for, and re-indexing a queue's
        members then costs a busy router as much as a thousand agent moves."""
        for skill in skills:
            indexed = self._indexed_skills.get(queue_id, ())
            if len(indexed) >= MAX_INDEXED_SKILLS:
                return
            if skill not in indexed:
                self._index_skill(queue_id, skill)

    def _index_skill(self, queue_id: str, skill: str) -> None:
        self._indexed_skills[queue_id] = (*self._indexed_skills.get(queue_id, ()), skill)
        self._levels[(queue_id, skill)] = []
        for agent_id in self._members.get(queue_id, ()):
            if agent_id in self._agent_at:
                self._unindex_agent(agent_id)
                self._index_agent(self.agents[agent_id])

    def waiting_by_need(self, queue_id: str,
                        channel: str) -> Iterable[tuple[Need, Sequence[ContactKey]]]:
        """The queue's contacts of this channel waiting, grouped by what their step
        needs, each group in the queue's order."""
        by_need = self._waiting_by_need.get((queue_id, channel))
        return by_need.items() if by_need else ()

    def _waiting_groups(self, queue_id: str) -> Iterable[Sequence[ContactKey]]:
        for channel in self._queue_channels.get(queue_id, ()):
            yield from self._waiting_by_need.get((queue_id, channel), {}).values()

    def waiting_count(self, queue_id: str) -> int:
        """The queue's contacts waiting, all channels."""
        return sum(len(group) for group in self._waiting_groups(queue_id))

    def waiting_ahead(self, queue_id: str, key: ContactKey) -> int:
        """How many of the queue's waiting contacts (all channels) come before ``key``
        in the queue's order."""
        return sum(bisect_left(group, key) for group in self._waiting_groups(queue_id))

    def waiting_for_agent(self, agent_id: str) -> Sequence[ContactKey]:
        """Contacts routed directly to this agent, best first."""
        return self._direct.get(agent_id, ())

    def members(self, queue_id: str) -> Iterable[str]:
        return self._members.get(queue_id, ())

    def delays(self, queue_id: str) -> tuple[float, ...]:
        """The distinct positive membership delays of a queue, ascending."""
        return self._delays.get(queue_id, ())

    def held(self, agent_id: str, queue_id: str) -> int:
        return self._held.get(agent_id, {}).get(queue_id, 0)

    def busy(self, queue_id: str) -> Sequence[int]:
        return self._busy.get(queue_id, ())

    def traffic(self, queue_id: str) -> Traffic:
        counts = self._traffic.get(queue_id, [0])
        return Traffic(counts[0], tuple(counts[1:]))

    def has_agents_for(self, queue_id: str, skills: Mapping[str, int], expression: str,
                       contact: ContactState | None = None) -> bool:
        """Someone on duty (not offline, not away) serves the queue with these skills and
        matches the agent expression, capacity aside: the test of ``skip_if_no_agents``."""
        test = compile_expression(expression)
        # An expression reading the contact's attributes cannot be answered once for all.
        cacheable = "contact" not in test.roots
        cache_key = (queue_id, tuple(sorted(skills.items())), expression)
        if cacheable:
            known = self._on_duty_cache.get(cache_key)
            if known is not None:
                return known
        found = False
        for agent_id in self._members.get(queue_id, ()):
            agent = self.agents[agent_id]
            if agent.presence in OFF_DUTY:
                continue
            if all(agent.skills.get(s, 0) >= level for s, level in skills.items()) \
                    and (not expression or test.matches(agent_view(agent, contact))):
                found = True
                break
        if cacheable:
            self._on_duty_cache[cache_key] = found
        return found


def need_of(required_skills: Mapping[str, int]) -> Need:
    """A step's requirements as a key: levels of 0 or less ask for nothing."""
    return tuple(sorted((skill, level) for skill, level in required_skills.items() if level > 0))


def agent_view(agent: AgentState, contact: ContactState | None = None) -> dict[str, object]:
    """What an agent expression sees: the agent's fields and attributes, and the contact's
    attributes under ``contact`` (``languages contains contact.language``)."""
    view: dict[str, object] = {**agent.attributes, "id": agent.id, "site": agent.site,
                               "skills": agent.skills}
    if contact is not None:
        view["contact"] = contact.attributes
    return view


def _holders(contact: ContactState) -> tuple[str, ...]:
    if contact.status not in HOLDING:
        return ()
    if contact.status == ContactStatus.OFFERED:
        return contact.offered_to
    return (contact.agent_id,) if contact.agent_id is not None else ()


def _roster_changed(old: AgentState, new: AgentState) -> bool:
    return ((old.presence in OFF_DUTY) != (new.presence in OFF_DUTY)
            or old.skills != new.skills or old.queues != new.queues
            or old.attributes != new.attributes or old.site != new.site)
