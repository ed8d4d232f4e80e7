"""What every venue WebSocket client here does the same way: open a socket as the venue wants it,
run sessions one after the other with a backoff between them, and keep background tasks whose
failures are logged rather than lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from polyinfra.core.book_sync import Backoff
from polyinfra.errors import TransportError
from polyinfra.obs.logging import correlation_scope, get_logger, new_correlation_id
from polyinfra.wire.json_decoding import MAX_FRAME_BYTES

__all__ = ["BackgroundTasks", "open_venue_socket", "run_sessions"]

_log = get_logger(__name__)


async def open_venue_socket(url: str, *, what: str, open_timeout_s: float, close_timeout_s: float) -> ClientConnection:
    """A connected socket; :class:`TransportError` naming ``what`` when it cannot be opened."""
    try:
        # Protocol-level pings are off: the venue speaks its own text PING/PONG (clob.md §7.2).
        # A larger frame than any the venue sends closes the socket (1009) before it is buffered whole.
        return await connect(
            url,
            open_timeout=open_timeout_s,
            close_timeout=close_timeout_s,
            ping_interval=None,
            max_size=MAX_FRAME_BYTES,
            compression=None,
        )
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        raise TransportError(f"cannot connect to the {what}: {type(exc).__name__}", url=url) from exc


async def run_sessions(
    session: Callable[[str], Awaitable[None]],
    backoff: Backoff,
    *,
    ending: Callable[[], bool],
    **scope: str,
) -> None:
    """Run ``session(session_id)`` again and again until ``ending()``, waiting the backoff's next
    delay before every attempt but the first. Each session logs under its own correlation id
    (with ``scope``), so one session's lines can be told from the next one's."""
    first_attempt = True
    while not ending():
        if not first_attempt:
            await asyncio.sleep(backoff.next_delay_s())
        first_attempt = False
        session_id = new_correlation_id()
        with correlation_scope(session_id=session_id, **scope):
            await session(session_id)


class BackgroundTasks:
    """A client's background tasks: kept referenced while they run (asyncio holds tasks weakly),
    a failure logged with the task's name, all cancelled together. ``owner`` names the client in logs."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def cancel_all(self, *, keep: asyncio.Task[Any] | None = None) -> list[asyncio.Task[None]]:
        """Cancel every task but ``keep`` (the caller's own, which cannot wait for itself); returns them."""
        tasks = [task for task in self._tasks if task is not keep]
        for task in tasks:
            task.cancel()
        return tasks

    async def stop(self) -> None:
        """Cancel every task and wait until all have ended."""
        await asyncio.gather(*self.cancel_all(), return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _log.error(f"a {self._owner} background task failed", task=task.get_name(), exc_info=task.exception())
