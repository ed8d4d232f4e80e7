"""The emulator's RTDS socket (``/ws/rtds``), with the venue's behaviour copied (venue notes: RTDS).

* On connect the server sends one empty text frame; ``PING`` (any case) is answered with ``""``,
  never ``PONG``.
* ``{"action": "subscribe" | "unsubscribe", "subscriptions": [...]}`` adds or removes entries at
  run time; a second subscribe merges with the first. One unknown topic or type refuses the whole
  frame (401 ``leger GetTopics error``), ``clob_market`` / ``clob_user`` are refused (400 ``CLOB
  messages are not supported anymore``), a comma-separated filter is refused (400 ``invalid
  Subscription.Filters``), a body that is not a subscription gets 400 ``Invalid request body``.
* Filters as the servers treat them: a price filter matches only as compact JSON
  (``{"symbol":"btcusdt"}``, any case); with a space in it the subscription gets its backfill and
  then nothing; a JSON array matches nothing; any ``activity`` filter matches nothing.
* Each price subscription is answered with a backfill (``type: "subscribe"``) of the symbol's
  recent points; a Chainlink backfill is labelled ``crypto_prices``, as the servers label it.
* A connection that has not sent ``PING`` for ``rtds_silence_without_ping_s`` (the clock is
  :attr:`RtdsChannel.clock_s`, replaceable by a test) receives no more data, its socket open.

The fault knobs ``rtds_freeze``, ``rtds_drop_rate``, ``rtds_close_after_messages`` and
``rtds_close_code`` (:mod:`polyinfra.emulator.faults`) act per data frame. Frames to one socket
leave in order through its own bounded queue, so the ``""`` answering a ``PING`` comes after every
data frame produced before it: a test's barrier.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from aiohttp import web

from polyinfra.core.rtds_topics import ALL_TYPES, RETIRED_TOPICS, TOPICS, PriceSource
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.outbox import Outbox, close_all
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder
from polyinfra.wire.rtds import ErrorFrame, ErrorFrameBody, Subscription, SubscriptionRequest

__all__ = ["PriceSeries", "RtdsChannel", "RtdsStats"]

# Prices and sizes go out as JSON numbers, as the venue sends them.
_encode = msgspec.json.Encoder(decimal_format="number").encode

_KEEPALIVE: Final = b""
_MAX_CLIENT_FRAME_BYTES: Final = 64 * 1024
_FILTER_DECODER: Final[JsonDecoder[Any]] = JsonDecoder(what="RTDS filters", max_bytes=_MAX_CLIENT_FRAME_BYTES)
_CLOB_REFUSAL: Final = (
    "CLOB messages are not supported anymore, please visit https://discord.com/channels/ to learn more"
)


@dataclass(slots=True)
class RtdsStats:
    """Counters of the RTDS socket since the emulator started."""

    connections_opened: int = 0
    connections_open: int = 0
    messages_sent: int = 0
    pings_answered: int = 0
    subscriptions_refused: int = 0
    messages_silenced: int = 0
    """Data frames not sent because their connection had gone without ``PING`` too long."""
    connections_silenced: int = 0
    messages_frozen: int = 0
    messages_dropped: int = 0
    connections_closed_by_fault: int = 0
    most_subscriptions: int = 0
    """The most subscription entries one socket held at once."""


@dataclass(slots=True)
class PriceSeries:
    """What a price topic's backfill answers with: the recent points of one symbol."""

    points: list[tuple[int, str]] = field(default_factory=list)
    """(timestamp ms, value as JSON number text), oldest first."""


class _Connection:
    def __init__(self, outbox: Outbox, opened_s: float, seed: int) -> None:
        self.outbox = outbox
        self.last_ping_s = opened_s
        self.silenced = False
        self.entries: list[Subscription] = []
        self.data_frames_sent = 0
        self.dice = random.Random(seed)


class RtdsChannel:
    """The RTDS socket; the emulator's sources call :meth:`publish` with each frame they make.

    ``backfill(topic, venue_symbol)`` gives a price topic's recent points for a subscription's
    backfill, and ``symbols(topic)`` the symbols a topic has (what an unfiltered subscription
    is backfilled with)."""

    def __init__(
        self,
        faults: FaultConfig,
        *,
        backfill: Callable[[str, str], PriceSeries | None],
        symbols: Callable[[str], Iterable[str]],
        clock_ms: Callable[[], int],
    ) -> None:
        self._faults = faults
        self._backfill = backfill
        self._symbols = symbols
        self._clock_ms = clock_ms
        self.clock_s: Callable[[], float] = time.monotonic
        """The clock of the no-``PING`` silence (a test replaces it to reach 6 minutes at once)."""
        self.stats = RtdsStats()
        self._connections: set[_Connection] = set()
        self._serials = itertools.count(1)
        self._decoder: JsonDecoder[SubscriptionRequest] = JsonDecoder(
            SubscriptionRequest, what="RTDS subscription", max_bytes=_MAX_CLIENT_FRAME_BYTES
        )

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The aiohttp handler of ``GET /ws/rtds`` (the WebSocket upgrade)."""
        outbox = await Outbox.accept(request, "rtds", max_frame_bytes=_MAX_CLIENT_FRAME_BYTES)
        connection = _Connection(outbox, self.clock_s(), self._faults.seed * 7919 + next(self._serials))
        self._connections.add(connection)
        self.stats.connections_opened += 1
        self.stats.connections_open += 1
        outbox.put(_KEEPALIVE)
        try:
            await outbox.serve(lambda text: self._on_text(connection, text), self._sent)
        finally:
            self._connections.discard(connection)
            self.stats.connections_open -= 1
        return outbox.ws

    async def close_all(self) -> None:
        """Close every socket with 1001 (going away): the emulator is shutting down."""
        await close_all(connection.outbox for connection in self._connections)

    def publish(self, topic: str, message_type: str, payload: msgspec.Struct, *, symbol: str = "") -> None:
        """Send one data frame to every socket whose subscriptions match it."""
        if not self._connections:
            return
        frame: bytes | None = None
        for connection in list(self._connections):
            if connection.outbox.closing or not _wants(connection.entries, topic, message_type, symbol, payload):
                continue
            if frame is None:
                body: dict[str, object] = {
                    "connection_id": "",
                    "payload": payload,
                    "timestamp": self._clock_ms(),
                    "topic": topic,
                    "type": message_type,
                }
                frame = _encode(body)
            self._send_data(connection, frame.replace(b'"connection_id":""', _connection_id(connection), 1))

    # --- client frames -----------------------------------------------------------------------------

    def _on_text(self, connection: _Connection, text: str) -> None:
        if text.strip().upper() == "PING":
            connection.last_ping_s = self.clock_s()
            self.stats.pings_answered += 1
            self._enqueue(connection, _KEEPALIVE)
            return
        try:
            request = self._decoder.decode(text)
        except MalformedMessageError:
            self._refuse(connection, 400, "Invalid request body")
            return
        if request.action not in ("subscribe", "unsubscribe"):
            self._refuse(connection, 400, "Invalid request body")
            return
        refusal = _refusal(request.subscriptions)
        if refusal is not None:
            self._refuse(connection, *refusal)
            return
        if request.action == "unsubscribe":
            connection.entries = [entry for entry in connection.entries if entry not in request.subscriptions]
            return
        for entry in request.subscriptions:
            if entry not in connection.entries:
                connection.entries.append(entry)
            self._send_backfill(connection, entry)
        self.stats.most_subscriptions = max(self.stats.most_subscriptions, len(connection.entries))

    def _refuse(self, connection: _Connection, status: int, message: str) -> None:
        self.stats.subscriptions_refused += 1
        self._enqueue(connection, _encode(ErrorFrame(ErrorFrameBody(message), status)))

    def _send_backfill(self, connection: _Connection, entry: Subscription) -> None:
        spec = TOPICS[entry.topic]
        if spec.symbol_style is None:
            return
        wanted = _filter_symbol(entry)
        if wanted is None:
            return
        symbols = list(self._symbols(entry.topic)) if wanted == "" else [wanted]
        for symbol in symbols:
            series = self._backfill(entry.topic, symbol)
            if series is None:
                continue
            # The servers label a Chainlink backfill crypto_prices (venue notes: RTDS).
            label = PriceSource.BINANCE if entry.topic == PriceSource.CHAINLINK else entry.topic
            points = b",".join(b'{"timestamp":%d,"value":%s}' % (ms, value.encode()) for ms, value in series.points)
            frame = b'{"topic":%s,"type":"subscribe","timestamp":%d,"payload":{"symbol":%s,"data":[%s]}}' % (
                _encode(label),
                self._clock_ms(),
                _encode(symbol),
                points,
            )
            self._send_data(connection, frame)

    # --- sending -------------------------------------------------------------------------------------

    def _send_data(self, connection: _Connection, frame: bytes) -> None:
        faults = self._faults
        if connection.silenced or (
            faults.rtds_silence_without_ping_s
            and self.clock_s() - connection.last_ping_s >= faults.rtds_silence_without_ping_s
        ):
            if not connection.silenced:
                connection.silenced = True
                self.stats.connections_silenced += 1
            self.stats.messages_silenced += 1
            return
        if faults.rtds_freeze:
            self.stats.messages_frozen += 1
            return
        if faults.rtds_drop_rate and connection.dice.random() < faults.rtds_drop_rate:
            self.stats.messages_dropped += 1
            return
        self._enqueue(connection, frame)
        connection.data_frames_sent += 1
        close_after = faults.rtds_close_after_messages
        if close_after and connection.data_frames_sent >= close_after and connection.outbox.close_code is None:
            self.stats.connections_closed_by_fault += 1
            connection.outbox.close_after_queued(faults.rtds_close_code)

    def _enqueue(self, connection: _Connection, frame: bytes) -> None:
        connection.outbox.put(frame)

    def _sent(self, frame: bytes) -> None:
        if frame:  # keep-alives are not messages
            self.stats.messages_sent += 1


def _connection_id(connection: _Connection) -> bytes:
    return b'"connection_id":"%x"' % id(connection)


def _refusal(entries: list[Subscription]) -> tuple[int, str] | None:
    """Why the venue refuses a whole subscribe frame, if it does."""
    for entry in entries:
        if entry.topic in RETIRED_TOPICS:
            return 400, _CLOB_REFUSAL
        spec = TOPICS.get(entry.topic)
        if spec is None or (entry.type != ALL_TYPES and entry.type not in spec.types):
            return 401, (
                f"leger GetTopics error: rpc error: topic: {entry.topic[:100]} and type: {entry.type[:100]} not found"
            )
        filters = entry.filters
        if isinstance(filters, str) and filters and not filters.lstrip().startswith(("{", "[")):
            return 400, "invalid Subscription.Filters: value does not match regex"
    return None


def _filter_symbol(entry: Subscription) -> str | None:
    """A price entry's symbol, lower case: ``""`` for every symbol, None when it matches none."""
    filters = entry.filters
    if not isinstance(filters, str) or not filters:
        return ""
    try:
        decoded = _FILTER_DECODER.decode(filters)
    except MalformedMessageError:
        return None
    if not isinstance(decoded, dict) or not isinstance(decoded.get("symbol"), str):
        return None
    return str(decoded["symbol"]).lower()


def _wants(entries: list[Subscription], topic: str, message_type: str, symbol: str, payload: msgspec.Struct) -> bool:
    for entry in entries:
        if entry.topic != topic or entry.type not in (ALL_TYPES, message_type):
            continue
        filters = entry.filters
        if not isinstance(filters, str) or not filters:
            return True
        if topic == "activity":
            continue  # slug filters match nothing (the official client's issue #34)
        if TOPICS[topic].symbol_style is not None:
            # Only compact JSON keeps updates coming; with a space, the backfill and then silence.
            if " " not in filters and _filter_symbol(entry) == symbol:
                return True
            continue
        if _comment_filter_matches(filters, payload):
            return True
    return False


def _comment_filter_matches(filters: str, payload: msgspec.Struct) -> bool:
    try:
        wanted = _FILTER_DECODER.decode(filters)
    except MalformedMessageError:
        return False
    if not isinstance(wanted, dict):
        return False
    entity_id = getattr(payload, "parent_entity_id", None)
    entity_type = getattr(payload, "parent_entity_type", None)
    return wanted.get("parentEntityID") == entity_id and wanted.get("parentEntityType") in (None, entity_type)
