"""Live order books for thousands of tokens, provably in sync with the venue (issue 4; venue notes: Market channel).

:class:`LiveBooks` is the I/O shell around :class:`~polyinfra.core.book_sync.BookSync`: it owns
the sockets, the timers and the REST client, and carries out what the sans-I/O core decides.

* **A pool of connections.** Tokens are sharded over :class:`MarketChannel` connections,
  ``tokens_per_connection`` each: new tokens fill the connections that have room, then another
  one opens. Subscribing and unsubscribing at run time never reconnects anyone (venue notes: WebSockets).
* **Sessions.** Each connection is a loop of sessions with jittered exponential backoff between
  them (reset by the first data of a session). A session subscribes every token of its connection
  without the initial dump and immediately probes (below). The first data proves the subscription
  is active at the venue — one socket's messages are handled in order — so from then on a REST
  snapshot lines up with the deltas that follow it: every token of the session that is not LIVE
  is re-snapshotted through batched ``POST /books``, its events buffered meanwhile and replayed on
  top (see :mod:`polyinfra.core.book_sync`). Tokens added to a running session are subscribed
  with the initial dump, the venue's own atomic snapshot; REST steps in when it does not come.
* **The watchdog** (one task for all connections, no per-token timers). A market can be quiet
  for hours, and the venue's zombie sockets answer ``PING`` while sending no data for hours
  (venue notes: Failure modes), so silence alone proves nothing and ``PONG`` proves nothing either. A
  connection silent for ``silence_timeout_s`` is *probed*: one of its tokens is unsubscribed and
  subscribed again with the initial dump, and any data within ``probe_timeout_s`` answers it.
  The probe was chosen over comparing with REST because it exercises the very path that freezes
  (the socket's data), costs no REST budget, and answers in one round trip whatever the market
  does; REST would only show the books still match, which a quiet market's books do even on a
  dead socket. An unanswered probe (or no data and no ``PONG`` for three ping intervals) closes
  the socket and reconnects. Per token, books quiet for ``quiet_token_check_s`` go to the REST
  audit (:mod:`polyinfra.clob.live_books_rest`).
* **Repairs.** Hash mismatches, best-price disagreements, deltas before a snapshot, unparseable
  values (all caught by :class:`~polyinfra.core.market_feed.MarketFeed`), malformed frames, lost
  initial dumps and audit differences all end the same way: a REST snapshot with buffering.
* **Hostile data.** Each frame is handled in a step that survives any exception it raises: a frame
  that raises something the core did not translate may have been half applied, so every book of its
  connection starts over (snapshots in flight included) without closing the socket. It is counted
  as malformed and logged with a bounded description, never the data (``POST /books`` answers
  likewise: :mod:`polyinfra.clob.live_books_rest`). The watchdog, the snapshot and audit workers
  and every connection's session runner are supervised: one that dies anyway is logged, counted
  (``stats.task_failures``) and restarted.
* **Delivery.** Domain events go to every :meth:`LiveBooks.events` iterator (each with its own
  bounded queue that drops its oldest event when full, counted) and to listeners (a raising one
  is logged and counted, never allowed to stop the reader).

Its counters and their Prometheus export are in :mod:`polyinfra.clob.live_books_stats`; the
snapshot and audit workers that talk to ``POST /books`` in :mod:`polyinfra.clob.live_books_rest`.
Logs carry ``connection_id`` and a ``session_id`` per connection session.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from polyinfra.clob.live_books_rest import LiveBooksRest
from polyinfra.clob.live_books_stats import LiveBooksMetrics, LiveBooksStats
from polyinfra.clob.market_channel import MarketChannel
from polyinfra.core.backoff import Backoff
from polyinfra.core.book_sync import BookSync, Instant, SyncReason
from polyinfra.core.config_checks import HTTP_SCHEMES, WS_SCHEMES, positive_int, positive_number, service_url
from polyinfra.core.connection_watch import ConnectionWatch, WatchVerdict
from polyinfra.errors import InvalidValueError, MalformedMessageError, TransportError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent, SyncState
from polyinfra.model.ids import token_id as checked_token_id
from polyinfra.net.event_stream import EventFanout
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure, run_sessions
from polyinfra.obs.logging import correlation_scope, get_logger
from polyinfra.obs.metrics import WS_RECONNECTS
from polyinfra.record.records import NO_CONNECTION, RecordKind
from polyinfra.record.venue_time import venue_ms

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder
    from polyinfra.record.tap import ChannelTap

__all__ = ["LiveBooks"]

_log = get_logger(__name__)

# The official Rust client declares a socket dead after 30 s without PONG at 10 s pings (venue notes: WebSockets).
_PONG_TIMEOUT_PINGS: Final = 3
# wait_until_live polls: the states change in the reader's task, which signals no waiter.
_WAIT_POLL_S: Final = 0.05


class _Connection:
    """One connection of the pool: its tokens and its current session, if any."""

    __slots__ = (
        "backoff",
        "channel",
        "closing",
        "created_s",
        "failed_sessions",
        "id",
        "last_data_s",
        "last_failure",
        "probe_index",
        "session_id",
        "sessions",
        "task",
        "tokens",
        "watch",
    )

    def __init__(self, connection_id: int, backoff: Backoff, now_s: float) -> None:
        self.id = connection_id
        self.backoff = backoff
        self.tokens: dict[str, None] = {}  # an insertion-ordered set
        self.channel: MarketChannel | None = None
        self.watch: ConnectionWatch | None = None
        self.task: asyncio.Task[None] | None = None
        self.session_id = ""
        self.sessions = 0
        self.failed_sessions = 0
        self.last_failure: str | None = None
        self.probe_index = 0
        self.created_s = now_s
        self.last_data_s: float | None = None
        self.closing = False


class LiveBooks:
    """Order books of many tokens kept in sync with the CLOB over a pool of market-channel sockets.

    Use as ``async with LiveBooks(rest_url, ws_url) as books`` (or :meth:`start` / :meth:`stop`),
    then :meth:`subscribe`. ``rest_url`` is the CLOB REST base URL, ``ws_url`` the market channel's.

    ``tokens_per_connection`` tokens share a socket. ``ping_interval_s`` is the text ``PING``
    period (venue notes: WebSockets). A connection without data for ``silence_timeout_s`` is probed and
    reconnected when no data answers within ``probe_timeout_s``. Reconnects back off from
    ``reconnect_initial_s`` doubling to ``reconnect_max_s`` (failed snapshots are retried on the
    same schedule). ``audit_interval_s`` compares every live book with ``POST /books`` that often
    (None: never); ``quiet_token_check_s`` compares books that had no update for that long (None:
    never). ``verify_hashes`` checks every snapshot's hash; ``custom_features`` subscribes to
    ``best_bid_ask``, ``new_market`` and ``market_resolved`` (venue notes: WebSockets). ``queue_size`` bounds
    each :meth:`events` iterator's queue. ``recorder`` records every frame received and sent, the
    REST snapshots used and the sync decisions, enough for
    :class:`~polyinfra.record.replay.Replay` to rebuild the books exactly (None: nothing is
    recorded and nothing is paid for it).

    Every error raised is a :class:`~polyinfra.errors.PolyinfraError`; background failures
    (connections, REST) are retried, logged and counted, never raised.
    """

    def __init__(
        self,
        rest_url: str,
        ws_url: str,
        *,
        tokens_per_connection: int = 500,
        ping_interval_s: float = 10.0,
        silence_timeout_s: float = 15.0,
        probe_timeout_s: float = 5.0,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        audit_interval_s: float | None = None,
        quiet_token_check_s: float | None = 300.0,
        verify_hashes: bool = True,
        custom_features: bool = True,
        queue_size: int = 10_000,
        recorder: Recorder | None = None,
    ) -> None:
        self._rest_url = service_url("rest_url", rest_url, HTTP_SCHEMES)
        self._ws_url = service_url("ws_url", ws_url, WS_SCHEMES)
        self._per_connection = positive_int("tokens_per_connection", tokens_per_connection)
        self._ping_interval_s = positive_number("ping_interval_s", ping_interval_s)
        self._silence_timeout_s = positive_number("silence_timeout_s", silence_timeout_s)
        self._probe_timeout_s = positive_number("probe_timeout_s", probe_timeout_s)
        self._reconnect_initial_s = positive_number("reconnect_initial_s", reconnect_initial_s)
        self._reconnect_max_s = positive_number("reconnect_max_s", reconnect_max_s)
        self._audit_interval_s = (
            None if audit_interval_s is None else positive_number("audit_interval_s", audit_interval_s)
        )
        self._quiet_check_s = (
            None if quiet_token_check_s is None else positive_number("quiet_token_check_s", quiet_token_check_s)
        )
        self._custom_features = custom_features
        self._queue_size = positive_int("queue_size", queue_size)
        self._tick_s = min(1.0, self._silence_timeout_s / 4, self._probe_timeout_s / 4)
        self._random = random.Random()
        # Validates the schedule (initial <= max) once, here, for every connection's Backoff.
        self._sync = BookSync(
            random=self._random.random,
            verify_hashes=verify_hashes,
            retry_initial_s=self._reconnect_initial_s,
            retry_max_s=self._reconnect_max_s,
        )
        self.recorder = recorder
        """The recorder this client records into, None when it records nothing."""
        self._tap: ChannelTap | None = None
        if recorder is not None:
            self._tap = recorder.tap("clob", "market")
            # The sync-state changes are the recording's stale windows: the core builds them for the tap.
            self._sync.emit_events = True
        self._connections: dict[int, _Connection] = {}
        self._next_connection_id = 1
        self._tasks = BackgroundTasks(
            "live-books",
            restart_initial_s=self._reconnect_initial_s,
            restart_max_s=self._reconnect_max_s,
            random=self._random.random,
        )
        self._rest_side = LiveBooksRest(
            self._sync,
            self._tasks,
            self._tap,
            audit_interval_s=self._audit_interval_s,
            now=self._now,
            on_sync_change=self._after_sync_change,
            deliver_new_events=self._deliver_new_events,
        )
        self._fanout: EventFanout[BookEvent] = EventFanout(self._queue_size, what="book")
        self._running = False
        self._stopped = False
        self._reconnects = 0
        self._unusable_frames = 0
        self._probes_sent = 0
        self._silences_detected = 0
        self._max_silence_detection_ms = 0
        self._metrics = LiveBooksMetrics()

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the watchdog, the snapshot and audit workers and the connections of tokens
        subscribed so far. A :class:`LiveBooks` starts once."""
        if self._running or self._stopped:
            raise InvalidValueError("a LiveBooks starts once")
        self._running = True
        self._tasks.supervise(self._watch_forever, "live-books watchdog")
        self._rest_side.start(
            self._rest_url, audits=self._audit_interval_s is not None or self._quiet_check_s is not None
        )
        for connection in self._connections.values():
            self._start_connection(connection)
        _log.info("live books started", tokens=len(self._sync.states), connections=len(self._connections))

    async def stop(self) -> None:
        """Close every connection, stop the workers, end every :meth:`events` iterator."""
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        if self._tap is not None:
            # The books as they end, before the sockets close: the last thing a replay verifies.
            self._checkpoint_books(self._tap)
        connection_tasks = [c.task for c in self._connections.values() if c.task is not None]
        for connection in self._connections.values():
            connection.closing = True
        for task in connection_tasks:
            task.cancel()
        await asyncio.gather(*connection_tasks, self._tasks.stop(), return_exceptions=True)
        await self._rest_side.aclose()
        self._fanout.close()
        self._export_metrics(time.monotonic())
        self._metrics.withdraw()
        _log.info("live books stopped")

    # --- subscriptions --------------------------------------------------------------------------

    async def subscribe(self, token_ids: Iterable[str]) -> None:
        """Start keeping the tokens' books (already subscribed ones are left alone).

        New tokens fill the connections that have room, then new connections open; running
        sessions subscribe them without reconnecting. Raises
        :class:`~polyinfra.errors.InvalidValueError` for a malformed token id or after :meth:`stop`.
        """
        self._require_not_stopped()
        wanted: list[str] = [checked_token_id(token) for token in dict.fromkeys(token_ids)]
        remaining = [token for token in wanted if self._sync.connection_of(token) is None]
        if not remaining:
            return
        now = self._now()
        assignments: list[tuple[_Connection, list[str]]] = []
        for connection in self._connections.values():
            room = self._per_connection - len(connection.tokens)
            if room > 0 and remaining and not connection.closing:
                assignments.append((connection, remaining[:room]))
                remaining = remaining[room:]
        while remaining:
            connection = self._new_connection(now.monotonic_s)
            assignments.append((connection, remaining[: self._per_connection]))
            remaining = remaining[self._per_connection :]
        # All bookkeeping before the first await, so a concurrent call sees the connections as filled.
        for connection, tokens in assignments:
            connection.tokens.update(dict.fromkeys(tokens))
            added = self._sync.add(tokens, connection.id, now)
            if self._tap is not None:
                self._tap.tokens(RecordKind.SUBSCRIBED, connection.id, added)
            if connection.task is None and self._running:
                self._start_connection(connection)
        self._after_sync_change()
        for connection, tokens in assignments:
            if connection.channel is not None:
                # A session ending meanwhile is harmless: the next one subscribes connection.tokens.
                with contextlib.suppress(TransportError):
                    await connection.channel.subscribe(tokens, initial_dump=True)

    async def unsubscribe(self, token_ids: Iterable[str]) -> None:
        """Stop keeping the tokens' books; a connection left without tokens closes."""
        by_connection: dict[int, list[str]] = {}
        for token in dict.fromkeys(token_ids):
            connection_id = self._sync.connection_of(token)
            if connection_id is not None:
                by_connection.setdefault(connection_id, []).append(token)
        emptied: list[_Connection] = []
        for connection_id, tokens in by_connection.items():
            removed = self._sync.remove(tokens)
            if self._tap is not None:
                self._tap.tokens(RecordKind.UNSUBSCRIBED, connection_id, removed)
            connection = self._connections[connection_id]
            for token in tokens:
                del connection.tokens[token]
            if not connection.tokens:
                connection.closing = True
                del self._connections[connection_id]
                emptied.append(connection)
        self._after_sync_change()
        for connection_id, tokens in by_connection.items():
            channel = self._connections[connection_id].channel if connection_id in self._connections else None
            if channel is not None:
                with contextlib.suppress(TransportError):
                    await channel.unsubscribe(tokens)
        for connection in emptied:
            if connection.task is not None:
                connection.task.cancel()
                await asyncio.gather(connection.task, return_exceptions=True)

    async def wait_until_live(self, token_ids: Iterable[str] | None = None, timeout_s: float = 30.0) -> bool:
        """Wait until every given token (default: every subscribed one) is LIVE; False on timeout.

        Raises :class:`~polyinfra.errors.InvalidValueError` for a token that is not subscribed.
        """
        states = self._sync.states
        tokens = list(states) if token_ids is None else [self._require_token(token) for token in token_ids]
        deadline = time.monotonic() + timeout_s
        while True:
            if all(states.get(token) is SyncState.LIVE for token in tokens):
                return True
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            await asyncio.sleep(min(_WAIT_POLL_S, remaining_s))

    # --- reads ----------------------------------------------------------------------------------

    def book(self, token_id: str) -> OrderBook:
        """The token's live book, updated in place by the reader (read it between awaits).

        Raises :class:`~polyinfra.errors.InvalidValueError` if the token is not subscribed.
        """
        book = self._sync.books.get(token_id)
        if book is None:
            raise InvalidValueError("token is not subscribed", token_id=token_id)
        return book

    def state(self, token_id: str) -> SyncState:
        """The token's sync state (raises :class:`~polyinfra.errors.InvalidValueError` if not subscribed)."""
        return self._sync.states[self._require_token(token_id)]

    def states(self) -> Mapping[str, SyncState]:
        """Every subscribed token's sync state (a live read-only view)."""
        return self._sync.states

    def staleness_s(self, token_id: str) -> float | None:
        """Seconds since the token's connection last delivered data; None before it ever did."""
        connection_id = self._sync.connection_of(self._require_token(token_id))
        connection = self._connections.get(connection_id) if connection_id is not None else None
        if connection is None or connection.last_data_s is None:
            return None
        return time.monotonic() - connection.last_data_s

    def tokens(self) -> list[str]:
        """The subscribed tokens."""
        return list(self._sync.states)

    @property
    def stats(self) -> LiveBooksStats:
        """A snapshot of the counters."""
        sync_stats = self._sync.stats
        failing = max(self._connections.values(), key=lambda connection: connection.failed_sessions, default=None)
        return LiveBooksStats(
            frames=sync_stats.frames,
            frames_by_event_type=self._sync.events_by_type(),
            malformed_frames=self._malformed_frames(),
            malformed_answers=self._rest_side.malformed_answers,
            unknown_event_types=dict(self._sync.unknown_event_types),
            connections=len(self._connections),
            connected=sum(1 for c in self._connections.values() if c.watch is not None),
            reconnects=self._reconnects,
            failed_sessions_in_a_row=failing.failed_sessions if failing else 0,
            last_session_failure=failing.last_failure if failing else None,
            resyncs=sum(sync_stats.resyncs_by_reason.values()),
            resyncs_by_reason=dict(sync_stats.resyncs_by_reason),
            snapshot_requests=sync_stats.snapshot_requests,
            snapshot_failures=sync_stats.snapshot_failures,
            replayed_events=sync_stats.replayed_events,
            hash_mismatches=self._sync.hash_mismatches,
            best_price_mismatches=self._sync.best_price_mismatches,
            audits=sync_stats.audits,
            audit_mismatches=sync_stats.audit_mismatches,
            audits_inconclusive=sync_stats.audits_inconclusive,
            duplicate_frames=sync_stats.duplicate_frames,
            probes_sent=self._probes_sent,
            silences_detected=self._silences_detected,
            max_silence_detection_ms=self._max_silence_detection_ms,
            events_delivered=self._fanout.delivered,
            events_dropped=self._fanout.dropped,
            listener_errors=self._fanout.listener_errors,
            task_failures=self._tasks.failures,
        )

    # --- consumers ------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[BookEvent]:
        """A new iterator over the domain events from now on, with its own queue of ``queue_size``.

        When the consumer falls behind, the oldest queued event is dropped (counted in
        ``stats.events_dropped`` and ``polyinfra_queue_drops``). The iteration ends after
        :meth:`stop`; an iterator nobody references any more stops receiving.
        """
        stream = self._fanout.stream()
        if not self._stopped:
            self._sync.emit_events = True
        return stream

    def add_listener(self, callback: Callable[[BookEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every domain event, in the reader's task; returns its remover.

        Keep callbacks quick: the socket is not read while one runs. An exception from one is
        logged and counted (``stats.listener_errors``), and delivery goes on.
        """
        self._sync.emit_events = True
        return self._fanout.add_listener(callback)

    def _after_sync_change(self) -> None:
        """Deliver what the core produced and wake the snapshot worker if it has work."""
        self._deliver_new_events()
        if self._sync.snapshots_wanted:
            self._rest_side.wake_snapshots()

    def _deliver_new_events(self) -> None:
        sync = self._sync
        if sync.emit_events:
            events = sync.take_events()
            if events:
                if self._tap is not None:
                    self._tap.sync_events(events)
                self._deliver(events)

    def _deliver(self, events: list[BookEvent]) -> None:
        if not self._fanout.has_consumers:
            # Nobody listens any more: the core stops building events until somebody does (the
            # recorder's tap listens for as long as the LiveBooks lives).
            self._sync.emit_events = self._tap is not None
            return
        self._fanout.deliver(events)

    # --- connections --------------------------------------------------------------------------------

    def _new_connection(self, now_s: float) -> _Connection:
        connection = _Connection(
            self._next_connection_id,
            Backoff(initial_s=self._reconnect_initial_s, max_s=self._reconnect_max_s, random=self._random.random),
            now_s,
        )
        self._next_connection_id += 1
        self._connections[connection.id] = connection
        return connection

    def _start_connection(self, connection: _Connection) -> None:
        connection.task = self._tasks.supervise(lambda: self._run_connection(connection), "live-books connection")

    async def _run_connection(self, connection: _Connection) -> None:
        """Sessions, one after the other, with the backoff schedule between attempts."""

        async def session(session_id: str) -> None:
            connection.session_id = session_id
            await self._session(connection)

        await run_sessions(
            session, connection.backoff, ending=lambda: connection.closing, connection_id=str(connection.id)
        )

    async def _session(self, connection: _Connection) -> None:
        channel = MarketChannel(
            self._ws_url,
            list(connection.tokens),
            custom_features=self._custom_features,
            # REST snapshots once the session is proven; the initial dump only for tokens added later.
            initial_dump=False,
            ping_interval_s=self._ping_interval_s,
            on_sent=None if self._tap is None else functools.partial(self._tap.frame_sent, connection.id),
        )
        # Published before connecting: a subscribe() meanwhile extends the subscription it will send.
        connection.channel = channel
        close_code: object = None
        try:
            try:
                await channel.__aenter__()
            except TransportError as exc:
                _log.warning(
                    "cannot open a market channel session", error=str(exc), attempt=connection.backoff.attempts
                )
                connection.failed_sessions += 1
                connection.last_failure = exc.message
                return
            if connection.sessions:
                self._reconnects += 1
                WS_RECONNECTS.labels(channel="market").inc()
            connection.sessions += 1
            if self._tap is not None:
                kind = RecordKind.RECONNECTED if connection.sessions > 1 else RecordKind.CONNECTED
                self._tap.lifecycle(kind, connection.id, token_ids=channel.token_ids, session=connection.sessions)
            watch = ConnectionWatch(time.monotonic())
            connection.watch = watch
            _log.info("market channel session opened", tokens=len(connection.tokens), session=connection.sessions)
            # Prove the session right away: a snapshot is only worth taking once data flows.
            await self._probe(connection, channel, watch)
            async with contextlib.aclosing(channel.frames()) as frames:
                async for frame in frames:
                    self._on_frame(connection, watch, frame)
        except TransportError as exc:
            close_code = exc.context.get("code")
            if not connection.closing:
                _log.warning("market channel session ended", error=str(exc))
                if connection.watch is not None and not connection.watch.proven:
                    connection.failed_sessions += 1
                    connection.last_failure = exc.message
        finally:
            connection.channel = None
            connection.watch = None
            if self._tap is not None:
                self._tap.lifecycle(
                    RecordKind.CONNECTION_LOST, connection.id, reason=SyncReason.DISCONNECTED, code=close_code
                )
            self._sync.connection_lost(connection.id, SyncReason.DISCONNECTED, self._now())
            self._after_sync_change()
            await channel.close()

    def _on_frame(self, connection: _Connection, watch: ConnectionWatch, frame: bytes | str) -> None:
        """The hot path: one data frame into the core, its events out to consumers."""
        now_s = time.monotonic()
        connection.last_data_s = now_s
        first_data = not watch.proven
        watch.last_data_s = now_s
        now = Instant(now_s, time.time_ns())
        if first_data:
            connection.backoff.reset()
            connection.failed_sessions = 0
            self._sync.connection_proven(connection.id, now)
        try:
            self._sync.receive_frame(connection.id, frame, now)
        except MalformedMessageError as exc:
            _log.warning("malformed market frame; re-snapshotting the connection's books", error=describe_failure(exc))
        except Exception as exc:  # hostile data must not end the session: see _frame_unusable
            self._frame_unusable(connection, exc, len(frame), now)
        if self._tap is not None:
            # After the core decoded it (for its venue time), before the records its effects make.
            self._tap.frame_received(connection.id, frame, venue_ts_ms=venue_ms(self._sync.last_frame_timestamp))
        self._after_sync_change()

    def _frame_unusable(self, connection: _Connection, exc: Exception, size: int, now: Instant) -> None:
        """A frame raised what the core does not translate (a decoder's ``RecursionError``, a
        conversion's ``ValueError``), so it may have been half applied: every book of the
        connection starts over as after a reconnect, snapshots in flight included (their replay
        could lack the frame's changes), without closing a socket that still works."""
        self._unusable_frames += 1
        _log.warning(
            "unusable market frame; re-snapshotting the connection's books",
            error=describe_failure(exc),
            frame_bytes=size,
        )
        self._sync.connection_lost(connection.id, SyncReason.MALFORMED_FRAME, now)
        self._sync.connection_proven(connection.id, now)

    async def _probe(self, connection: _Connection, channel: MarketChannel, watch: ConnectionWatch) -> None:
        """Ask the venue for data: re-subscribe one token (in turn) with its initial dump."""
        tokens = channel.token_ids
        if not tokens:
            return
        token = tokens[connection.probe_index % len(tokens)]
        connection.probe_index += 1
        watch.probe_sent(time.monotonic())
        self._probes_sent += 1
        await channel.refresh([token])

    async def _probe_in_background(
        self, connection: _Connection, channel: MarketChannel, watch: ConnectionWatch
    ) -> None:
        with correlation_scope(connection_id=str(connection.id), session_id=connection.session_id):
            # DEBUG: a quiet market probes every silence_timeout_s, and that is healthy.
            _log.debug("market channel silent; probing", silent_s=round(watch.silent_for_s(time.monotonic()), 3))
            # A failed send means the session is ending: its reader reports that.
            with contextlib.suppress(TransportError):
                await self._probe(connection, channel, watch)

    def _declare_dead(
        self,
        connection: _Connection,
        channel: MarketChannel,
        watch: ConnectionWatch,
        verdict: WatchVerdict,
        now: Instant,
    ) -> None:
        silent_s = watch.silent_for_s(now.monotonic_s)
        self._silences_detected += 1
        self._max_silence_detection_ms = max(self._max_silence_detection_ms, round(silent_s * 1000))
        with correlation_scope(connection_id=str(connection.id), session_id=connection.session_id):
            _log.warning("market channel is silent; reconnecting", verdict=verdict.value, silent_s=round(silent_s, 3))
        if self._tap is not None:
            self._tap.lifecycle(RecordKind.CONNECTION_LOST, connection.id, reason=SyncReason.SILENCE, code=None)
        self._sync.connection_lost(connection.id, SyncReason.SILENCE, now)
        self._after_sync_change()
        channel.abort()

    # --- background work ------------------------------------------------------------------------

    async def _watch_forever(self) -> None:
        """Every tick: judge each connection, send overdue tokens to REST, pick quiet tokens to
        check, export metrics."""
        pong_timeout_s = _PONG_TIMEOUT_PINGS * self._ping_interval_s
        while True:
            await asyncio.sleep(self._tick_s)
            now = self._now()
            for connection in list(self._connections.values()):
                channel, watch = connection.channel, connection.watch
                if channel is None or watch is None:
                    continue
                watch.last_pong_s = channel.last_pong_s
                verdict = watch.verdict(
                    now.monotonic_s,
                    silence_timeout_s=self._silence_timeout_s,
                    probe_timeout_s=self._probe_timeout_s,
                    pong_timeout_s=pong_timeout_s,
                )
                if verdict is WatchVerdict.PROBE:
                    self._tasks.spawn(self._probe_in_background(connection, channel, watch), "live-books probe")
                elif verdict is WatchVerdict.SILENT or verdict is WatchVerdict.NO_PONG:
                    self._declare_dead(connection, channel, watch, verdict, now)
            overdue = self._sync.expire_waits(now, deadline_s=self._probe_timeout_s)
            self._record_tick(overdue)
            if self._quiet_check_s is not None:
                quiet = self._sync.quiet_tokens(now.monotonic_s, quiet_for_s=self._quiet_check_s)
                if quiet:
                    self._rest_side.check(quiet)
            self._after_sync_change()
            self._export_metrics(now.monotonic_s)

    def _record_tick(self, overdue: list[str]) -> None:
        """The watchdog's part of the recording: the tokens it sent to REST, and book checkpoints when due."""
        tap = self._tap
        if tap is None:
            return
        if overdue:
            tap.tokens(RecordKind.RESYNC_REQUESTED, NO_CONNECTION, overdue, reason=SyncReason.NO_SNAPSHOT)
        if tap.checkpoint_due():
            self._checkpoint_books(tap)

    def _checkpoint_books(self, tap: ChannelTap) -> None:
        """A checkpoint of every LIVE book, for replay to compare with its own at this point."""
        sync = self._sync
        books = sync.books
        for token, state in sync.states.items():
            connection = sync.connection_of(token)
            if state is SyncState.LIVE and connection is not None:
                tap.checkpoint(token, books[token], connection)

    # --- metrics --------------------------------------------------------------------------------

    def _export_metrics(self, now_s: float) -> None:
        silences = [
            now_s - (connection.created_s if connection.last_data_s is None else connection.last_data_s)
            for connection in self._connections.values()
        ]
        self._metrics.export(
            self._sync,
            self._fanout,
            malformed_frames=self._malformed_frames(),
            staleness_s=max(silences, default=0.0),
        )

    # --- small helpers ----------------------------------------------------------------------------

    def _malformed_frames(self) -> int:
        return self._sync.stats.malformed_frames + self._unusable_frames

    def _now(self) -> Instant:
        return Instant(time.monotonic(), time.time_ns())

    def _require_token(self, token_id: str) -> str:
        if token_id not in self._sync.states:
            raise InvalidValueError("token is not subscribed", token_id=token_id)
        return token_id

    def _require_not_stopped(self) -> None:
        if self._stopped:
            raise InvalidValueError("this LiveBooks was stopped")
