"""Open chat sockets kept out of the cyclic garbage collector's full passes.

A process holding thousands of chat sockets keeps hundreds of thousands of objects alive as
long as they stay open (a socket's tasks, coroutines, protocol and buffers: about 150).
CPython's full collection walks every one of them each time the objects surviving younger
collections have grown by a quarter: with 2,000 sockets that is a pause of 0.3 to 0.7 s every
few tens of seconds, during which no message moves (measured: docs/benchmarks.md).

So once a process holds many sockets (``FREEZE_FROM``), what is alive shortly after sockets
open is moved to the permanent generation (``gc.freeze``), after a collection of what
appeared since the last freeze (short: only those objects are walked). Later passes walk
only what is new. The routing engine freezes its snapshot the same way.

The price: cycles among frozen objects are never collected, and a closed socket leaves
some (its tasks and its protocol refer to each other). So once as many sockets have closed
since the last full pass as were open after it, a full pass runs (unfreeze, collect, freeze
again): as long a pause as before, but once per turnover of the sockets, not every few
tens of seconds, and memory stays bounded.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

logger = logging.getLogger(__name__)

# Below this many open sockets the heap is small and a full pass short: nothing is done.
FREEZE_FROM = 200
# Sockets opening in a burst are frozen together, at most once per this many seconds.
SETTLE_SECONDS = 1.0


class SocketHeap:
    """The process's open chat sockets, as far as garbage collection is concerned."""

    def __init__(self, *, freeze_from: int = FREEZE_FROM,
                 settle_seconds: float = SETTLE_SECONDS) -> None:
        self.freeze_from = freeze_from
        self.settle_seconds = settle_seconds
        self.open = 0
        self.closed_since_full = 0
        self.open_after_full = 0
        self.freezes = 0
        self.full_passes = 0
        self._pending: asyncio.TimerHandle | None = None
        self._full_wanted = False

    def opened(self) -> None:
        self.open += 1
        if self.open >= self.freeze_from:
            self._schedule()

    def closed(self) -> None:
        self.open -= 1
        self.closed_since_full += 1
        if self.closed_since_full >= max(self.freeze_from, self.open_after_full):
            self._full_wanted = True
            self._schedule()

    def _schedule(self) -> None:
        if self._pending is None:
            loop = asyncio.get_running_loop()
            self._pending = loop.call_later(self.settle_seconds, self._run)

    def _run(self) -> None:
        self._pending = None
        began = time.perf_counter()
        if self._full_wanted:
            self._full_wanted = False
            gc.unfreeze()
            gc.collect()
            self.full_passes += 1
            self.closed_since_full = 0
            self.open_after_full = self.open
            what = "full pass"
        else:
            # Only what is not frozen yet is walked: what appeared since the last freeze.
            gc.collect()
            what = "collection"
        # Nothing left to collect: only what is alive is frozen.
        gc.freeze()
        self.freezes += 1
        logger.debug("chat sockets: %s and freeze in %.1f ms, %d open", what,
                     (time.perf_counter() - began) * 1000, self.open)


# One per process: garbage collection is the process's.
HEAP = SocketHeap()
