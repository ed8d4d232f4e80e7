"""The REST side of :class:`~polyinfra.clob.live_books.LiveBooks`: its snapshot and audit workers over ``POST /books``.

* **Snapshots.** The sans-I/O core (:class:`~polyinfra.core.book_sync.BookSync`) decides which
  tokens need a REST snapshot and batches them; the snapshot worker sends those batches, a few
  requests at a time, and hands each answer back to the core, which replays the events it buffered
  meanwhile on top.
* **Audits.** Every ``audit_interval_s`` all LIVE books are compared with the venue's, and so are
  the quiet tokens the watchdog picks (a venue that stops one asset's changes looks just like a
  quiet market from the socket). A book that differs is re-snapshotted by the core.
* **Hostile answers.** Each answer is handled in a step that survives any exception it raises: an
  answer that cannot be used is counted as malformed (``polyinfra_malformed_answers``) and logged
  with a bounded description, never the data; its tokens are retried on the backoff schedule, or
  asked again at the next audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from polyinfra.clob.rest import ClobRestClient
from polyinfra.clob.rest_endpoints import BOOKS_PER_REQUEST
from polyinfra.core.book_sync import BookSync, Instant, SnapshotRequest, SyncReason
from polyinfra.errors import InvalidValueError, MalformedMessageError, PolyinfraError
from polyinfra.model.events import SyncState
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import MALFORMED_ANSWERS
from polyinfra.record.records import NO_CONNECTION, RecordKind
from polyinfra.record.venue_time import venue_ms

if TYPE_CHECKING:
    from polyinfra.record.tap import ChannelTap

__all__ = ["LiveBooksRest"]

_log = get_logger(__name__)

_BOOKS_REQUEST: Final = "POST /books"
# POST /books requests in flight at once: a reconnect of 5,000 tokens is 10 batches, and the
# venue allows 500 of them per 10 s (venue notes: Rate limits); a few at a time keeps one slow answer from
# holding up the rest.
_CONCURRENT_SNAPSHOT_REQUESTS: Final = 4
# An audit judges a book only if it did not change while its REST book was fetched; waiting this
# long after the answer lets a change the REST book already shows arrive on the socket first.
_AUDIT_SETTLE_S: Final = 0.5


class LiveBooksRest:
    """The snapshot and audit workers of one :class:`~polyinfra.clob.live_books.LiveBooks`.

    ``now`` reads the clock as the owner does. ``on_sync_change`` is called after each answer changed
    the core (the owner delivers the events it produced and wakes this worker if there is more to
    fetch); ``deliver_new_events`` only delivers them. Both run in the worker's task.
    """

    def __init__(
        self,
        sync: BookSync,
        tasks: BackgroundTasks,
        tap: ChannelTap | None,
        *,
        audit_interval_s: float | None,
        now: Callable[[], Instant],
        on_sync_change: Callable[[], None],
        deliver_new_events: Callable[[], None],
    ) -> None:
        self._sync = sync
        self._tasks = tasks
        self._tap = tap
        self._audit_interval_s = audit_interval_s
        self._now = now
        self._on_sync_change = on_sync_change
        self._deliver_new_events = deliver_new_events
        self._rest: ClobRestClient | None = None
        self._snapshot_wanted = asyncio.Event()
        self._checks_wanted = asyncio.Event()
        self._tokens_to_check: dict[str, None] = {}
        self.malformed_answers = 0
        """``POST /books`` answers (snapshots and audits) that could not be used."""

    def start(self, rest_url: str, *, audits: bool) -> None:
        """Open the REST client and start the snapshot worker, and the audit worker if ``audits``."""
        self._rest = ClobRestClient(rest_url)
        self._tasks.supervise(self._snapshot_forever, "live-books snapshots")
        if audits:
            self._tasks.supervise(self._audit_forever, "live-books audit")

    async def aclose(self) -> None:
        """Close the REST client (once the workers are stopped)."""
        if self._rest is not None:
            await self._rest.aclose()

    def wake_snapshots(self) -> None:
        """Tell the snapshot worker the core may have batches for it."""
        self._snapshot_wanted.set()

    def check(self, tokens: list[str]) -> None:
        """Have the audit worker compare these tokens' books with the venue's."""
        self._tokens_to_check.update(dict.fromkeys(tokens))
        self._checks_wanted.set()

    async def _snapshot_forever(self) -> None:
        """Hand the core's snapshot batches to ``POST /books``, a few requests at a time."""
        in_flight: set[asyncio.Task[None]] = set()
        while True:
            self._snapshot_wanted.clear()
            while len(in_flight) < _CONCURRENT_SNAPSHOT_REQUESTS:
                request = self._sync.take_snapshot_batch(self._now(), BOOKS_PER_REQUEST)
                if request is None:
                    break
                if self._tap is not None:
                    self._tap.tokens(
                        RecordKind.SNAPSHOT_REQUESTED, NO_CONNECTION, request.token_ids, key=str(request.fetch_id)
                    )
                task = self._tasks.spawn(self._fetch_snapshots(request), "live-books snapshot request")
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            # Not on_sync_change: waking itself would spin while the requests it waits for starve.
            self._deliver_new_events()
            due_s = self._sync.next_snapshot_due_s()
            timeout_s = None
            if due_s is not None and len(in_flight) < _CONCURRENT_SNAPSHOT_REQUESTS:
                timeout_s = max(0.0, due_s - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._snapshot_wanted.wait()

    async def _fetch_snapshots(self, request: SnapshotRequest) -> None:
        rest = self._require_rest()
        try:
            summaries, body = await rest.get_books_answer(request.token_ids)
            if self._tap is not None:
                # The body as received: replay parses the venue's bytes again, with whatever parser it has then.
                first_timestamp = summaries[0].timestamp if summaries else None
                self._tap.rest_response(request.fetch_id, body, venue_ts_ms=venue_ms(first_timestamp))
            self._sync.apply_snapshots(request, summaries, self._now())
        except Exception as exc:  # whatever the answer held, its tokens must not wait forever
            self._books_request_failed(exc, "book snapshot request", len(request.token_ids))
            if self._tap is not None:
                self._tap.lifecycle(RecordKind.SNAPSHOT_FAILED, NO_CONNECTION, key=str(request.fetch_id))
            self._sync.snapshots_failed(request, self._now())
        self._on_sync_change()
        self._snapshot_wanted.set()

    def _books_request_failed(self, exc: Exception, what: str, tokens: int) -> None:
        """Log a failed ``POST /books``; an answer that could not be used counts as malformed."""
        if isinstance(exc, PolyinfraError) and not isinstance(exc, MalformedMessageError):
            _log.warning(f"{what} failed; retrying later", tokens=tokens, error=describe_failure(exc))
            return
        self.malformed_answers += 1
        MALFORMED_ANSWERS.labels(request=_BOOKS_REQUEST).inc()
        _log.warning(f"malformed answer to a {what}; retrying later", tokens=tokens, error=describe_failure(exc))

    async def _audit_forever(self) -> None:
        """Compare books with ``POST /books``: all LIVE ones every ``audit_interval_s``, and the
        quiet ones the watchdog picks."""
        interval_s = self._audit_interval_s
        next_audit_s = math.inf if interval_s is None else time.monotonic() + interval_s
        while True:
            timeout_s = None if math.isinf(next_audit_s) else max(0.0, next_audit_s - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._checks_wanted.wait()
            self._checks_wanted.clear()
            tokens = list(self._tokens_to_check)
            self._tokens_to_check.clear()
            if interval_s is not None and time.monotonic() >= next_audit_s:
                states = self._sync.states
                tokens = [token for token, state in states.items() if state is SyncState.LIVE]
                next_audit_s = time.monotonic() + interval_s
            for start in range(0, len(tokens), BOOKS_PER_REQUEST):
                await self._compare_with_rest(tokens[start : start + BOOKS_PER_REQUEST])

    async def _compare_with_rest(self, tokens: list[str]) -> None:
        rest = self._require_rest()
        requested_s = time.monotonic()
        try:
            summaries = await rest.get_books(tokens)
        except Exception as exc:  # the next audit asks again
            self._books_request_failed(exc, "book audit request", len(tokens))
            return
        await asyncio.sleep(_AUDIT_SETTLE_S)
        try:
            differing = self._sync.audit(summaries, requested_s=requested_s, now=self._now())
        except Exception as exc:  # a summary the core could not compare; the next audit asks again
            self._books_request_failed(exc, "book audit request", len(tokens))
            differing = []
        if differing and self._tap is not None:
            self._tap.tokens(
                RecordKind.RESYNC_REQUESTED, NO_CONNECTION, [token for token, _ in differing], reason=SyncReason.AUDIT
            )
        for token, diff in differing:
            _log.warning(
                "live book differs from the venue's; re-snapshotting",
                token_id=token,
                levels=[f"{d.side} {d.price}: {d.local_size} != {d.venue_size}" for d in diff.levels[:5]],
                tick_size=[str(diff.local_tick_size), str(diff.venue_tick_size)],
            )
        self._on_sync_change()

    def _require_rest(self) -> ClobRestClient:
        if self._rest is None:
            raise InvalidValueError("this LiveBooks is not started")
        return self._rest
