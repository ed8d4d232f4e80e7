"""Running several long-lived coroutines until the first of them ends.

A client often runs jobs that only end by failing or by being done for all (a stream and the lease
that allows it; a display and the feeds behind it): when one ends the rest must stop with it, and
what ended it must surface rather than be lost in a task nobody awaits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ["first_to_end"]


async def first_to_end(*jobs: Awaitable[object]) -> None:
    """Run ``jobs`` until one ends; the others are cancelled (and awaited), then what the ended one raised
    is raised here. Cancelling this call cancels them all."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()
