"""The emulator's PolyBolt socket (``/ws/polybolt``), with the venue's rules (venue notes: PolyBolt).

* Every price channel needs the ``auth`` op first, with CLOB API credentials the emulator issued
  (checked by ``credentials_valid``); before it a subscription is answered with the error code
  ``auth_required``, a wrong key with ``auth_invalid``; the ninth ``auth`` frame closes with 4008.
* ``subscribe`` / ``unsubscribe`` carry several (channel, filter) entries; each is acknowledged
  (``subscribed``) or refused (``error`` with a code: ``invalid_channel``, ``invalid_filter``,
  ``subscription_limit`` past 64 per connection, ``rate_limited`` past 20 such frames in one second
  of :attr:`PolyBoltChannel.clock_s`). The socket stays open after any of them.
* A new subscription is answered with a snapshot of its last two minutes; a repeated one only
  with the acknowledgement.
* Data frames are envelopes numbered by ``seq`` per connection and channel (snapshots included).
* The server sends ``{"op":"ping"}`` every ``ping_interval_s`` (and when a test calls
  :meth:`PolyBoltChannel.ping_all`); a connection with two pings unanswered is closed with 4002.
* Frames over 64 KB close the socket (1009).

The fault knobs ``polybolt_*`` (:mod:`polyinfra.emulator.faults`) close sockets with a chosen code,
skip ``seq`` numbers, discard frames as for a slow reader (reported in the next ``dropped``) and
refuse handshakes with 429 and ``Retry-After``. :class:`PolyBoltStats` counts what a test checks:
the most subscriptions one socket held and the most subscribe frames one socket sent in a second.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

import msgspec
from aiohttp import web

from polyinfra.core.polybolt_feed import (
    MAX_FRAME_BYTES,
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    POLYBOLT_TOPICS,
    subscription_key,
)
from polyinfra.core.rtds_topics import PriceSource, canonical_symbol
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.outbox import Outbox, close_all
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["PolyBoltChannel", "PolyBoltStats"]

_encode = msgspec.json.Encoder(decimal_format="number").encode

_MAX_AUTH_FRAMES: Final = 8
_FRAMES_PER_SECOND: Final = 20
_MISSED_PINGS_TO_CLOSE: Final = 2
_SNAPSHOT_POINTS: Final = 120
_CHANNELS: Final = frozenset(channel for channel, _ in POLYBOLT_TOPICS.values())
# Which RTDS walk feeds which PolyBolt channel: Binance's walk stands for the Pyth feed.
_FED_BY: Final = {
    PriceSource.BINANCE.value: "price.crypto",
    PriceSource.TWAP_60S.value: "price.crypto.twap",
    PriceSource.EQUITY.value: "price.equity",
}


@dataclass(slots=True)
class PolyBoltStats:
    """Counters of the PolyBolt socket since the emulator started."""

    connections_opened: int = 0
    connections_open: int = 0
    handshakes_refused: int = 0
    auths_accepted: int = 0
    auths_refused: int = 0
    messages_sent: int = 0
    snapshots_sent: int = 0
    pings_sent: int = 0
    pongs_received: int = 0
    subscriptions_refused: int = 0
    subscription_limit_refusals: int = 0
    rate_limit_refusals: int = 0
    most_subscriptions: int = 0
    """The most (channel, filter) subscriptions one socket held at once."""
    most_frames_in_a_second: int = 0
    """The most subscribe/unsubscribe frames one socket sent within one second."""
    seq_skipped: int = 0
    frames_dropped_slow: int = 0
    connections_closed_by_fault: int = 0


class _Connection:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.authed = False
        self.auth_frames = 0
        self.entries: dict[str, None] = {}
        self.seq: dict[str, int] = {}
        self.dropped: dict[str, int] = {}
        self.recent_frames_s: deque[float] = deque()
        self.unanswered_pings = 0
        self.data_frames = 0


class PolyBoltChannel:
    """The PolyBolt socket; the emulator's price walks call :meth:`publish_rtds_price` and
    :meth:`publish_market_price` with each point they make."""

    def __init__(
        self,
        faults: FaultConfig,
        *,
        credentials_valid: Callable[[str, str, str], bool],
        ping_interval_s: float = 25.0,
    ) -> None:
        self._faults = faults
        self._credentials_valid = credentials_valid
        self._ping_interval_s = ping_interval_s
        self.clock_s: Callable[[], float] = time.monotonic
        """The clock of the subscribe-frame rate limit (a test replaces it with its own)."""
        self.stats = PolyBoltStats()
        self._connections: set[_Connection] = set()
        self._series: dict[str, deque[tuple[int, Decimal]]] = {}
        self._rids = itertools.count(1)
        self._decoder: JsonDecoder[object] = JsonDecoder(what="PolyBolt client frame", max_bytes=MAX_FRAME_BYTES)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of ``GET /ws/polybolt``."""
        faults = self._faults
        if self.stats.handshakes_refused < faults.polybolt_refuse_handshakes:
            self.stats.handshakes_refused += 1
            return web.Response(status=429, headers={"Retry-After": str(faults.polybolt_retry_after_s)})
        outbox = await Outbox.accept(request, "polybolt", max_frame_bytes=MAX_FRAME_BYTES)
        connection = _Connection(outbox)
        self._connections.add(connection)
        self.stats.connections_opened += 1
        self.stats.connections_open += 1
        pinger = asyncio.create_task(self._ping_forever(connection), name="emulator polybolt pings")
        try:
            await outbox.serve(lambda text: self._on_text(connection, text), self._sent)
        finally:
            self._connections.discard(connection)
            self.stats.connections_open -= 1
            pinger.cancel()
            await asyncio.gather(pinger, return_exceptions=True)
        return outbox.ws

    async def close_all(self) -> None:
        """Close every socket with 1001 (going away)."""
        await close_all(connection.outbox for connection in self._connections)

    def ping_all(self) -> None:
        """Send every connection a ping now; one that left two unanswered is closed with 4002."""
        for connection in list(self._connections):
            self._ping(connection)

    def _ping(self, connection: _Connection) -> None:
        if connection.unanswered_pings >= _MISSED_PINGS_TO_CLOSE:
            connection.outbox.close_after_queued(4002)
            return
        connection.unanswered_pings += 1
        self.stats.pings_sent += 1
        connection.outbox.put(b'{"op":"ping","rid":"p%d"}' % next(self._rids))

    # --- prices --------------------------------------------------------------------------------------

    def publish_rtds_price(self, topic: str, venue_symbol: str, value: Decimal, timestamp_ms: int) -> None:
        """A point of an RTDS price walk; the walks PolyBolt has a channel for are published here too."""
        channel = _FED_BY.get(topic)
        if channel is None:
            return
        fields: dict[str, str | int] = {"symbol": canonical_symbol(venue_symbol)}
        window_s = POLYBOLT_TOPICS[topic][1]
        if window_s is not None:
            fields["window_seconds"] = window_s
        self._publish(channel, fields, value, timestamp_ms)

    def publish_market_price(self, asset_id: str, value: Decimal, timestamp_ms: int) -> None:
        """An outcome token's latest trade price (``price.polymarket``)."""
        self._publish("price.polymarket", {"asset_id": asset_id}, value, timestamp_ms)

    def _publish(self, channel: str, fields: dict[str, str | int], value: Decimal, timestamp_ms: int) -> None:
        key = subscription_key(channel, fields)
        self._series.setdefault(key, deque(maxlen=_SNAPSHOT_POINTS)).append((timestamp_ms, value))
        if not self._connections:
            return
        payload = _encode({**fields, **_point(timestamp_ms, value)})
        for connection in list(self._connections):
            if key in connection.entries and not connection.outbox.closing:
                self._send_data(connection, channel, payload, timestamp_ms, snapshot=False)

    # --- client frames -------------------------------------------------------------------------------

    def _on_text(self, connection: _Connection, text: str) -> None:
        try:
            frame = self._decoder.decode(text)
        except MalformedMessageError:
            self._answer(connection, "error", "", code="invalid_frame")
            return
        if not isinstance(frame, dict):
            self._answer(connection, "error", "", code="invalid_frame")
            return
        op, rid = frame.get("op"), frame.get("rid")
        rid = rid if isinstance(rid, str) else ""
        if op == "pong":
            connection.unanswered_pings = 0
            self.stats.pongs_received += 1
        elif op == "ping":
            self._answer(connection, "pong", rid)
        elif op == "auth":
            self._auth(connection, rid, frame.get("auth"))
        elif op in ("subscribe", "unsubscribe"):
            self._subscriptions(connection, op, rid, frame.get("subscriptions"))
        else:
            self._answer(connection, "error", rid, code="unknown_op")

    def _auth(self, connection: _Connection, rid: str, auth: object) -> None:
        connection.auth_frames += 1
        if connection.auth_frames > _MAX_AUTH_FRAMES:
            self._answer(connection, "error", rid, code="auth_attempts")
            connection.outbox.close_after_queued(4008)
            return
        fields = auth if isinstance(auth, dict) else {}
        key, secret, passphrase = (fields.get(name) for name in ("apiKey", "secret", "passphrase"))
        if (
            isinstance(key, str)
            and isinstance(secret, str)
            and isinstance(passphrase, str)
            and self._credentials_valid(key, secret, passphrase)
        ):
            connection.authed = True
            self.stats.auths_accepted += 1
            self._answer(connection, "authed", rid)
        else:
            self.stats.auths_refused += 1
            self._answer(connection, "error", rid, code="auth_invalid")

    def _subscriptions(self, connection: _Connection, op: str, rid: str, entries: object) -> None:
        now_s = self.clock_s()
        recent = connection.recent_frames_s
        while recent and now_s - recent[0] >= 1.0:
            recent.popleft()
        if len(recent) >= _FRAMES_PER_SECOND:
            self.stats.rate_limit_refusals += 1
            self._answer(connection, "error", rid, code="rate_limited")
            return
        recent.append(now_s)
        self.stats.most_frames_in_a_second = max(self.stats.most_frames_in_a_second, len(recent))
        if not isinstance(entries, list) or not entries:
            self._answer(connection, "error", rid, code="invalid_frame")
            return
        for entry in entries:
            channel, key = _entry_key(entry)
            if key is None:
                self.stats.subscriptions_refused += 1
                code = "invalid_channel" if channel not in _CHANNELS else "invalid_filter"
                self._answer(connection, "error", rid, code=code, channel=channel)
            elif not connection.authed:
                self.stats.subscriptions_refused += 1
                self._answer(connection, "error", rid, code="auth_required", channel=channel)
            elif op == "unsubscribe":
                connection.entries.pop(key, None)
                self._answer(connection, "unsubscribed", rid, channel=channel)
            elif key in connection.entries:
                self._answer(connection, "subscribed", rid, channel=channel)
            elif len(connection.entries) >= MAX_SUBSCRIPTIONS_PER_CONNECTION:
                self.stats.subscriptions_refused += 1
                self.stats.subscription_limit_refusals += 1
                self._answer(connection, "error", rid, code="subscription_limit", channel=channel)
            else:
                connection.entries[key] = None
                self.stats.most_subscriptions = max(self.stats.most_subscriptions, len(connection.entries))
                self._answer(connection, "subscribed", rid, channel=channel)
                self._send_snapshot(connection, channel, key, entry["filter"])

    def _send_snapshot(self, connection: _Connection, channel: str, key: str, fields: dict[str, object]) -> None:
        points = list(self._series.get(key, ()))
        data = [_point(timestamp_ms, value) for timestamp_ms, value in points]
        payload = _encode({**fields, "data": data})
        self.stats.snapshots_sent += 1
        self._send_data(connection, channel, payload, points[-1][0] if points else 0, snapshot=True)

    # --- sending -------------------------------------------------------------------------------------

    def _answer(self, connection: _Connection, op: str, rid: str, *, code: str = "", channel: str = "") -> None:
        answer: dict[str, str] = {"op": op, "rid": rid}
        if code:
            answer["code"] = code
        if channel:
            answer["channel"] = channel
        connection.outbox.put(_encode(answer))

    def _send_data(self, connection: _Connection, channel: str, payload: bytes, ts_ms: int, *, snapshot: bool) -> None:
        faults = self._faults
        connection.data_frames += 1
        count = connection.data_frames
        if faults.polybolt_slow_consumer_every and count % faults.polybolt_slow_consumer_every == 0:
            self.stats.frames_dropped_slow += 1
            connection.dropped[channel] = connection.dropped.get(channel, 0) + 1
            return
        seq = connection.seq.get(channel, 0) + 1
        if faults.polybolt_seq_skip_every and count % faults.polybolt_seq_skip_every == 0:
            self.stats.seq_skipped += 1
            seq += 1
        connection.seq[channel] = seq
        extra = b',"snapshot":true' if snapshot else b""
        dropped = connection.dropped.pop(channel, 0)
        if dropped:
            extra += b',"dropped":%d' % dropped
        frame = b'{"v":1,"channel":%s,"seq":%d,"ts":%d%s,"payload":%s}' % (
            _encode(channel),
            seq,
            ts_ms,
            extra,
            payload,
        )
        connection.outbox.put(frame)
        close_after = faults.polybolt_close_after_messages
        if close_after and count >= close_after and connection.outbox.close_code is None:
            self.stats.connections_closed_by_fault += 1
            connection.outbox.close_after_queued(faults.polybolt_close_code)

    def _sent(self, frame: bytes) -> None:
        self.stats.messages_sent += 1

    async def _ping_forever(self, connection: _Connection) -> None:
        while not connection.outbox.closing:
            await asyncio.sleep(self._ping_interval_s)
            self._ping(connection)


def _point(timestamp_ms: int, value: Decimal) -> dict[str, object]:
    return {"timestamp": timestamp_ms, "value": value, "full_accuracy_value": str(value)}


def _entry_key(entry: object) -> tuple[str, str | None]:
    """An entry's channel and subscription key; the key is None when the venue would refuse it."""
    if not isinstance(entry, dict):
        return "", None
    channel, fields = entry.get("channel"), entry.get("filter")
    if not isinstance(channel, str) or channel not in _CHANNELS or not isinstance(fields, dict):
        return (channel if isinstance(channel, str) else "")[:60], None
    if channel == "price.polymarket":
        asset_id = fields.get("asset_id")
        valid = set(fields) == {"asset_id"} and isinstance(asset_id, str) and asset_id.isalnum()
    else:
        symbol = fields.get("symbol")
        # Lower-case <coin>usd on crypto; btc/usd and btcusdt are refused.
        valid = isinstance(symbol, str) and symbol.isascii() and symbol.isalnum() and symbol == symbol.lower()
        if channel.startswith("price.crypto"):
            valid = valid and isinstance(symbol, str) and symbol.endswith("usd")
        wanted = {"symbol", "window_seconds"} if channel.endswith(".twap") else {"symbol"}
        valid = valid and set(fields) == wanted
        if channel.endswith(".twap"):
            valid = valid and fields.get("window_seconds") == 60
    return channel, subscription_key(channel, fields) if valid else None
