"""The PolyBolt transport: prices over the venue's newer live-data socket (venue notes: PolyBolt).

:class:`PolyBoltClient` serves :class:`~polyinfra.live.live_data.LiveData`'s price topics when CLOB
API credentials are configured; :mod:`polyinfra.core.polybolt_feed` holds the pure parts. What it
does, and why:

* **Auth first.** Every session opens with the ``auth`` op carrying the CLOB API key, secret and
  passphrase (the frame is never logged or recorded), and subscribes only once ``authed``.
  A refused key (an ``auth_*`` code, or close code 4001) stops the transport with
  :class:`~polyinfra.errors.LiveDataAuthError`: the same key would be refused again.
* **Shards.** A connection holds at most 64 (channel, filter) subscriptions, so the client opens
  another connection for the 65th; each connection has its own sessions, ``seq`` and pacing.
* **Paced frames.** Subscribe and unsubscribe frames leave at most one every 110 ms per connection
  (the server takes 20 a second), each under 60 KB (the server closes on a frame over 64 KB, and
  the client refuses to read one).
* **Pings.** The server pings every 25 s and closes after two unanswered; each is answered with
  ``pong`` as soon as it is read.
* **Close codes by meaning.** 4002 (slow consumer or missed pongs): reconnect at once, and count
  and log it. 4003 (draining): reconnect after a uniform 0-10 s delay. 4008 (policy): stop with
  :class:`~polyinfra.errors.PolicyViolationError` rather than reconnect into the same refusal.
  Anything else: reconnect with jittered exponential backoff. A handshake refused with 429 or
  503 waits the ``Retry-After`` it names, plus jitter.
* **Gaps.** A ``seq`` number skipped, a ``dropped`` count, a lost session and a refused
  subscription each become a :class:`~polyinfra.model.live_events.Gap` of the topics concerned, in
  the consumer's stream and as a ``gap`` record (:meth:`~polyinfra.live.transport.TransportTaps.report_gap`).

* **Recording.** Frames go to the recorder under source ``polybolt``, channel = the PolyBolt channel
  (``price.crypto``; ``connection`` for answers and pings), key = the symbol or asset id, the
  connection number = the shard (another client's shards recording into the same recorder get numbers of
  their own: :attr:`PolyBoltClient.recorded_connections`); gaps under the live-data topic they concern and
  the shard they were seen on, as RTDS's do. A data
  frame is recorded after the gaps it revealed, and every change of the live-data topics a
  subscription serves is a ``subscribed``/``unsubscribed`` record (``{"subscription", "topics"}``),
  so that :class:`~polyinfra.record.polybolt_replay.PolyBoltReplay` yields the ticks as delivered.

``clock``, ``random`` and ``sleep`` are injectable, so a test drives the pacing and the 4003 delay
without waiting. Every frame is handled in its own step: a malformed one is counted, logged and
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.backoff import Backoff
from polyinfra.core.config_checks import WS_SCHEMES, positive_int, positive_number, service_url
from polyinfra.core.polybolt_feed import (
    MAX_FRAME_BYTES,
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    POLYBOLT_TOPICS,
    SUBSCRIBE_INTERVAL_S,
    ControlAnswer,
    DataFrame,
    FramePacer,
    PolyBoltFeed,
    channel_filter,
    plan_polybolt,
    subscription_key,
)
from polyinfra.core.rtds_topics import SubscriptionPlan
from polyinfra.errors import LiveDataAuthError, PolicyViolationError, PolyinfraError, TransportError
from polyinfra.live.transport import POLYBOLT, TransportTaps
from polyinfra.model.live_events import LiveEvent
from polyinfra.net.ws_sessions import (
    BackgroundTasks,
    describe_failure,
    open_venue_socket,
    retry_after_s,
    run_sessions,
)
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import WS_FRAMES, WS_RECONNECTS
from polyinfra.record.records import RecordKind
from polyinfra.wire.polybolt import AuthFields, AuthRequest, ChannelFilter, ControlRequest, SubscribeRequest

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = ["PolyBoltClient", "PolyBoltStats"]

_log = get_logger(__name__)
_encode = msgspec.json.Encoder().encode
_CONNECTION_CHANNEL: Final = "connection"
_MALFORMED: Final = "malformed"
# Frames are split below the server's 64 KB limit, with room for the envelope.
_MAX_SENT_FRAME_BYTES: Final = 60 * 1024
_DRAIN_DELAY_MAX_S: Final = 10.0
_RETRY_AFTER_JITTER_S: Final = 1.0
_SLOW_CONSUMER: Final = 4002
_AUTH_CLOSE: Final = 4001
_DRAINING: Final = 4003
_POLICY: Final = 4008


@dataclass(frozen=True, slots=True)
class PolyBoltStats:
    """Counters of a :class:`PolyBoltClient` since it was created (a snapshot)."""

    connections: int
    """Connections (shards) in use."""
    sessions: int
    messages: int
    malformed_frames: int
    duplicates: int
    pings_answered: int
    subscribe_frames: int
    refused: int
    gaps: int
    slow_consumer_closes: int
    handshakes_refused: int
    failure: str | None


class _Shard:
    """One connection and the (channel, filter) subscriptions it carries (at most 64)."""

    def __init__(self, number: int, clock: Callable[[], float], interval_s: float, backoff: Backoff) -> None:
        self.number = number
        self.entries: dict[str, ChannelFilter] = {}
        self.ws: ClientConnection | None = None
        self.authed = False
        self.feed = PolyBoltFeed()
        self.pacer = FramePacer(clock, interval_s)
        self.backoff = backoff
        self.pending: dict[str, list[str]] = {}  # rid -> keys of a subscribe frame not yet answered, in order
        self.holes: dict[str, tuple[int, str]] = {}  # topic -> (from wall ms, reason)
        self.last_data_ms: dict[str, int] = {}  # channel -> venue ms of its last frame
        self.rids = 0
        self.send_lock = asyncio.Lock()

    def next_rid(self, prefix: str) -> str:
        self.rids += 1
        return f"{prefix}{self.rids}"


class PolyBoltClient:
    """PolyBolt connections (a :class:`~polyinfra.live.transport.LiveTransport`): :meth:`start` with the
    callable that receives every batch of events (gaps included), then :meth:`subscribe` the plans
    :meth:`plan` makes.

    ``credentials`` are the CLOB API key, secret and passphrase. ``max_subscriptions`` per
    connection (the venue's 64) and ``subscribe_interval_s`` (110 ms) may be lowered for tests.
    Reconnects back off from ``reconnect_initial_s`` doubling to ``reconnect_max_s``. ``clock``
    (monotonic seconds) paces frames, ``wall_ms`` stamps gaps, ``random`` draws jitter and the
    4003 delay, ``sleep`` waits; all are injectable. ``recorder`` records every frame received and
    sent (never the ``auth`` frame) and every gap. :attr:`failure` is set when the transport stopped
    for good.
    """

    name = POLYBOLT

    def __init__(
        self,
        url: str,
        credentials: ApiCredentials,
        *,
        max_subscriptions: int = MAX_SUBSCRIPTIONS_PER_CONNECTION,
        subscribe_interval_s: float = SUBSCRIBE_INTERVAL_S,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
        open_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        random: Callable[[], float] = random.random,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        recorder: Recorder | None = None,
    ) -> None:
        self._url = service_url("url", url, WS_SCHEMES)
        self._credentials = credentials
        self._max_subscriptions = min(
            positive_int("max_subscriptions", max_subscriptions), MAX_SUBSCRIPTIONS_PER_CONNECTION
        )
        self._interval_s = positive_number("subscribe_interval_s", subscribe_interval_s)
        self._reconnect_initial_s = reconnect_initial_s
        self._reconnect_max_s = reconnect_max_s
        self._open_timeout_s = positive_number("open_timeout_s", open_timeout_s)
        self._clock = clock
        self._wall_ms = wall_ms
        self._random = random
        self._sleep = sleep
        self._taps = TransportTaps(POLYBOLT, recorder)
        self._messages = 0
        self._tasks = BackgroundTasks("polybolt", restart_initial_s=reconnect_initial_s, restart_max_s=reconnect_max_s)
        self._shards: list[_Shard] = []
        self._shard_of: dict[str, _Shard] = {}
        self._topics: dict[str, dict[str, None]] = {}  # key -> the live-data topics that asked for it
        self._started = False
        self._stopped = False
        self.failure: PolyinfraError | None = None
        """Why the transport stopped for good (refused credentials, a policy close), or None."""
        self._sessions = 0
        self._malformed = 0
        self._pongs = 0
        self._subscribe_frames = 0
        self._refused = 0
        self._slow_closes = 0
        self._handshakes_refused = 0

    # --- lifecycle -----------------------------------------------------------------------------------

    def plan(self, topic: str, message_type: str, filters: Mapping[str, object] | None) -> SubscriptionPlan:
        """The PolyBolt subscription (:func:`~polyinfra.core.polybolt_feed.plan_polybolt`)."""
        return plan_polybolt(topic, filters)

    async def start(self, deliver: Callable[[list[LiveEvent]], None]) -> None:
        """Start the sessions of every connection, handing events to ``deliver``."""
        if self._started:
            return
        self._started = True
        self._taps.deliver = deliver
        for shard in self._shards:
            self._run(shard)

    async def stop(self) -> None:
        """Close every socket and end every task."""
        self._stopped = True
        for shard in self._shards:
            if shard.ws is not None:
                with contextlib.suppress(Exception):
                    await shard.ws.close()
        await self._tasks.stop()

    @property
    def recorded_connections(self) -> frozenset[int]:
        """The connection numbers of this client's records in its recorder: what a replay selects this
        client's events by when other clients record into the same recorder."""
        return self._taps.recorded_connections

    def stats(self) -> PolyBoltStats:
        return PolyBoltStats(
            connections=len(self._shards),
            sessions=self._sessions,
            messages=self._messages,
            malformed_frames=self._malformed,
            duplicates=sum(shard.feed.duplicates for shard in self._shards),
            pings_answered=self._pongs,
            subscribe_frames=self._subscribe_frames,
            refused=self._refused,
            gaps=self._taps.gaps,
            slow_consumer_closes=self._slow_closes,
            handshakes_refused=self._handshakes_refused,
            failure=None if self.failure is None else describe_failure(self.failure),
        )

    # --- subscriptions -------------------------------------------------------------------------------

    async def subscribe(self, plan: SubscriptionPlan) -> None:
        """Add a planned subscription, on a connection with room (a new one past 64)."""
        if self.failure is not None:
            raise self.failure
        entry = channel_filter(plan)
        key = subscription_key(entry.channel, entry.filter)
        topics = self._topics.setdefault(key, {})
        topics[plan.wire.topic] = None
        known = self._shard_of.get(key)
        if known is not None:
            self._record_topics(known, RecordKind.SUBSCRIBED, key, [plan.wire.topic])
            return
        shard = next((shard for shard in self._shards if len(shard.entries) < self._max_subscriptions), None)
        if shard is None:
            backoff = Backoff(initial_s=self._reconnect_initial_s, max_s=self._reconnect_max_s, random=self._random)
            # Numbered from 1, as the recorder's connections are: 0 is what belongs to no connection.
            shard = _Shard(len(self._shards) + 1, self._clock, self._interval_s, backoff)
            self._shards.append(shard)
            if self._started:
                self._run(shard)
        shard.entries[key] = entry
        self._shard_of[key] = shard
        self._record_topics(shard, RecordKind.SUBSCRIBED, key, [plan.wire.topic])
        if shard.ws is not None and shard.authed:
            await self._send_entries(shard, "subscribe", [key])

    async def unsubscribe(self, plan: SubscriptionPlan) -> None:
        """Remove a subscription, telling the server on an open socket."""
        entry = channel_filter(plan)
        key = subscription_key(entry.channel, entry.filter)
        topics = self._topics.get(key)
        if topics is None or plan.wire.topic not in topics:
            return
        del topics[plan.wire.topic]
        if topics:
            self._record_topics(self._shard_of[key], RecordKind.UNSUBSCRIBED, key, [plan.wire.topic])
            return
        del self._topics[key]
        shard = self._shard_of.pop(key)
        del shard.entries[key]
        shard.feed.forget(key)
        self._record_topics(shard, RecordKind.UNSUBSCRIBED, key, [plan.wire.topic])
        if shard.ws is not None and shard.authed:
            await self._send_entries(shard, "unsubscribe", [key], entries=[entry])

    async def _send_entries(
        self, shard: _Shard, op: str, keys: list[str], *, entries: list[ChannelFilter] | None = None
    ) -> None:
        """Send ``keys`` in as few frames as fit under 60 KB, paced."""
        ws = shard.ws
        if ws is None:
            return
        wanted = entries if entries is not None else [shard.entries[key] for key in keys if key in shard.entries]
        batches: list[list[ChannelFilter]] = [[]]
        size = 0
        for entry in wanted:
            entry_size = len(_encode(entry)) + 1
            if batches[-1] and size + entry_size > _MAX_SENT_FRAME_BYTES:
                batches.append([])
                size = 0
            batches[-1].append(entry)
            size += entry_size
        async with shard.send_lock:
            for batch in batches:
                if not batch:
                    continue
                rid = shard.next_rid("s" if op == "subscribe" else "u")
                if op == "subscribe":
                    shard.pending[rid] = [subscription_key(entry.channel, entry.filter) for entry in batch]
                frame = _encode(SubscribeRequest(op, rid, batch))
                delay_s = shard.pacer.wait_s()
                if delay_s > 0:
                    await self._sleep(delay_s)
                with contextlib.suppress(websockets.ConnectionClosed):
                    await ws.send(frame.decode())
                self._subscribe_frames += 1
                self._taps.frame_sent(_CONNECTION_CHANNEL, shard.number, frame)

    # --- sessions ------------------------------------------------------------------------------------

    def _run(self, shard: _Shard) -> None:
        async def sessions() -> None:
            await run_sessions(
                lambda _session_id: self._session(shard),
                shard.backoff,
                ending=self._ending,
                sleep=self._sleep,
                url=self._url,
            )

        self._tasks.supervise(sessions, "polybolt sessions")

    def _ending(self) -> bool:
        return self._stopped or self.failure is not None

    async def _session(self, shard: _Shard) -> float | None:
        """One session of ``shard``; returns the delay the server asked for before the next, if any."""
        try:
            ws = await open_venue_socket(
                self._url,
                what="PolyBolt socket",
                open_timeout_s=self._open_timeout_s,
                close_timeout_s=2.0,
                max_frame_bytes=MAX_FRAME_BYTES,
            )
        except TransportError as exc:
            wait_s = retry_after_s(exc)
            _log.warning("cannot open the PolyBolt socket; retrying", error=describe_failure(exc), retry_after_s=wait_s)
            if wait_s is None:
                return None
            self._handshakes_refused += 1
            return wait_s + self._random() * _RETRY_AFTER_JITTER_S
        self._sessions += 1
        if self._sessions > len(self._shards):
            WS_RECONNECTS.labels(channel=POLYBOLT).inc()
        shard.ws = ws
        shard.authed = False
        shard.pending.clear()
        shard.feed.reset()
        self._taps.lifecycle(_CONNECTION_CHANNEL, shard.number, RecordKind.CONNECTED, session=self._sessions)
        credentials = self._credentials
        auth = AuthRequest(
            "auth",
            shard.next_rid("a"),
            AuthFields(credentials.api_key, credentials.secret.reveal(), credentials.passphrase.reveal()),
        )
        try:
            await ws.send(_encode(auth).decode())
            async for frame in ws:
                await self._on_frame(shard, frame)
                if self.failure is not None:
                    await ws.close()
        except websockets.ConnectionClosed:
            pass
        finally:
            shard.ws = None
            shard.authed = False
        return self._after_close(shard, ws)

    def _after_close(self, shard: _Shard, ws: ClientConnection) -> float | None:
        received = ws.protocol.close_rcvd
        code = None if received is None else received.code
        if self._stopped:
            return None
        if self.failure is None and code == _AUTH_CLOSE:
            self._fail(LiveDataAuthError("PolyBolt refused the CLOB API credentials (close code 4001)", code=4001))
        elif self.failure is None and code == _POLICY:
            self._fail(PolicyViolationError("PolyBolt closed the socket for a policy violation (4008)", code=4008))
        reason = "reconnect: connection lost" if code is None else f"reconnect: closed with {code}"
        if code == _SLOW_CONSUMER:
            self._slow_closes += 1
            reason += " (slow consumer or missed pongs)"
            _log.warning("PolyBolt closed the socket: slow consumer or missed pongs; reconnecting")
        elif code == _DRAINING:
            reason += " (server draining)"
        if self.failure is not None:
            reason = f"stopped: {self.failure}"
        self._taps.lifecycle(_CONNECTION_CHANNEL, shard.number, RecordKind.CONNECTION_LOST, reason=reason, code=code)
        now_ms = self._wall_ms()
        for topic in self._shard_topics(shard):
            if topic not in shard.holes:
                # Anything sent after the channel's last frame may be lost behind it.
                shard.holes[topic] = (shard.last_data_ms.get(POLYBOLT_TOPICS[topic][0], now_ms), reason)
        if self.failure is not None:
            self._close_holes(shard)  # nothing will close them: say so now
            return None
        if code == _DRAINING:
            return self._random() * _DRAIN_DELAY_MAX_S
        return None

    async def _on_frame(self, shard: _Shard, frame: bytes | str) -> None:
        try:
            result = shard.feed.receive(frame)
        except Exception as exc:  # hostile data must not end the session (MalformedMessageError, or a bug)
            self._malformed += 1
            WS_FRAMES.labels(channel=POLYBOLT, event_type=_MALFORMED).inc()
            _log.warning("malformed PolyBolt frame; skipped", error=describe_failure(exc))
            self._taps.frame_received(_CONNECTION_CHANNEL, shard.number, frame, None, "")
            return
        if isinstance(result, ControlAnswer):
            self._taps.frame_received(_CONNECTION_CHANNEL, shard.number, frame, None, "")
            await self._on_answer(shard, result)
        else:
            WS_FRAMES.labels(channel=POLYBOLT, event_type=result.channel).inc()  # a few a second per symbol
            self._on_data(shard, result, frame)

    async def _on_answer(self, shard: _Shard, answer: ControlAnswer) -> None:
        ws = shard.ws
        if answer.op == "ping" and ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(_encode(ControlRequest("pong", answer.rid)).decode())
            self._pongs += 1
        elif answer.op == "authed":
            shard.authed = True
            await self._send_entries(shard, "subscribe", list(shard.entries))
        elif answer.op == "subscribed":
            shard.backoff.reset()
            _answered(shard, answer)
            if shard.holes:
                self._close_holes(shard)  # the server takes a socket's frames in order: the rest are in place too
        elif answer.op == "error":
            if answer.code.startswith("auth") and answer.code != "auth_required":
                self._fail(LiveDataAuthError("PolyBolt refused the CLOB API credentials", code=answer.code))
            else:
                self._refusal(shard, answer)

    def _refusal(self, shard: _Shard, answer: ControlAnswer) -> None:
        """A subscription was refused: its topics get a gap and it is not sent again."""
        key = _answered(shard, answer)
        _log.warning("PolyBolt refused a subscription", code=answer.code, channel=answer.channel)
        if key is None or key not in shard.entries:
            return
        self._refused += 1
        del shard.entries[key]
        self._shard_of.pop(key, None)
        # Dropped as an unsubscribe drops it: asked again, its snapshot is delivered whole.
        shard.feed.forget(key)
        topics = list(self._topics.pop(key, {}))
        self._record_topics(shard, RecordKind.UNSUBSCRIBED, key, topics)
        now_ms = self._wall_ms()
        for topic in topics:
            self._taps.report_gap(topic, shard.number, now_ms, now_ms, f"refused: {answer.code}")

    def _on_data(self, shard: _Shard, frame: DataFrame, raw: bytes | str) -> None:
        sent_ms = self._wall_ms() if frame.sent_ms is None else frame.sent_ms
        topics = self._topics.get(frame.key, {})
        if frame.hole is not None:
            # The frames lost were sent between the channel's last frame and this one (venue times).
            hole = frame.hole
            reason = f"seq: {hole.missing} frames missing, {hole.dropped} dropped by the server (slow consumer)"
            from_ms = min(shard.last_data_ms.get(frame.channel, sent_ms), sent_ms)
            gapped = {
                topic: None
                for key in shard.entries
                if key.split(" ", 1)[0] == frame.channel
                for topic in self._topics.get(key, {})
            }
            for topic in gapped:
                self._taps.report_gap(topic, shard.number, from_ms, sent_ms, reason)
        shard.last_data_ms[frame.channel] = sent_ms
        # Recorded after the gaps it revealed: the tape holds them in the order the consumer got them (replay).
        self._taps.frame_received(frame.channel, shard.number, raw, frame.sent_ms, frame.symbol)
        if frame.points and topics:
            self._messages += 1
            for topic in topics:
                self._taps.deliver(frame.ticks(topic))

    # --- helpers -------------------------------------------------------------------------------------

    def _fail(self, failure: PolyinfraError) -> None:
        if self.failure is None:
            self.failure = failure
            _log.error("PolyBolt transport stopped", error=describe_failure(failure))

    def _record_topics(self, shard: _Shard, kind: RecordKind, key: str, topics: list[str]) -> None:
        """Which live-data topics a subscription key gained or lost, for the replay to deliver its prices as live."""
        self._taps.lifecycle(_CONNECTION_CHANNEL, shard.number, kind, subscription=key, topics=topics)

    def _close_holes(self, shard: _Shard) -> None:
        now_ms = self._wall_ms()
        holes, shard.holes = shard.holes, {}
        for topic, (from_ms, reason) in holes.items():
            self._taps.report_gap(topic, shard.number, from_ms, now_ms, reason)

    def _shard_topics(self, shard: _Shard) -> dict[str, None]:
        return {topic: None for key in shard.entries for topic in self._topics.get(key, {})}


def _answered(shard: _Shard, answer: ControlAnswer) -> str | None:
    """The subscription an answer is about: the first of its frame (``rid``) on its channel not yet
    answered (the server answers a frame's entries one by one, in order)."""
    keys = shard.pending.get(answer.rid)
    if not keys:
        return None
    key = next((key for key in keys if key.split(" ", 1)[0] == answer.channel), None)
    if key is not None:
        keys.remove(key)
    if not keys:
        del shard.pending[answer.rid]
    return key
