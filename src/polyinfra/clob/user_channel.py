"""The CLOB user channel (venue notes: WebSockets, User channel): the user's own orders and trades, nothing missed.

:class:`UserChannel` keeps one authenticated ``/ws/user`` socket open and turns its ``order`` and
``trade`` messages into :class:`~polyinfra.model.trading_events.OrderUpdate` and
:class:`~polyinfra.model.trading_events.TradeUpdate`.

* **Sessions** follow :class:`~polyinfra.clob.live_books.LiveBooks`: one after the other with the
  shared jittered backoff (:class:`~polyinfra.core.backoff.Backoff`), each re-sending the full
  subscription with the credentials (the official clients do the same; venue notes: WebSockets).
  A session's own state (its watch, its ``PING`` / ``PONG`` count) is a
  :class:`~polyinfra.clob.user_session.UserSession`.
* **Reconciliation.** After every gap the client asks REST what the socket missed
  (:mod:`polyinfra.clob.user_reconciliation`). A gap is every new session (including the first:
  what happened before the subscription), a malformed message, and a silence probe (below). A
  session reconciles once its first ``PONG`` arrives: the ``PING`` went after the subscription on
  the same socket, so the venue has read the subscription by then, and no change can fall between
  the socket and REST.
* **Markets** change at run time (:meth:`UserChannel.subscribe_markets`,
  :meth:`UserChannel.unsubscribe_markets`) with the venue's ``operation`` messages on the open
  socket (venue notes: WebSockets), without reconnecting; the next session subscribes the current set. Markets
  just added are reconciled, as a new session is: the socket said nothing of them before. Events of
  markets no longer subscribed (frames already in flight, REST rows) are not delivered.
* **Deduplication.** An event, from the socket or from REST, is delivered only when it is news to
  the :class:`~polyinfra.core.user_event_tracker.UserEventTracker`; the others are skipped (counted).
* **Silence.** A user socket is quiet whenever the user does not trade, so silence proves nothing
  and the market channel's probe (re-subscribing with an initial dump) does not exist here. A
  socket silent for ``silence_timeout_s`` is probed with a reconciliation instead: if REST shows
  nothing the socket missed, the silence was genuine; if it shows something, the socket is one of
  the venue's zombies (open, answering ``PING``, no data; venue notes: Failure modes) and is reconnected, as is
  one whose probe could not finish within ``probe_timeout_s`` or that stopped answering ``PING``.
  The verdicts are :class:`~polyinfra.core.connection_watch.ConnectionWatch`'s.
* **Credentials** the venue refuses are not an outage to retry forever. The venue's answer on the
  socket is undocumented (venue notes: WebSockets); users report the connection dropped without a close
  handshake (the emulator does the same). So a session that ends before its first ``PONG`` has its
  credentials checked over REST (``GET /auth/api-keys``), and a reconciliation answered 401 counts
  the same. Newly created keys can be refused for a couple of minutes (venue notes: API keys), so the
  channel retries for ``auth_grace_s`` of nothing but refusals, then stops with
  :class:`~polyinfra.errors.L2AuthError` (:attr:`UserChannel.failure`), raised to every reader.
* **Hostile data.** Each frame and each reconciliation's REST answers are handled in a step that
  survives any exception they raise, typed or not: the frame or answer is counted as malformed,
  logged with a bounded description (never its text: it carries the user's keys), and the gap it
  leaves is reconciled (an answer's reconciliation is retried on the backoff schedule). The session
  runner and the watchdog are supervised: one that dies anyway is logged, counted
  (``stats.task_failures``, ``polyinfra_task_failures``) and restarted.
* **Delivery**: every :meth:`UserChannel.events` iterator has its own bounded queue that drops its
  oldest event when full (counted); listeners are called in the reader's task, a raising one is
  logged and counted.
* **Recording** (``recorder=``, off by default): the session, its reconciliations and their REST
  answers go to the recorder (:mod:`polyinfra.clob.user_recording`), the API key masked.

Credentials travel only inside the subscription frame: never logged, never in an error or repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

import msgspec
import websockets

from polyinfra.clob.trading import TradingClient
from polyinfra.clob.user_events import user_event_from_wire
from polyinfra.clob.user_reconciliation import fetch_reconciliation_answers, reconciliation_events
from polyinfra.clob.user_recording import UserChannelRecording
from polyinfra.clob.user_session import UserSession
from polyinfra.core.backoff import Backoff
from polyinfra.core.config_checks import WS_SCHEMES, positive_int, positive_number, service_url
from polyinfra.core.connection_watch import WatchVerdict
from polyinfra.core.user_event_tracker import UserEventTracker
from polyinfra.errors import (
    AuthError,
    InvalidValueError,
    MalformedMessageError,
    PolyinfraError,
    TransportError,
)
from polyinfra.model.events import SyncState
from polyinfra.model.ids import condition_id
from polyinfra.model.trading_events import (
    OrderUpdate,
    UserChannelEvent,
)
from polyinfra.net.event_stream import EventFanout
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure, open_venue_socket, run_sessions
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import MALFORMED_ANSWERS, QUEUE_DROPS, WS_FRAMES, WS_RECONNECTS
from polyinfra.record.records import RecordKind
from polyinfra.wire.clob_user import UserEvent, UserFrameDecoder
from polyinfra.wire.clob_ws import PONG

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = ["UserChannel", "UserChannelStats"]

_log = get_logger(__name__)

_CHANNEL: Final = "user"
_RECONCILIATION: Final = "user reconciliation"
_CREDENTIALS_CHECK: Final = "GET /auth/api-keys"
_EVENTS_QUEUE: Final = "user_channel_events"
# The official Rust client declares a socket dead after 30 s without PONG at 10 s pings (venue notes: WebSockets).
_PONG_TIMEOUT_PINGS: Final = 3
# Closing is polite, not load-bearing: a venue that does not answer the close frame is left after this.
_CLOSE_TIMEOUT_S: Final = 5.0
_WAIT_POLL_S: Final = 0.02
# Reconciliations after which the recording vouches for the markets again: a new session's, and
# the one of markets just subscribed. The others (malformed frame, silence probe) mend a session
# already covered.
_COVERING_RECONCILIATIONS: Final = frozenset({"session", "subscribe"})
_STOPPED: Final = "stopped"


# --- delivery -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UserChannelStats:
    """Counters of a :class:`UserChannel` since it started (a snapshot; plain ints)."""

    connected: bool
    """A session is open now."""
    in_sync: bool
    """The current session is subscribed and reconciled since it opened."""
    sessions: int
    reconnects: int
    """Sessions opened after the first one."""
    frames: int
    """Data frames received (``PONG`` not included)."""
    events_by_type: Mapping[str, int]
    """Events decoded from the socket, by ``event_type``."""
    malformed_frames: int
    """Frames (or events) that did not decode or convert; each one triggers a reconciliation."""
    malformed_answers: int
    """REST answers (reconciliation, credentials check) that could not be used; each was retried."""
    unknown_event_types: Mapping[str, int]
    duplicates_skipped: int
    """Socket events and REST rows that told nothing new."""
    unsubscribed_skipped: int
    """Socket events and REST rows of markets not subscribed (any more)."""
    reconciliations: int
    """Reconciliations completed."""
    reconciliation_failures: int
    reconciled_events: int
    """Events synthesized from REST because the socket had missed them."""
    probes_sent: int
    """Silence probes (reconciliations of a quiet session)."""
    silences_detected: int
    """Sessions closed by the watchdog (zombie, probe unanswered, or no ``PONG``)."""
    credential_refusals: int
    """Times the venue refused the credentials (a dropped subscription confirmed over REST, or a 401)."""
    events_delivered: int
    events_dropped: int
    """Events dropped by full :meth:`UserChannel.events` queues (oldest first)."""
    listener_errors: int
    task_failures: Mapping[str, int]
    """Background tasks that died with an exception, by name; each long-running one was restarted."""


class UserChannel:
    """The user's order and trade events from ``/ws/user``, reconciled with REST after every gap.

    Use as ``async with UserChannel(ws_url, trading, markets=[...]) as channel`` (or :meth:`start`
    / :meth:`stop`), then iterate :meth:`events` or :meth:`add_listener`. ``trading`` supplies
    the API credentials (``trading.credentials``) and the REST reconciliation; ``markets`` are
    condition ids (empty: every market of the key, venue notes: WebSockets).

    ``ping_interval_s`` is the text ``PING`` period (venue notes: WebSockets). A session silent for
    ``silence_timeout_s`` is probed with a reconciliation, and reconnected when that finds a missed
    change or takes longer than ``probe_timeout_s``. Reconnects back off from
    ``reconnect_initial_s`` doubling to ``reconnect_max_s``; failed reconciliations are retried on
    the same schedule. The first reconciliation looks ``trades_lookback_s`` back for trades.
    ``queue_size`` bounds each :meth:`events` iterator; ``tracked_limit`` the orders and trades
    remembered for deduplication.

    Every error raised is a :class:`~polyinfra.errors.PolyinfraError`; background failures are
    retried, logged and counted, never raised, with one exception: credentials the venue has
    refused without a break for ``auth_grace_s`` stop the channel. Then :attr:`failure` holds the
    :class:`~polyinfra.errors.L2AuthError`, and every :meth:`events` iterator and
    :meth:`wait_in_sync` raise it (after the events already queued).

    ``recorder`` records the session (module notes: Recording); None records nothing and costs nothing.
    """

    def __init__(
        self,
        ws_url: str,
        trading: TradingClient,
        *,
        markets: Iterable[str] = (),
        ping_interval_s: float = 10.0,
        silence_timeout_s: float = 60.0,
        probe_timeout_s: float = 10.0,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        trades_lookback_s: float = 300.0,
        open_timeout_s: float = 10.0,
        auth_grace_s: float = 150.0,
        queue_size: int = 10_000,
        tracked_limit: int = 100_000,
        recorder: Recorder | None = None,
    ) -> None:
        if trading.credentials is None:
            raise InvalidValueError("the trading client has no API credentials for the user channel")
        self._ws_url = service_url("ws_url", ws_url, WS_SCHEMES)
        self._trading = trading
        self._api_key = trading.credentials.api_key
        # An ordered set: the subscription frame lists the markets in the order they were added.
        self._markets: dict[str, None] = dict.fromkeys(condition_id(market) for market in markets)
        self._ping_interval_s = positive_number("ping_interval_s", ping_interval_s)
        self._silence_timeout_s = positive_number("silence_timeout_s", silence_timeout_s)
        self._probe_timeout_s = positive_number("probe_timeout_s", probe_timeout_s)
        self._trades_lookback_s = positive_number("trades_lookback_s", trades_lookback_s)
        self._open_timeout_s = positive_number("open_timeout_s", open_timeout_s)
        self._auth_grace_s = positive_number("auth_grace_s", auth_grace_s)
        self._tick_s = min(1.0, self._silence_timeout_s / 4, self._probe_timeout_s / 4)
        self._random = random.Random()
        self._backoff = Backoff(initial_s=reconnect_initial_s, max_s=reconnect_max_s, random=self._random.random)
        self._retry_backoff = Backoff(initial_s=reconnect_initial_s, max_s=reconnect_max_s, random=self._random.random)
        self._decoder = UserFrameDecoder()
        self._tracker = UserEventTracker(tracked_limit)
        self._encode = msgspec.json.Encoder().encode
        self._session: UserSession | None = None
        self._tasks = BackgroundTasks(
            "user-channel",
            restart_initial_s=reconnect_initial_s,
            restart_max_s=reconnect_max_s,
            random=self._random.random,
        )
        self._reconcile_lock = asyncio.Lock()
        # Held while a session subscribes and while the markets change, so that a change made as a
        # session opens is either in its subscription frame or sent on it, never lost between.
        self._subscription_lock = asyncio.Lock()
        self._fanout: EventFanout[UserChannelEvent] = EventFanout(positive_int("queue_size", queue_size), what="user")
        # Since when (time.monotonic()) the venue has refused the credentials without a break; None: accepted.
        self._refused_since_s: float | None = None
        self._failure: AuthError | None = None
        self._trades_since_s: int | None = None
        self._running = False
        self._stopped = False
        self._sessions = 0
        self._frames = 0
        self._events_by_type: dict[str, int] = {}
        self._malformed = 0
        self._malformed_answers = 0
        self._duplicates = 0
        self._unsubscribed_skipped = 0
        self._reconciliations = 0
        self._reconciliation_failures = 0
        self._reconciled_events = 0
        self._probes_sent = 0
        self._silences = 0
        self._credential_refusals = 0
        self._recording = (
            None if recorder is None else UserChannelRecording(recorder.tap("clob", _CHANNEL), self._api_key)
        )
        self._reconciliation_fetches = 0

    def __repr__(self) -> str:
        return f"UserChannel(ws_url={self._ws_url!r}, markets={len(self._markets)}, trading={self._trading!r})"

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Open the first session and start the watchdog. A :class:`UserChannel` starts once."""
        if self._running or self._stopped:
            raise InvalidValueError("a UserChannel starts once")
        self._running = True
        self._trades_since_s = int(time.time() - self._trades_lookback_s)
        self._tasks.supervise(self._run_sessions, "user-channel sessions")
        self._tasks.supervise(self._watch_forever, "user-channel watchdog")

    async def stop(self) -> None:
        """Close the socket, stop the background tasks, end every :meth:`events` iterator."""
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        if self._session is not None:
            self._session.end_reason = _STOPPED
        await self._tasks.stop()
        self._fanout.close(self._failure)
        _log.info("user channel stopped")

    async def wait_in_sync(self, timeout_s: float = 30.0) -> bool:
        """Wait until a session is subscribed and reconciled; False on timeout. Raises
        :attr:`failure` when the channel gave up."""
        deadline = time.monotonic() + timeout_s
        while not self.in_sync:
            if self._failure is not None:
                raise self._failure
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            await asyncio.sleep(min(_WAIT_POLL_S, remaining_s))
        return True

    @property
    def failure(self) -> AuthError | None:
        """Why the channel stopped on its own (credentials refused for ``auth_grace_s``); None while it runs."""
        return self._failure

    @property
    def in_sync(self) -> bool:
        """The current session is subscribed and everything before it reconciled."""
        session = self._session
        return session is not None and session.synced

    # --- markets ----------------------------------------------------------------------------------

    @property
    def markets(self) -> list[str]:
        """The subscribed condition ids; empty: every market of the key."""
        return list(self._markets)

    async def subscribe_markets(self, condition_ids: Iterable[str]) -> None:
        """Add markets (condition ids) without reconnecting; already subscribed ones are left alone.

        Subscribing while subscribed to every market (none named) narrows the subscription to the
        markets named, as the venue does. Raises :class:`~polyinfra.errors.InvalidValueError` for a
        malformed condition id, before anything is sent.
        """
        wanted = [condition_id(market) for market in dict.fromkeys(condition_ids)]
        async with self._subscription_lock:
            # The venue refuses a subscription of an already subscribed id (venue notes: WebSockets).
            new = [market for market in wanted if market not in self._markets]
            if not new:
                return
            if not self._markets and self._recording is not None:
                self._recording.every_market_replaced()
            self._markets.update(dict.fromkeys(new))
            session = await self._send_operation("subscribe", new)
            if session is not None:
                # Whatever happened in these markets before now, the socket never said: REST tells,
                # once this PING's PONG proves the venue applied the subscription (as a session's).
                # Set before sending: the PONG may be read while the PING is still being sent.
                session.resync_after_pong = session.pings_sent + 1
                # A failed PING is a closing session: the next one reconciles every market.
                with contextlib.suppress(websockets.ConnectionClosed):
                    await session.ping()

    async def unsubscribe_markets(self, condition_ids: Iterable[str]) -> None:
        """Remove markets (condition ids) without reconnecting; ones not subscribed are ignored.

        Raises :class:`~polyinfra.errors.InvalidValueError`, before anything is sent, for a
        malformed condition id, and when no market would remain named: an empty set means every
        market of the key (venue notes: WebSockets), so it would widen the subscription, not end it.

        Returns once the venue has read the change (the ``PONG`` of a ``PING`` sent after it), so
        no event of those markets is sent after it returns; or, should the session end first, once
        the change is left to the next session, which subscribes only the markets remaining.
        Events already in flight are not delivered either way.
        """
        unwanted = [condition_id(market) for market in dict.fromkeys(condition_ids)]
        async with self._subscription_lock:
            gone = [market for market in unwanted if market in self._markets]
            if not self._markets or (gone and len(gone) == len(self._markets)):
                raise InvalidValueError(
                    "the user channel would be left subscribed to every market; stop it instead",
                    markets=len(self._markets),
                )
            if not gone:
                return
            for market in gone:
                del self._markets[market]
            session = await self._send_operation("unsubscribe", gone)
        if session is not None:
            with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
                await session.barrier(self._probe_timeout_s)

    async def _send_operation(self, operation: str, markets: Sequence[str]) -> UserSession | None:
        """Send a subscription change on the open session, and return it; None when there is none."""
        session = self._session
        if session is None or self._stopped:
            # The next session subscribes the current set.
            return None
        frame = self._encode({"operation": operation, "markets": markets}).decode()
        try:
            await session.socket.send(frame)
        except websockets.ConnectionClosed:
            # The session is ending; the next one subscribes the current set.
            return None
        if self._recording is not None:
            self._recording.frame_sent(frame)
            kind = RecordKind.SUBSCRIBED if operation == "subscribe" else RecordKind.UNSUBSCRIBED
            self._recording.markets_changed(kind, markets)
        return session

    # --- delivery ---------------------------------------------------------------------------------

    def events(self) -> AsyncIterator[UserChannelEvent]:
        """A new iterator over the events from now on, with its own queue of ``queue_size``; the
        oldest queued event is dropped when the consumer falls behind (``stats.events_dropped``).
        The iteration ends after :meth:`stop`."""
        return self._fanout.stream()

    def add_listener(self, callback: Callable[[UserChannelEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every event, in the reader's task; returns its remover. An
        exception from it is logged and counted (``stats.listener_errors``), delivery goes on."""
        return self._fanout.add_listener(callback)

    @property
    def stats(self) -> UserChannelStats:
        return UserChannelStats(
            connected=self._session is not None,
            in_sync=self.in_sync,
            sessions=self._sessions,
            reconnects=max(0, self._sessions - 1),
            frames=self._frames,
            events_by_type=dict(self._events_by_type),
            malformed_frames=self._malformed,
            malformed_answers=self._malformed_answers,
            unknown_event_types=dict(self._decoder.unknown_event_types),
            duplicates_skipped=self._duplicates,
            unsubscribed_skipped=self._unsubscribed_skipped,
            reconciliations=self._reconciliations,
            reconciliation_failures=self._reconciliation_failures,
            reconciled_events=self._reconciled_events,
            probes_sent=self._probes_sent,
            silences_detected=self._silences,
            credential_refusals=self._credential_refusals,
            events_delivered=self._fanout.delivered,
            events_dropped=self._fanout.dropped,
            listener_errors=self._fanout.listener_errors,
            task_failures=self._tasks.failures,
        )

    def _offer(self, events: list[UserChannelEvent]) -> None:
        """Deliver the events of subscribed markets that tell something new; count the rest."""
        fresh, unsubscribed, duplicates = self._tracker.news(events, self._markets)
        self._unsubscribed_skipped += unsubscribed
        self._duplicates += duplicates
        if not fresh:
            return
        self._reconciled_events += sum(1 for event in fresh if event.reconciled)
        dropped = self._fanout.deliver(fresh)
        if dropped:
            QUEUE_DROPS.labels(queue=_EVENTS_QUEUE).inc(dropped)

    # --- sessions ---------------------------------------------------------------------------------

    async def _run_sessions(self) -> None:
        async def session(_: str) -> None:
            await self._run_session()

        await run_sessions(session, self._backoff, ending=lambda: self._stopped or self._failure is not None)

    async def _run_session(self) -> None:
        try:
            socket = await open_venue_socket(
                self._ws_url, what="user channel", open_timeout_s=self._open_timeout_s, close_timeout_s=_CLOSE_TIMEOUT_S
            )
        except TransportError as exc:
            _log.warning("cannot open a user channel session", error=str(exc), attempt=self._backoff.attempts)
            return
        session = UserSession(socket, time.monotonic())
        pinger: asyncio.Task[None] | None = None
        close_code: int | None = None
        recording = self._recording
        try:
            async with self._subscription_lock:
                subscription = self._subscription()
                await socket.send(subscription)
                self._session = session
                if recording is not None:
                    recording.frame_sent(subscription)
            # The first PING right away: its PONG proves the subscription was read (module docs).
            await session.ping()
            self._sessions += 1
            if self._sessions > 1:
                WS_RECONNECTS.labels(channel=_CHANNEL).inc()
            if recording is not None:
                recording.session_opened(self._sessions, self._markets)
            _log.info("user channel session opened", session=self._sessions, markets=len(self._markets))
            pinger = asyncio.create_task(self._ping_forever(session), name="user-channel ping")
            async for frame in socket:
                self._on_frame(session, frame)
        except websockets.ConnectionClosed as exc:
            close_code = None if exc.rcvd is None else exc.rcvd.code
            if not self._stopped:
                _log.warning("user channel session ended", code=close_code)
        finally:
            if self._session is session:
                self._session = None
            if recording is not None:
                recording.session_ended(session.end_reason, close_code, self._markets)
            if pinger is not None:
                pinger.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pinger
            await socket.close()
        if not session.subscribed and not self._stopped:
            await self._check_credentials()

    def _subscription(self) -> str:
        credentials = self._trading.credentials
        if credentials is None:
            raise InvalidValueError("the trading client has no API credentials for the user channel")
        # The one place the secret and passphrase leave their Secret wrappers: the frame itself.
        message = {
            "auth": {
                "apiKey": credentials.api_key,
                "secret": credentials.secret.reveal(),
                "passphrase": credentials.passphrase.reveal(),
            },
            "type": "user",
            "markets": list(self._markets),
        }
        return self._encode(message).decode()

    async def _ping_forever(self, session: UserSession) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await asyncio.sleep(self._ping_interval_s)
                await session.ping()

    def _on_frame(self, session: UserSession, frame: str | bytes) -> None:
        now_s = time.monotonic()
        if frame == PONG:
            session.pong_received(now_s)
            WS_FRAMES.labels(channel=_CHANNEL, event_type="pong").inc()
            if session.resync_after_pong and session.pongs_received >= session.resync_after_pong:
                session.resync_after_pong = 0
                self._tasks.spawn(self._reconcile_until_done("subscribe"), "user-channel reconciliation")
            if not session.subscribed:
                session.subscribed = True
                self._backoff.reset()
                if self._recording is not None:
                    self._recording.subscribed(self._markets)
                self._tasks.spawn(self._reconcile_session(session), "user-channel reconciliation")
            return
        session.watch.last_data_s = now_s
        self._frames += 1
        received_ns = time.time_ns()
        try:
            messages = self._decoder.decode(frame)
            events = [self._convert(message, received_ns) for message in messages]
        except Exception as exc:  # typed or not (a decoder's RecursionError): hostile data must not end the session
            if self._recording is not None:
                self._recording.undecoded_frame_received(frame)
            # A message lost to a bad frame is a gap like any other: REST tells what it said.
            self._malformed += 1
            WS_FRAMES.labels(channel=_CHANNEL, event_type="malformed").inc()
            _log.warning(
                "malformed user frame; reconciling with REST",
                error=exc.message if isinstance(exc, PolyinfraError) else type(exc).__name__,
                frame_bytes=len(frame),
            )
            self._tasks.spawn(self._reconcile_until_done("malformed"), "user-channel reconciliation")
            return
        if self._recording is not None:
            # Before the events it makes are delivered, as the market channel's frames are.
            self._recording.frame_received(frame, messages)
        self._offer(events)

    def _convert(self, message: UserEvent, received_ns: int) -> UserChannelEvent:
        event = user_event_from_wire(message, received_ns=received_ns)
        event_type = "order" if isinstance(event, OrderUpdate) else "trade"
        self._events_by_type[event_type] = self._events_by_type.get(event_type, 0) + 1
        WS_FRAMES.labels(channel=_CHANNEL, event_type=event_type).inc()
        return event

    # --- reconciliation ---------------------------------------------------------------------------

    async def _reconcile_session(self, session: UserSession) -> None:
        await self._reconcile_until_done("session")
        session.synced = True

    async def _reconcile_until_done(self, reason: str) -> None:
        """Reconcile, retrying failures on the backoff schedule until one succeeds (or the
        credentials are refused for good)."""
        while self._failure is None:
            try:
                await self._reconcile(reason)
            except AuthError as exc:
                self._credentials_refused(exc)
                await asyncio.sleep(self._retry_backoff.next_delay_s())
            except PolyinfraError as exc:
                delay_s = self._retry_backoff.next_delay_s()
                _log.warning(
                    "user reconciliation failed; retrying", reason=reason, error=describe_failure(exc), retry_s=delay_s
                )
                await asyncio.sleep(delay_s)
            else:
                self._refused_since_s = None
                self._retry_backoff.reset()
                session = self._session
                # Only a subscribed socket makes the markets covered: a reconciliation that
                # outlived its session vouches for nothing after it.
                if (
                    self._recording is not None
                    and reason in _COVERING_RECONCILIATIONS
                    and session is not None
                    and session.subscribed
                ):
                    self._recording.coverage(SyncState.LIVE, reason, self._markets)
                return

    async def _reconcile(self, reason: str) -> int:
        """Fetch open orders, the orders that left that list, and recent trades; offer each as a
        synthesized event. Returns how many told something the socket had not."""
        async with self._reconcile_lock:
            started_s = int(time.time())
            self._reconciliation_fetches += 1
            fetch_id = self._reconciliation_fetches
            recording = self._recording
            if recording is not None:
                recording.reconciliation_requested(fetch_id, reason, self._markets)
            trades_since_s = int(time.time()) if self._trades_since_s is None else self._trades_since_s
            try:
                answers = await fetch_reconciliation_answers(
                    self._trading, self._tracker, self._markets, trades_since_s=trades_since_s, api_key=self._api_key
                )
                # Made from the answers only once all are in, right before they are recorded and
                # offered: the tracker then stands as it will in a replay of the recording.
                events = reconciliation_events(answers, self._tracker, received_ns=time.time_ns())
            except PolyinfraError as exc:
                self._reconciliation_failed(fetch_id)
                if isinstance(exc, MalformedMessageError):
                    self._answer_malformed(_RECONCILIATION)
                raise
            except Exception as exc:  # hostile REST data the decoders did not translate
                self._reconciliation_failed(fetch_id)
                self._answer_malformed(_RECONCILIATION)
                raise MalformedMessageError(
                    "a REST answer of the reconciliation could not be used", detail=describe_failure(exc)
                ) from exc
            if recording is not None:
                recording.reconciliation_answered(fetch_id, answers)
            before = self._reconciled_events
            self._offer(events)
            missed = self._reconciled_events - before
            self._reconciliations += 1
            self._trades_since_s = started_s
            log = _log.warning if missed else _log.debug
            log("user channel reconciled with REST", reason=reason, missed=missed)
            return missed

    def _reconciliation_failed(self, fetch_id: int) -> None:
        self._reconciliation_failures += 1
        if self._recording is not None:
            self._recording.reconciliation_failed(fetch_id)

    def _answer_malformed(self, request: str) -> None:
        self._malformed_answers += 1
        MALFORMED_ANSWERS.labels(request=request).inc()

    # --- credentials ------------------------------------------------------------------------------

    async def _check_credentials(self) -> None:
        """After a session that ended before its subscription was acknowledged: the venue drops
        the socket of credentials it refuses (module notes), so ask REST whether it accepts them."""
        try:
            await self._trading.get_api_keys()
        except AuthError as exc:
            self._credentials_refused(exc)
        except Exception as exc:  # typed or not, an answer that says nothing either way
            # Unknown (an outage, a malformed answer): the next session tries again.
            if not isinstance(exc, PolyinfraError) or isinstance(exc, MalformedMessageError):
                self._answer_malformed(_CREDENTIALS_CHECK)
            _log.warning("cannot check the user channel's credentials", error=describe_failure(exc))
        else:
            self._refused_since_s = None

    def _credentials_refused(self, error: AuthError) -> None:
        """Count a refusal; past ``auth_grace_s`` of nothing but refusals, give up."""
        self._credential_refusals += 1
        now_s = time.monotonic()
        if self._refused_since_s is None:
            self._refused_since_s = now_s
        refused_for_s = now_s - self._refused_since_s
        if refused_for_s < self._auth_grace_s:
            _log.warning(
                "the venue refuses the user channel's credentials; retrying",
                refused_for_s=round(refused_for_s, 3),
                gives_up_after_s=self._auth_grace_s,
                error=str(error),
            )
            return
        self._failure = error
        _log.error(
            "the venue refused the user channel's credentials for too long; the channel stopped",
            refused_for_s=round(refused_for_s, 3),
            error=str(error),
        )
        if self._session is not None:
            self._session.socket.transport.abort()
        self._tasks.cancel_all(keep=asyncio.current_task())
        self._fanout.close(error)

    # --- watchdog ---------------------------------------------------------------------------------

    async def _watch_forever(self) -> None:
        pong_timeout_s = _PONG_TIMEOUT_PINGS * self._ping_interval_s
        while True:
            await asyncio.sleep(self._tick_s)
            session = self._session
            if session is None or not session.synced:
                continue
            watch = session.watch
            now_s = time.monotonic()
            verdict = watch.verdict(
                now_s,
                silence_timeout_s=self._silence_timeout_s,
                probe_timeout_s=self._probe_timeout_s,
                pong_timeout_s=pong_timeout_s,
            )
            if verdict is WatchVerdict.PROBE:
                watch.probe_sent(now_s)
                self._probes_sent += 1
                self._tasks.spawn(self._probe(session), "user-channel probe")
            elif verdict is WatchVerdict.SILENT or verdict is WatchVerdict.NO_PONG:
                self._declare_dead(session, verdict.value)

    async def _probe(self, session: UserSession) -> None:
        """A silence probe: REST shows whether the quiet socket missed anything."""
        _log.debug("user channel silent; reconciling", silent_s=round(session.watch.silent_for_s(time.monotonic()), 3))
        try:
            missed = await self._reconcile("silence")
        except AuthError as exc:
            self._credentials_refused(exc)
            return
        except PolyinfraError as exc:
            # Unanswered: the watchdog reconnects once the probe is overdue.
            _log.warning("user channel probe failed", error=describe_failure(exc))
            return
        if self._session is not session:
            return
        if missed:
            self._declare_dead(session, "missed events")
        else:
            # REST agrees with everything the socket delivered: the quiet was genuine. The probe
            # counts as answered, as a data frame would.
            session.watch.last_data_s = time.monotonic()

    def _declare_dead(self, session: UserSession, why: str) -> None:
        self._silences += 1
        session.end_reason = why
        _log.warning(
            "user channel is silent; reconnecting",
            why=why,
            silent_s=round(session.watch.silent_for_s(time.monotonic()), 3),
        )
        # Without a close handshake: a zombie may never answer one.
        session.socket.transport.abort()
