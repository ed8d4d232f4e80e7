"""What every venue WebSocket client here does the same way: open a socket as the venue wants it,
run sessions one after the other with a backoff between them, and keep background tasks whose
failures are logged, counted and (for the long-running ones) restarted rather than lost.

Hostile data is handled where it is read (the per-frame and per-answer steps of each client); the
supervisor here is the net under that: a task that dies anyway, from a bug or an input nothing
anticipated, is noticed, logged with a bounded description (never the data, which may be 100 KB
of hostile bytes or carry the user's keys), counted in ``polyinfra_task_failures`` and started
again after a backoff, so one bad frame never leaves books stale for the rest of the run.
"""

from __future__ import annotations

import asyncio
import random
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Final

import websockets
from websockets.asyncio.client import ClientConnection, connect

from polyinfra.core.backoff import Backoff
from polyinfra.errors import TransportError
from polyinfra.net.connect_failures import connect_failure
from polyinfra.obs.logging import correlation_scope, get_logger, new_correlation_id
from polyinfra.obs.metrics import TASK_FAILURES
from polyinfra.wire.json_decoding import MAX_FRAME_BYTES

__all__ = ["BackgroundTasks", "describe_failure", "open_venue_socket", "retry_after_s", "run_sessions"]

_log = get_logger(__name__)

# An exception's text can hold the hostile value that caused it (a 5,000-digit number, a token id
# of 100 KB): logs get this much of it.
_FAILURE_TEXT_CHARS: Final = 300
# The innermost frames of a dead task's traceback: where it failed, without the locals an error
# tracker would capture (they may hold credentials) and without the unbounded message.
_TRACEBACK_FRAMES: Final = 5
# A Retry-After longer than this is the server's mistake (or hostile): the backoff's ceiling applies instead.
_MAX_RETRY_AFTER_S: Final = 3600
_RETRY_AFTER_STATUSES: Final = frozenset({429, 503})


def describe_failure(exc: BaseException) -> str:
    """The exception's type and the start of its text, for a log line of bounded size."""
    text = str(exc)
    if len(text) > _FAILURE_TEXT_CHARS:
        text = f"{text[:_FAILURE_TEXT_CHARS]}... ({len(text)} chars)"
    return f"{type(exc).__name__}: {text}"


def retry_after_s(exc: BaseException) -> int | None:
    """The ``Retry-After`` seconds of a handshake the server refused with 429 or 503 (somewhere in
    ``exc``'s chain), when it sent a sane one; None otherwise."""
    chained: BaseException | None = exc
    while chained is not None:
        if isinstance(chained, websockets.InvalidStatus):
            response = chained.response
            text = response.headers.get("Retry-After", "")
            if response.status_code in _RETRY_AFTER_STATUSES and text.isascii() and text.isdigit() and len(text) < 6:
                return min(int(text), _MAX_RETRY_AFTER_S)
            return None
        chained = chained.__cause__ or chained.__context__
    return None


async def open_venue_socket(
    url: str, *, what: str, open_timeout_s: float, close_timeout_s: float, max_frame_bytes: int = MAX_FRAME_BYTES
) -> ClientConnection:
    """A connected socket; :class:`TransportError` naming ``what`` when it cannot be opened."""
    try:
        # Protocol-level pings are off: the venue speaks its own text PING/PONG (venue notes: WebSockets).
        # A larger frame than any the venue sends closes the socket (1009) before it is buffered whole.
        return await connect(
            url,
            open_timeout=open_timeout_s,
            close_timeout=close_timeout_s,
            ping_interval=None,
            max_size=max_frame_bytes,
            compression=None,
        )
    except (OSError, TimeoutError, websockets.WebSocketException) as exc:
        # A refused handshake or a timeout has no deeper cause: the library's own name says it.
        reason, retriable = connect_failure(exc, url) or (type(exc).__name__, True)
        raise TransportError(
            f"cannot connect to the {what} at {url}: {reason}", retriable=retriable, url=url, cause=type(exc).__name__
        ) from exc


async def run_sessions(
    session: Callable[[str], Awaitable[float | None]],
    backoff: Backoff,
    *,
    ending: Callable[[], bool],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    **scope: str,
) -> None:
    """Run ``session(session_id)`` again and again until ``ending()``, waiting before every attempt
    but the first: the delay the last session returned (the server said when to come back), else
    the backoff's next one. Each session logs under its own correlation id (with ``scope``), so one
    session's lines can be told from the next one's. ``sleep`` is injectable for tests."""
    delay_s: float | None = None
    first_attempt = True
    while not ending():
        if not first_attempt:
            await sleep(backoff.next_delay_s() if delay_s is None else delay_s)
        first_attempt = False
        session_id = new_correlation_id()
        with correlation_scope(session_id=session_id, **scope):
            delay_s = await session(session_id)


class BackgroundTasks:
    """A client's background tasks: kept referenced while they run (asyncio holds tasks weakly),
    a failure logged and counted by the task's name, all cancelled together. ``owner`` names the
    client in logs. Supervised tasks are restarted after a failure, on a backoff from
    ``restart_initial_s`` doubling to ``restart_max_s``; one that ran that long before failing
    starts the schedule afresh. Task names are fixed strings (they label a metric)."""

    def __init__(
        self,
        owner: str,
        *,
        restart_initial_s: float = 1.0,
        restart_max_s: float = 30.0,
        random: Callable[[], float] = random.random,
    ) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()
        self._restart_initial_s = restart_initial_s
        self._restart_max_s = restart_max_s
        self._random = random
        self._failures: dict[str, int] = {}

    @property
    def failures(self) -> Mapping[str, int]:
        """Tasks that ended with an exception, by name (supervised ones were restarted)."""
        return dict(self._failures)

    def spawn(self, coroutine: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run a one-shot task; its failure is logged and counted."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def supervise(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> asyncio.Task[None]:
        """Run ``run()`` as a long-running task: should it raise (a cancellation is not a failure),
        the failure is logged and counted and ``run()`` starts again after the backoff. It ends
        when ``run()`` returns or the task is cancelled."""
        return self.spawn(self._supervised(run, name), name)

    def cancel_all(self, *, keep: asyncio.Task[Any] | None = None) -> list[asyncio.Task[None]]:
        """Cancel every task but ``keep`` (the caller's own, which cannot wait for itself); returns them."""
        tasks = [task for task in self._tasks if task is not keep]
        for task in tasks:
            task.cancel()
        return tasks

    async def stop(self) -> None:
        """Cancel every task and wait until all have ended."""
        await asyncio.gather(*self.cancel_all(), return_exceptions=True)

    async def _supervised(self, run: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
        backoff = Backoff(initial_s=self._restart_initial_s, max_s=self._restart_max_s, random=self._random)
        loop = asyncio.get_running_loop()
        while True:
            started_s = loop.time()
            try:
                await run()
            except Exception as exc:  # CancelledError is not an Exception: it ends the task
                if loop.time() - started_s >= self._restart_max_s:
                    backoff.reset()
                delay_s = backoff.next_delay_s()
                self._failed(name, exc, restart_in_s=round(delay_s, 3))
                await asyncio.sleep(delay_s)
            else:
                return

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None:
                self._failed(task.get_name(), exc)

    def _failed(self, name: str, exc: BaseException, **context: object) -> None:
        self._failures[name] = self._failures.get(name, 0) + 1
        TASK_FAILURES.labels(task=name).inc()
        _log.error(
            f"a {self._owner} background task failed",
            task=name,
            error=describe_failure(exc),
            where="".join(traceback.format_tb(exc.__traceback__, limit=-_TRACEBACK_FRAMES)),
            **context,
        )
