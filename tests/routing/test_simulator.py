"""The simulator, driving the real decision core, agrees with queueing theory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from plateaux.routing.erlang import erlang_a, erlang_c
from plateaux.routing.scenario import single_queue
from plateaux.routing.simulator import simulate

RATE_PER_HOUR = 200  # 100 per 30 minutes


def one_queue(agents: int, *, patience: float | None = None, hours: float = 500,
              seed: int = 2) -> dict[str, float]:
    scenario = single_queue(agents=agents, arrivals_per_hour=RATE_PER_HOUR, aht=180,
                            threshold=20, patience=patience, hours=hours, seed=seed)
    result = simulate(scenario)
    return {**result["queues"]["main"], "occupancy": result["occupancy"]}


def test_a_long_run_matches_erlang_c() -> None:
    fourteen = one_queue(14)
    assert fourteen["offered"] > 90_000
    assert fourteen["service_level"] == pytest.approx(0.888, abs=0.015)
    assert fourteen["asa"] == pytest.approx(7.8, abs=1.5)
    assert fourteen["occupancy"] == pytest.approx(10 / 14, abs=0.01)
    thirteen = one_queue(13)
    expected = erlang_c(rate=RATE_PER_HOUR / 3600, aht=180, agents=13, threshold=20)
    assert thirteen["service_level"] == pytest.approx(expected.service_level, abs=0.015)


def test_with_patience_it_matches_erlang_a() -> None:
    run = one_queue(12, patience=120)
    theory = erlang_a(rate=RATE_PER_HOUR / 3600, aht=180, agents=12, patience=120,
                      threshold=20)
    # Abandonment is a few percent: half a point is several standard errors of a 500 h run.
    assert run["abandonment_rate"] == pytest.approx(theory.p_abandon, abs=0.005)
    assert run["service_level"] == pytest.approx(theory.service_level, abs=0.015)


def test_same_seed_same_result_and_the_command_prints_json() -> None:
    assert one_queue(14, hours=20, seed=5) == one_queue(14, hours=20, seed=5)
    out = subprocess.run(
        [sys.executable, "-m", "plateaux.platform.cli", "simulate", "--agents", "14",
         "--hours", "20", "--seed", "3", "--json"],
        capture_output=True, text=True, check=True, timeout=120)
    data = json.loads(out.stdout)
    assert data["queues"]["main"]["offered"] > 3000
    assert data["theory"]["model"] == "erlang_c"
    assert data["theory"]["service_level"] == pytest.approx(0.8884, abs=1e-4)
