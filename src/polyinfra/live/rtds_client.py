"""The RTDS transport: one socket to the real-time data service, kept alive and honest (venue notes: RTDS).

:class:`RtdsClient` owns the socket, its timers and the recorder tap; :class:`~polyinfra.core.rtds_feed.RtdsFeed`
turns frames into events. What it does, and why:

* **Sessions.** A connection is a loop of sessions with jittered exponential backoff between them
  (reset by a session's first data). Each session sends every subscription again, one topic per
  frame: one bad topic in a batch silences the whole batch. Subscriptions added or removed while a
  session runs are sent on the open socket, never by reconnecting.
* **PING every 5 s.** Without an application ``PING`` the server stops sending after about six
  minutes and keeps the socket open. It answers ``PING`` with an empty frame, not ``PONG``, so the
  reply proves nothing and liveness never keys on it.
* **A per-topic silence watchdog.** Each topic has an expected cadence
  (:data:`~polyinfra.core.rtds_topics.TOPICS`): prices tick every second, the activity firehose
  runs at about 50 messages/s. A topic silent for ``silence_timeout_s`` (three times its cadence by
  default) while the socket is open is a freeze: the session is closed and a new one subscribes
  again. Topics that may rightly be quiet for hours (comments) never trip it. Time comes from an
  injected ``clock`` so a test can reach any silence at once.
* **Gaps.** Every hole becomes a :class:`~polyinfra.model.live_events.Gap` in the consumer's stream
  and a ``gap`` record in the recorder. A lost or frozen session opens one per subscribed topic,
  from when the venue sent the topic's last frame (anything sent after it may be lost behind it),
  closed when the next session's subscriptions are in place: at its first data frame, or at the
  answer to its first ``PING`` (the server handles one socket's frames in order, so that answer
  comes after the subscriptions were taken). A subscription the server refuses gives one from when
  it was sent (and is not sent again).
* **Recording.** Every frame received and sent goes to ``recorder`` (source ``rtds``, channel = the
  topic, or ``connection`` for keep-alives, PINGs and error answers; key = the symbol, wallet or
  commented entity), a data frame after the gaps it closed, so that
  :class:`~polyinfra.record.rtds_replay.RtdsReplay` yields the events in the order they were delivered.
  Gaps are recorded under the client's connection; with other clients recording into the same recorder,
  its records are under the connection number the recorder gave it (:attr:`RtdsClient.recorded_connections`).

Every frame is handled in its own step: a malformed one is counted and logged, never the end of a
session. The session runner and the watchdog are supervised (logged, counted, restarted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from polyinfra.core.backoff import Backoff
from polyinfra.core.config_checks import WS_SCHEMES, positive_number, service_url
from polyinfra.core.rtds_feed import RtdsFeed
from polyinfra.core.rtds_topics import TOPICS, SubscriptionPlan, plan_subscription
from polyinfra.errors import TransportError
from polyinfra.live.transport import TransportTaps
from polyinfra.model.live_events import LiveEvent
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure, open_venue_socket, run_sessions
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import LIVE_STALENESS, WS_FRAMES, WS_RECONNECTS
from polyinfra.record.records import RecordKind
from polyinfra.wire.rtds import Subscription, SubscriptionRequest

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = ["SOURCE", "RtdsClient", "RtdsStats"]

SOURCE: Final = "rtds"
"""The source name of RTDS gaps and records."""

_log = get_logger(__name__)
_encode = msgspec.json.Encoder().encode
_PING: Final = "PING"
_CONNECTION_CHANNEL: Final = "connection"
_CONNECTION: Final = 1
# The watchdog judges this many times per shortest silence timeout (and at least once a second).
_TICKS_PER_TIMEOUT: Final = 4
_SILENCE_CADENCES: Final = 3
_MALFORMED: Final = "malformed"
_KEEPALIVES_TO_CONFIRM: Final = 2


@dataclass(frozen=True, slots=True)
class RtdsStats:
    """Counters of an :class:`RtdsClient` since it was created (a snapshot)."""

    messages: int
    """Data frames decoded."""
    messages_by_topic: Mapping[str, int]
    keepalives: int
    malformed_frames: int
    duplicates: int
    """Price points and activity rows dropped because they had been delivered (backfills, repeats)."""
    unknown_types: Mapping[str, int]
    sessions: int
    reconnects: int
    silences_detected: int
    """Sessions closed because a topic stayed silent past its timeout."""
    refused: int
    """Subscriptions the server refused."""
    gaps: int
    pings_sent: int
    staleness_s: Mapping[str, float]
    """Per subscribed topic, seconds since its last frame (or since it was subscribed)."""
    task_failures: Mapping[str, int]


class RtdsClient:
    """One RTDS connection (a :class:`~polyinfra.live.transport.LiveTransport`): :meth:`start` with the
    callable that receives every batch of events (gaps included), in order, then :meth:`subscribe`
    the plans :meth:`plan` makes.

    ``price_topics_until`` is the last day the RTDS price topics are used (None: no cut-over), judged
    against ``today()``; after it :meth:`plan` refuses them with
    :class:`~polyinfra.errors.RetiredTopicError`.

    ``ping_interval_s`` is the ``PING`` period (the venue asks for 5 s). ``silence_timeout_s`` overrides
    the per-topic silence limit (None in it: never). Reconnects back off from ``reconnect_initial_s``
    doubling to ``reconnect_max_s``, with jitter from ``random``. ``clock`` (monotonic seconds) drives
    the watchdog and ``wall_ms`` stamps gaps; both are injectable for tests. ``recorder`` records every
    frame and gap.
    """

    def __init__(
        self,
        url: str,
        *,
        price_topics_until: dt.date | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        ping_interval_s: float = 5.0,
        silence_timeout_s: Mapping[str, float | None] | None = None,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        open_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        random: Callable[[], float] = random.random,
        recorder: Recorder | None = None,
    ) -> None:
        self._url = service_url("url", url, WS_SCHEMES)
        self._price_topics_until = price_topics_until
        self._today = today
        self._ping_interval_s = positive_number("ping_interval_s", ping_interval_s)
        self._timeouts: dict[str, float | None] = {
            topic: None if spec.expected_interval_s is None else spec.expected_interval_s * _SILENCE_CADENCES
            for topic, spec in TOPICS.items()
        }
        for topic, timeout_s in (silence_timeout_s or {}).items():
            self._timeouts[topic] = None if timeout_s is None else positive_number("silence_timeout_s", timeout_s)
        self._open_timeout_s = positive_number("open_timeout_s", open_timeout_s)
        self._backoff = Backoff(initial_s=reconnect_initial_s, max_s=reconnect_max_s, random=random)
        self._clock = clock
        self._wall_ms = wall_ms
        self._taps = TransportTaps(SOURCE, recorder)
        self._feed = RtdsFeed()
        self._tasks = BackgroundTasks("rtds", restart_initial_s=reconnect_initial_s, restart_max_s=reconnect_max_s)
        self._subscriptions: dict[Subscription, None] = {}  # insertion-ordered set
        self._ws: ClientConnection | None = None
        self._last_data_s: dict[str, float] = {}
        self._last_data_ms: dict[str, int] = {}
        self._holes: dict[str, tuple[int, str]] = {}  # topic -> (from wall ms, reason), until resubscribed
        self._sent_ms: dict[Subscription, int] = {}
        self._loss_reason: str | None = None
        self._proven = False
        self._session_keepalives = 0
        self._stopped = False
        self._started = False
        self._sessions = 0
        self._silences = 0
        self._refused = 0
        self._pings = 0
        self._malformed = 0
        self._by_topic: dict[str, int] = {}
        self._exported: dict[str, int] = {}

    # --- lifecycle -----------------------------------------------------------------------------------

    name = SOURCE

    def plan(self, topic: str, message_type: str, filters: Mapping[str, object] | None) -> SubscriptionPlan:
        """The linted subscription (:func:`~polyinfra.core.rtds_topics.plan_subscription`)."""
        return plan_subscription(
            topic, message_type, filters, price_topics_until=self._price_topics_until, today=self._today()
        )

    async def start(self, deliver: Callable[[list[LiveEvent]], None]) -> None:
        """Start the sessions and the watchdog, handing events to ``deliver`` (subscriptions may be
        added before or after)."""
        if self._started:
            return
        self._started = True
        self._taps.deliver = deliver
        self._tasks.supervise(self._run_sessions, "rtds sessions")
        self._tasks.supervise(self._watch_forever, "rtds watchdog")

    async def stop(self) -> None:
        """Close the socket and end every task."""
        self._stopped = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        await self._tasks.stop()

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions)

    @property
    def recorded_connections(self) -> frozenset[int]:
        """The connection numbers of this client's records in its recorder: what a replay selects this
        client's events by when other clients record into the same recorder."""
        return self._taps.recorded_connections

    def stats(self) -> RtdsStats:
        now_s = self._clock()
        return RtdsStats(
            messages=self._feed.messages,
            messages_by_topic=dict(self._by_topic),
            keepalives=self._feed.keepalives,
            malformed_frames=self._malformed,
            duplicates=self._feed.duplicates,
            unknown_types=dict(self._feed.unknown_types),
            sessions=self._sessions,
            reconnects=max(0, self._sessions - 1),
            silences_detected=self._silences,
            refused=self._refused,
            gaps=self._taps.gaps,
            pings_sent=self._pings,
            staleness_s={topic: now_s - self._last_data_s.get(topic, now_s) for topic in self._topics()},
            task_failures=self._tasks.failures,
        )

    # --- subscriptions -------------------------------------------------------------------------------

    async def subscribe(self, plan: SubscriptionPlan) -> None:
        """Add a planned subscription; sent now on an open socket, and by every later session."""
        subscription = plan.wire
        if subscription in self._subscriptions:
            return
        self._subscriptions[subscription] = None
        self._last_data_s.setdefault(subscription.topic, self._clock())
        ws = self._ws
        if ws is not None:
            await self._send_subscription(ws, "subscribe", subscription)

    async def unsubscribe(self, plan: SubscriptionPlan) -> None:
        """Remove a subscription, telling the server on an open socket."""
        subscription = plan.wire
        if subscription not in self._subscriptions:
            return
        del self._subscriptions[subscription]
        if subscription.topic not in self._topics():
            self._last_data_s.pop(subscription.topic, None)
            self._holes.pop(subscription.topic, None)
        ws = self._ws
        if ws is not None:
            await self._send_subscription(ws, "unsubscribe", subscription)

    async def _send_subscription(self, ws: ClientConnection, action: str, subscription: Subscription) -> None:
        frame = _encode(SubscriptionRequest(action, [subscription]))
        if action == "subscribe":
            self._sent_ms[subscription] = self._wall_ms()  # a refusal names no subscription: see _refusal
        else:
            self._sent_ms.pop(subscription, None)
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send(frame.decode())
        self._taps.frame_sent(subscription.topic, _CONNECTION, frame)

    # --- sessions ------------------------------------------------------------------------------------

    async def _run_sessions(self) -> None:
        await run_sessions(self._session, self._backoff, ending=self._ending, url=self._url)

    def _ending(self) -> bool:
        return self._stopped

    async def _session(self, session_id: str) -> None:
        try:
            ws = await open_venue_socket(
                self._url, what="RTDS socket", open_timeout_s=self._open_timeout_s, close_timeout_s=2.0
            )
        except TransportError as exc:
            _log.warning("cannot open the RTDS socket; retrying", error=describe_failure(exc))
            return
        self._sessions += 1
        if self._sessions > 1:
            WS_RECONNECTS.labels(channel=SOURCE).inc()
        self._ws = ws
        self._proven = False
        self._session_keepalives = 0
        self._loss_reason = None
        kind = RecordKind.CONNECTED if self._sessions == 1 else RecordKind.RECONNECTED
        self._taps.lifecycle(
            _CONNECTION_CHANNEL, _CONNECTION, kind, token_ids=list(self._topics()), session=self._sessions
        )
        now_s = self._clock()
        for subscription in list(self._subscriptions):
            self._last_data_s[subscription.topic] = now_s
            await self._send_subscription(ws, "subscribe", subscription)
        pinger = asyncio.create_task(self._ping_forever(ws), name="rtds ping")
        try:
            async for frame in ws:
                self._on_frame(frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)
            self._ws = None
            if not self._stopped:
                reason = self._loss_reason or _closed_reason(ws)
                if self._loss_reason is None:  # a silence recorded its own
                    received = ws.protocol.close_rcvd
                    self._taps.lifecycle(
                        _CONNECTION_CHANNEL,
                        _CONNECTION,
                        RecordKind.CONNECTION_LOST,
                        reason=reason,
                        code=received and received.code,
                    )
                self._open_holes(reason)

    async def _ping_forever(self, ws: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                await ws.send(_PING)
                self._pings += 1
                self._taps.frame_sent(_CONNECTION_CHANNEL, _CONNECTION, _PING)
                await asyncio.sleep(self._ping_interval_s)

    def _on_frame(self, frame: bytes | str) -> None:
        feed = self._feed
        try:
            events = feed.receive(frame)
        except Exception as exc:  # hostile data must not end the session (MalformedMessageError, or a bug)
            self._malformed += 1
            WS_FRAMES.labels(channel=SOURCE, event_type=_MALFORMED).inc()
            _log.warning("malformed RTDS frame; skipped", error=describe_failure(exc))
            self._record(_CONNECTION_CHANNEL, frame, None, "")
            return
        topic = feed.last_topic
        if feed.last_error is not None:
            self._record(_CONNECTION_CHANNEL, frame, None, "")
            self._refusal(feed.last_error.body.message, feed.last_error.status_code)
            return
        if not topic:
            self._record(_CONNECTION_CHANNEL, frame, None, "")
            self._session_keepalives += 1
            # The first is the server's greeting, when it sends one; the second answers a PING
            # sent after the subscriptions.
            if self._session_keepalives == _KEEPALIVES_TO_CONFIRM and self._holes:
                self._close_holes()
            return
        self._by_topic[topic] = self._by_topic.get(topic, 0) + 1
        self._last_data_s[topic] = self._clock()
        # A hole starts after the last frame was *sent*: frames sent after it may be lost behind it.
        self._last_data_ms[topic] = self._wall_ms() if feed.last_sent_ms is None else feed.last_sent_ms
        if not self._proven:
            self._proven = True
            self._backoff.reset()
            if self._holes:
                self._close_holes()
        # Recorded after the gaps it closed: the tape holds them in the order the consumer got them (replay).
        self._record(topic, frame, feed.last_sent_ms, feed.last_key)
        if events:
            self._taps.deliver(events)

    def _refusal(self, message: str, status: int) -> None:
        """The server refused a subscription: the one whose topic its text names, else the last sent."""
        self._refused += 1
        sent = sorted(self._sent_ms.items(), key=lambda item: item[1])
        # The 401 for an unknown topic or type says "topic: X and type: Y"; others name none.
        named = [subscription for subscription, _ in sent if f"topic: {subscription.topic} " in message]
        culprits = named or [subscription for subscription, _ in sent[-1:]]
        _log.warning("RTDS refused a subscription", status=status, message=message[:200])
        for subscription in culprits:
            self._subscriptions.pop(subscription, None)
            reason = f"refused: {status} {message[:200]}"
            self._taps.report_gap(
                subscription.topic, _CONNECTION, self._sent_ms.pop(subscription), self._wall_ms(), reason
            )

    # --- gaps ----------------------------------------------------------------------------------------

    def _open_holes(self, reason: str) -> None:
        now_ms = self._wall_ms()
        for topic in self._topics():
            if topic not in self._holes:
                self._holes[topic] = (self._last_data_ms.get(topic, now_ms), reason)

    def _close_holes(self) -> None:
        now_ms = self._wall_ms()
        holes, self._holes = self._holes, {}
        for topic, (from_ms, reason) in holes.items():
            if topic in self._topics():
                self._taps.report_gap(topic, _CONNECTION, from_ms, now_ms, reason)

    # --- watchdog ------------------------------------------------------------------------------------

    async def _watch_forever(self) -> None:
        timeouts = [timeout for timeout in self._timeouts.values() if timeout is not None]
        tick_s = min([1.0, *(timeout / _TICKS_PER_TIMEOUT for timeout in timeouts)])
        while True:
            await asyncio.sleep(tick_s)
            self._judge()
            self._export_metrics()

    def _judge(self) -> None:
        ws = self._ws
        if ws is None:
            return
        now_s = self._clock()
        for topic in self._topics():
            timeout_s = self._timeouts.get(topic)
            if timeout_s is None:
                continue
            silent_s = now_s - self._last_data_s.get(topic, now_s)
            if silent_s >= timeout_s:
                self._silences += 1
                _log.warning("RTDS topic silent; reconnecting", topic=topic, silent_s=round(silent_s, 3))
                self._loss_reason = f"silence: {topic} quiet for {silent_s:.1f} s"
                self._taps.lifecycle(
                    _CONNECTION_CHANNEL, _CONNECTION, RecordKind.CONNECTION_LOST, reason=self._loss_reason, code=None
                )
                self._ws = None
                ws.transport.abort()
                return

    def _export_metrics(self) -> None:
        for topic, count in self._by_topic.items():
            added = count - self._exported.get(topic, 0)
            if added:
                WS_FRAMES.labels(channel=SOURCE, event_type=topic).inc(added)
                self._exported[topic] = count
        for topic, staleness_s in self.stats().staleness_s.items():
            LIVE_STALENESS.labels(source=SOURCE, topic=topic).set(staleness_s)

    # --- helpers -------------------------------------------------------------------------------------

    def _topics(self) -> Iterable[str]:
        return dict.fromkeys(subscription.topic for subscription in self._subscriptions)

    def _record(self, channel: str, frame: bytes | str, venue_ts_ms: int | None, key: str) -> None:
        self._taps.frame_received(channel, _CONNECTION, frame, venue_ts_ms, key)


def _closed_reason(ws: ClientConnection) -> str:
    """Why a session ended: the close code the server sent, or a lost connection (no close frame)."""
    received = ws.protocol.close_rcvd
    return "reconnect: connection lost" if received is None else f"reconnect: closed with {received.code}"
