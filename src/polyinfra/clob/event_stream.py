"""One consumer's bounded stream of events, shared by the live-book and user-channel clients.

Bounded on purpose (DESIGN.md principle 6): a consumer that falls behind loses its OLDEST events,
which are the least useful to a trading bot, and the loss is counted; the socket reader never
blocks on a slow consumer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Self, TypeVar

__all__ = ["EventStream"]

_Event = TypeVar("_Event")


class EventStream(Generic[_Event]):
    """An async iterator over queued events; full, it drops its oldest. ``close`` ends the
    iteration once the queued events are consumed."""

    __slots__ = ("__weakref__", "_closed", "_items", "_wakeup", "dropped")

    def __init__(self, limit: int) -> None:
        self._items: deque[_Event] = deque(maxlen=limit)
        self._wakeup = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def push(self, events: list[_Event]) -> int:
        """Queue events; returns how many old ones had to make room."""
        items = self._items
        dropped = max(0, len(items) + len(events) - (items.maxlen or 0))
        items.extend(events)
        self.dropped += dropped
        self._wakeup.set()
        return dropped

    def close(self) -> None:
        self._closed = True
        self._wakeup.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Event:
        while not self._items:
            if self._closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()
