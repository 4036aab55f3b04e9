"""Waiting for something the platform does in the background (a bound, not a measure)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


async def until(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0,
                every: float = 0.05, what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something true, and return that."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(every)
