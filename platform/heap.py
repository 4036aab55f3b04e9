"""The serving process's garbage-collection policy.

Routing decides and chat delivers within a few milliseconds, so every pause of CPython's
cyclic collector is latency that each request queued behind it pays. Two measures:

- Long-lived state (a tenant's routing snapshot, once loaded) is moved out of the
  collector's reach (``settle``): later passes walk only what appeared since.
- Young collections run after ``YOUNG_THRESHOLD`` net allocations of tracked objects
  instead of CPython's 700. Most objects a request makes die by reference counting before
  any pass; what a pass walks is what is still alive, so rarer passes do less work in all.
  With the default, a router serving 1,000 contacts a second paused for a young pass 4 to 7
  times a second (up to 30 ms each under load, most of its p99); with this threshold none
  ran in a 30-second run (docs/benchmarks.md). Cyclic garbage waits longer to be freed:
  at most this many young objects' worth.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
# Young passes before a middle-generation one (CPython's default is 10).
MIDDLE_THRESHOLD = 20


def configure() -> None:
    """Apply the policy to this process (the server calls it as it starts)."""
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, gc.get_threshold()[2])


def settle() -> None:
    """After loading state that lives as long as the process: collect what is garbage now,
    then take everything alive out of later passes."""
    gc.collect()
    gc.freeze()
