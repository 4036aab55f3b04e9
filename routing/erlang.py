"""Queueing theory the routing engine and its simulator are checked against.

Erlang C (M/M/n, callers never give up) and Erlang A (M/M/n+M, exponential patience).
All times are in seconds; ``rate`` is arrivals per second; ``aht`` the average handle time.

Erlang A is computed exactly on its birth–death chain (truncated where the remaining
probability mass is below 1e-12), and the waiting time of a caller who finds ``j`` callers
queued ahead is a chain of exponential phases: each phase ends when someone ahead leaves
(service at rate n·μ, or abandonment at θ per waiting caller), while the caller's own
patience runs at rate θ. Outcome and duration of a phase are independent, so
P(answered within t) = Π p_i · P(Σ Exp(r_i + θ) ≤ t), the second factor computed by
uniformisation (stable for long chains, unlike the closed hypoexponential formula).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueueFigures:
    agents: int
    offered_load: float  # Erlangs
    p_wait: float  # probability an arrival waits at all
    service_level: float  # answered within the threshold / offered
    asa: float  # average speed of answer of answered contacts, seconds
    p_abandon: float  # abandoned / offered
    occupancy: float  # busy agent time / available agent time


def erlang_c_probability(agents: int, load: float) -> float:
    """P(wait) for M/M/n; 1.0 when the load reaches the number of agents."""
    if agents <= 0 or load >= agents:
        return 1.0
    # Erlang B by its stable recursion, then C from B.
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b / (1 - (load / agents) * (1 - b))


def erlang_c(*, rate: float, aht: float, agents: int, threshold: float) -> QueueFigures:
    load = rate * aht
    p_wait = erlang_c_probability(agents, load)
    if load >= agents:
        return QueueFigures(agents, load, 1.0, 0.0, math.inf, 0.0, 1.0)
    service_level = 1 - p_wait * math.exp(-(agents - load) * threshold / aht)
    asa = p_wait * aht / (agents - load)
    return QueueFigures(agents, load, p_wait, service_level, asa, 0.0, load / agents)


def agents_for_service_level(*, rate: float, aht: float, threshold: float,
                             target: float) -> int:
    """The fewest agents that meet ``target`` service level (Erlang C)."""
    agents = max(1, math.floor(rate * aht) + 1)
    while erlang_c(rate=rate, aht=aht, agents=agents, threshold=threshold).service_level < target:
        agents += 1
    return agents


def erlang_a(*, rate: float, aht: float, agents: int, patience: float,
             threshold: float) -> QueueFigures:
    """M/M/n+M: exponential patience of mean ``patience`` seconds."""
    mu, theta = 1 / aht, 1 / patience
    probabilities = _stationary(rate, mu, theta, agents)
    served_within = 0.0
    served = 0.0
    wait_of_served = 0.0
    for k, pk in enumerate(probabilities):
        if pk == 0.0:
            continue
        if k < agents:
            served_within += pk
            served += pk
            continue
        ahead = k - agents + 1  # phases to go through, this caller included
        rates = [agents * mu + theta * (i - 1) for i in range(ahead, 0, -1)]
        success = math.prod(r / (r + theta) for r in rates)
        served += pk * success
        wait_of_served += pk * success * sum(1 / (r + theta) for r in rates)
        served_within += pk * success * _chain_done_by([r + theta for r in rates], threshold)
    p_wait = sum(probabilities[agents:])
    p_abandon = max(0.0, 1 - served)
    busy = sum(min(k, agents) * pk for k, pk in enumerate(probabilities))
    return QueueFigures(
        agents=agents, offered_load=rate * aht, p_wait=p_wait, service_level=served_within,
        asa=wait_of_served / served if served else math.inf, p_abandon=p_abandon,
        occupancy=busy / agents,
    )


def _stationary(rate: float, mu: float, theta: float, agents: int) -> list[float]:
    """Stationary distribution of the number in system, truncated at negligible mass."""
    weights = [1.0]
    k = 0
    total = 1.0
    while True:
        k += 1
        death = mu * min(k, agents) + theta * max(k - agents, 0)
        weights.append(weights[-1] * rate / death)
        total += weights[-1]
        if k > agents and weights[-1] / total < 1e-13 and death > rate:
            break
        if k > 100_000:
            raise ValueError("the chain does not settle: check the parameters")
    return [w / total for w in weights]


def _chain_done_by(rates: list[float], t: float) -> float:
    """P(a chain of exponential phases with these rates ends by time t), by uniformisation."""
    if t <= 0:
        return 0.0
    top = max(rates)
    # Each uniformised step moves to the next phase with probability rate/top.
    stay = [1 - r / top for r in rates]
    lam = top * t
    # Distribution over phases after m steps; absorbed mass accumulates in `done`.
    state = [1.0] + [0.0] * (len(rates) - 1)
    done = 0.0
    result = 0.0
    poisson = math.exp(-lam) if lam < 700 else 0.0
    log_poisson = -lam
    m = 0
    limit = int(lam + 12 * math.sqrt(lam + 1) + 50)
    while m <= limit:
        weight = poisson if lam < 700 else math.exp(log_poisson)
        result += weight * done
        nxt = [0.0] * len(rates)
        for i, p in enumerate(state):
            if p == 0.0:
                continue
            nxt[i] += p * stay[i]
            if i + 1 < len(rates):
                nxt[i + 1] += p * (1 - stay[i])
            else:
                done += p * (1 - stay[i])
        state = nxt
        m += 1
        poisson *= lam / m
        log_poisson += math.log(lam) - math.log(m)
    return min(1.0, result)
