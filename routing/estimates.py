"""Position in queue and estimated wait, from the live service rate.

The rate is observed, not configured: contacts of the queue completed over a sliding
window, per agent serving the queue during that window, times the agents serving it now.
When every agent is busy (which is when anyone waits), a contact at position ``k`` is
answered after ``k`` more completions, so its expected wait is ``k`` over that rate.

The observed rate undercounts what agents could do when the queue was often empty during
the window; the estimate then errs long, which is the safe side for "your wait is about
N minutes" and for overflow on a long wait.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field, replace

from plateaux.routing.snapshot import Snapshot
from plateaux.routing.state import ContactState


@dataclass(frozen=True, slots=True)
class QueueStats:
    completed: int  # contacts of the queue completed within the window
    window: float  # seconds the window covers (shorter just after start-up)
    average_agents: float  # agents serving the queue, time-averaged over the window
    agents_now: int  # agents serving it now
    handle_time: float | None = None  # used before anything has completed

    def rate(self) -> float:
        """Expected completions per second now; 0 when nothing can be said."""
        if self.agents_now <= 0:
            return 0.0
        if self.completed > 0 and self.window > 0 and self.average_agents > 0:
            per_agent = self.completed / self.window / self.average_agents
            return per_agent * self.agents_now
        if self.handle_time:
            return self.agents_now / self.handle_time
        return 0.0


def estimate_wait(queue_stats: QueueStats, position: int) -> float | None:
    """Seconds until the contact at ``position`` (1 = next) is answered; None when nobody
    serves the queue or nothing is known about its pace."""
    rate = queue_stats.rate()
    if rate <= 0:
        return None
    return max(position, 0) / rate


def position_in_queue(snapshot: Snapshot, contact: ContactState,
                      queue_id: str | None = None) -> int:
    """1 + the contacts of its queue (all channels) that will be offered before it, by the
    queue's order. ``queue_id`` asks where it would stand in another queue."""
    target = queue_id or contact.queue_id
    if contact.target_agent is not None and queue_id is None:
        ahead = bisect_left(snapshot.waiting_for_agent(contact.target_agent),
                            snapshot.contact_key(contact))
        return ahead + 1
    if target is None:
        return 0
    key = snapshot.contact_key(contact if contact.queue_id == target
                               else replace(contact, queue_id=target))
    return snapshot.waiting_ahead(target, key) + 1


@dataclass
class ServiceWindow:
    """Keeps what ``QueueStats`` needs for one queue, over the last ``window`` seconds."""

    window: float = 900.0
    _completions: deque[float] = field(default_factory=deque)
    _staffing: deque[tuple[float, int]] = field(default_factory=deque)  # (since, agents)
    _started: float | None = None

    def record_completion(self, at: float) -> None:
        self._start(at)
        self._completions.append(at)

    def record_agents(self, at: float, agents: int) -> None:
        """The number of agents serving the queue changed to ``agents`` at ``at``."""
        self._start(at)
        self._staffing.append((at, agents))

    def stats(self, now: float, *, handle_time: float | None = None) -> QueueStats:
        self._trim(now)
        since = max(now - self.window, self._started if self._started is not None else now)
        span = now - since
        return QueueStats(completed=len(self._completions), window=span,
                          average_agents=self._average_agents(since, now),
                          agents_now=self._staffing[-1][1] if self._staffing else 0,
                          handle_time=handle_time)

    def _start(self, at: float) -> None:
        if self._started is None:
            self._started = at

    def _trim(self, now: float) -> None:
        horizon = now - self.window
        while self._completions and self._completions[0] < horizon:
            self._completions.popleft()
        # Keep the last change before the horizon: it says how many served at the horizon.
        while len(self._staffing) > 1 and self._staffing[1][0] <= horizon:
            self._staffing.popleft()

    def _average_agents(self, since: float, now: float) -> float:
        if not self._staffing:
            return 0.0
        if now <= since:
            return float(self._staffing[-1][1])
        total = 0.0
        entries = list(self._staffing)
        for (at, agents), following in zip(entries, [*entries[1:], (now, 0)], strict=True):
            start, end = max(at, since), min(following[0], now)
            if end > start:
                total += agents * (end - start)
        return total / (now - since)
