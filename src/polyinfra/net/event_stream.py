"""How a streaming client hands its events to consumers; shared by the live-book and user-channel clients.

* :class:`EventStream`: one consumer's bounded queue, read as an async iterator. Bounded on
  purpose (docs/DEVELOPING.md, rule 6): a consumer that falls behind loses its OLDEST events, which are
  the least useful to a trading bot, and the loss is counted; the socket reader never blocks on a
  slow consumer.
* :class:`EventFanout`: every consumer of one client, iterators and callbacks alike. A raising
  callback is logged and counted, never allowed to stop the reader that delivers.

A client that cannot go on (e.g. credentials the venue keeps refusing) closes its fan-out with the
error: each iterator raises it once its queued events are consumed, so a bot reading events learns
why they stopped instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import deque
from collections.abc import Callable
from typing import Final, Generic, Self, TypeVar

from polyinfra.errors import PolyinfraError
from polyinfra.obs.logging import get_logger

__all__ = ["EventFanout", "EventStream"]

_log = get_logger(__name__)

_Event = TypeVar("_Event")

# A callback that raises on every event would otherwise log once per event.
_LISTENER_FAILURES_PER_LOG: Final = 1000


class EventStream(Generic[_Event]):
    """An async iterator over queued events; full, it drops its oldest. ``close`` ends the
    iteration once the queued events are consumed, raising ``error`` then if one is given."""

    __slots__ = ("__weakref__", "_closed", "_error", "_items", "_wakeup", "dropped")

    def __init__(self, limit: int) -> None:
        self._items: deque[_Event] = deque(maxlen=limit)
        self._wakeup = asyncio.Event()
        self._closed = False
        self._error: PolyinfraError | None = None
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

    def close(self, error: PolyinfraError | None = None) -> None:
        self._closed = True
        self._error = error
        self._wakeup.set()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> _Event:
        while not self._items:
            if self._closed:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()


class EventFanout(Generic[_Event]):
    """Every consumer of one client's events: iterators, each with its own queue of ``queue_size``
    (held weakly: one nobody references any more stops receiving), and callbacks, called in the
    delivering task. ``what`` names the events in logs ("book", "user")."""

    def __init__(self, queue_size: int, *, what: str) -> None:
        self._queue_size = queue_size
        self._what = what
        self._streams: weakref.WeakSet[EventStream[_Event]] = weakref.WeakSet()
        self._listeners: list[Callable[[_Event], None]] = []
        self._listener_failures: dict[int, int] = {}  # by id(): a callback need not be hashable
        self._closed = False
        self._error: PolyinfraError | None = None
        self.delivered = 0
        self.dropped = 0
        """Events dropped by full iterator queues (oldest first)."""
        self.listener_errors = 0

    @property
    def has_consumers(self) -> bool:
        return bool(self._listeners) or len(self._streams) > 0

    @property
    def queued(self) -> int:
        """Events waiting in the iterators' queues."""
        return sum(len(stream) for stream in list(self._streams))

    def stream(self) -> EventStream[_Event]:
        """A new iterator over the events from now on; already closed when the fan-out is."""
        stream: EventStream[_Event] = EventStream(self._queue_size)
        if self._closed:
            stream.close(self._error)
        else:
            self._streams.add(stream)
        return stream

    def add_listener(self, callback: Callable[[_Event], None]) -> Callable[[], None]:
        """Call ``callback`` with every event; returns its remover."""
        self._listeners.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(callback)
            self._listener_failures.pop(id(callback), None)

        return remove

    def deliver(self, events: list[_Event]) -> int:
        """Hand ``events`` to every consumer; returns how many queued events had to make room."""
        dropped = 0
        for stream in list(self._streams):
            dropped += stream.push(events)
        for listener in list(self._listeners):
            for event in events:
                try:
                    listener(event)
                except Exception as exc:  # a consumer's bug must not stop the reader
                    self._listener_failed(listener, exc)
        self.dropped += dropped
        self.delivered += len(events)
        return dropped

    def close(self, error: PolyinfraError | None = None) -> None:
        """End every iterator (raising ``error`` after its queued events, if given), and those made later."""
        self._closed = True
        self._error = error
        for stream in list(self._streams):
            stream.close(error)

    def _listener_failed(self, listener: Callable[[_Event], None], exc: Exception) -> None:
        self.listener_errors += 1
        failures = self._listener_failures.get(id(listener), 0) + 1
        self._listener_failures[id(listener)] = failures
        if failures % _LISTENER_FAILURES_PER_LOG == 1:
            _log.error(
                f"a {self._what} event listener raised", listener=repr(listener), failures=failures, exc_info=exc
            )
