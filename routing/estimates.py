"""Position and estimated wait, from the live service rate rather than a constant.

The rate is measured: contacts of the queue answered over a sliding window. Each waiting
contact ahead must be answered before this one, so the estimate is the number ahead (plus
one) divided by the recent answer rate. With no answer recorded yet the estimate falls back
to the agents serving the queue and the average handle time, and says it is a guess.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class AnswerRate:
    """Answers of one queue over the last ``window`` seconds."""

    window: float = 900.0
    _answers: deque[float] = field(default_factory=deque)

    def record(self, at: float) -> None:
        self._answers.append(at)
        self._trim(at)

    def per_second(self, now: float) -> float:
        self._trim(now)
        if not self._answers:
            return 0.0
        span = min(self.window, max(now - self._answers[0], 1.0))
        return len(self._answers) / span

    def _trim(self, now: float) -> None:
        while self._answers and self._answers[0] < now - self.window:
            self._answers.popleft()


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    position: int  # 1 = next to be answered
    seconds: float | None  # None when nobody can answer (no agent serves the queue)
    measured: bool  # False when based on staffing rather than observed answers


def estimate_wait(*, position: int, rate: AnswerRate, now: float, serving_agents: int,
                  aht: float) -> WaitEstimate:
    observed = rate.per_second(now)
    if observed > 0:
        return WaitEstimate(position, position / observed, measured=True)
    if serving_agents <= 0:
        return WaitEstimate(position, None, measured=False)
    return WaitEstimate(position, position * aht / serving_agents, measured=False)
