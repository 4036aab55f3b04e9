"""Whether an agent has room for one more contact of a channel.

Two rules combine: the per-channel capacity (e.g. 1 call, 3 chats, 5 emails) and the
agent's cross-channel ``CapacityPolicy`` (a call blocks everything, or chats may continue
beside it). Pending offers count as load, so nobody is offered beyond capacity while
earlier offers await an answer.
"""

from __future__ import annotations

from plateaux.routing.state import AgentState, Presence


def routable(agent: AgentState) -> bool:
    return agent.presence == Presence.AVAILABLE


def has_room(agent: AgentState, channel: str) -> bool:
    """Capacity and policy only; presence is ``routable``'s business."""
    load = agent.load
    if not load:
        return agent.capacity.get(channel, 0) > 0
    if load.get(channel, 0) >= agent.capacity.get(channel, 0):
        return False
    policy = agent.policy
    holding_blocking = False
    holding_other = False
    for held_channel, count in load.items():
        if count <= 0:
            continue
        if held_channel in policy.blocking:
            holding_blocking = True
        elif held_channel not in policy.alongside:
            holding_other = True
    if channel in policy.blocking:
        # One blocking contact at a time, and only beside work that may continue with it.
        return not holding_blocking and not holding_other
    if holding_blocking:
        return channel in policy.alongside
    return True


def within_capacity(agent: AgentState) -> bool:
    """The invariant decisions keep: no channel over capacity, policy respected."""
    load = {channel: count for channel, count in agent.load.items() if count > 0}
    if any(count > agent.capacity.get(channel, 0) for channel, count in load.items()):
        return False
    blocking = sum(count for channel, count in load.items() if channel in agent.policy.blocking)
    if blocking > 1:
        return False
    if blocking == 1:
        return all(channel in agent.policy.blocking or channel in agent.policy.alongside
                   for channel in load)
    return True
