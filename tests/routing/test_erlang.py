"""Erlang C and Erlang A against published figures and an independent simulation."""

from __future__ import annotations

import heapq
import random
from collections import deque

import pytest

from plateaux.routing.erlang import agents_for_service_level, erlang_a, erlang_c

RATE = 100 / 1800  # 100 contacts per 30 minutes


def test_erlang_c_reference_vector() -> None:
    fourteen = erlang_c(rate=RATE, aht=180, agents=14, threshold=20)
    assert fourteen.service_level == pytest.approx(0.8884, abs=5e-5)
    assert fourteen.p_wait == pytest.approx(0.1741, abs=5e-5)
    assert fourteen.asa == pytest.approx(7.84, abs=5e-3)
    assert erlang_c(rate=RATE, aht=180, agents=13, threshold=20).service_level == pytest.approx(
        0.7956, abs=5e-5)


def test_pooling_needs_fewer_agents() -> None:
    separate = 6 * agents_for_service_level(rate=10 / 180, aht=180, threshold=20, target=0.8)
    pooled = agents_for_service_level(rate=60 / 180, aht=180, threshold=20, target=0.8)
    assert (separate, pooled) == (84, 66)


def test_overload_is_reported_not_divided_by_zero() -> None:
    over = erlang_c(rate=RATE, aht=180, agents=10, threshold=20)
    assert over.p_wait == 1.0 and over.service_level == 0.0


def test_erlang_a_tends_to_erlang_c_when_nobody_gives_up() -> None:
    a = erlang_a(rate=RATE, aht=180, agents=14, patience=1e9, threshold=20)
    c = erlang_c(rate=RATE, aht=180, agents=14, threshold=20)
    assert a.service_level == pytest.approx(c.service_level, abs=1e-4)
    assert a.asa == pytest.approx(c.asa, abs=1e-2)
    assert a.p_abandon < 1e-6


def _simulate_mmn_m(*, rate: float, aht: float, agents: int, patience: float,
                    threshold: float, arrivals: int, seed: int) -> tuple[float, float, float]:
    """A plain FIFO M/M/n+M simulation, independent of the formulas under test."""
    rng = random.Random(seed)
    now = 0.0
    free = agents
    queue: deque[tuple[float, float]] = deque()  # (arrival time, give-up time)
    completions: list[float] = []
    answered_in_time = abandoned = answered = 0
    next_arrival = rng.expovariate(rate)
    seen = 0
    while seen < arrivals:
        next_done = completions[0] if completions else float("inf")
        now = min(next_arrival, next_done)
        if now == next_done:
            heapq.heappop(completions)
            free += 1
        else:
            seen += 1
            queue.append((now, now + rng.expovariate(1 / patience)))
            next_arrival = now + rng.expovariate(rate)
        while queue and free:
            arrived, gives_up = queue.popleft()
            if gives_up < now:
                abandoned += 1
                continue
            free -= 1
            answered += 1
            answered_in_time += now - arrived <= threshold
            heapq.heappush(completions, now + rng.expovariate(1 / aht))
        # Callers who gave up while everyone stayed busy leave the queue too.
        while queue and queue[0][1] < now and not free:
            queue.popleft()
            abandoned += 1
    total = answered + abandoned
    return answered_in_time / total, abandoned / total, answered / total


def test_erlang_a_matches_a_simulation() -> None:
    figures = erlang_a(rate=RATE, aht=180, agents=12, patience=120, threshold=20)
    sl, abandon, _ = _simulate_mmn_m(rate=RATE, aht=180, agents=12, patience=120,
                                     threshold=20, arrivals=150_000, seed=11)
    assert figures.p_abandon == pytest.approx(abandon, abs=0.006)
    assert figures.service_level == pytest.approx(sl, abs=0.01)
