"""The emulated venue's market channel (``/ws/market``, venue notes: Market channel) and the connection model it
shares with the user channel (:mod:`polyinfra.emulator.user_channel`):

* the client's first message subscribes; a socket that sends no valid subscription within
  ``subscribe_timeout_s`` is closed (as the venue may; venue notes: WebSockets);
* the client keeps the socket alive by sending the text ``PING`` (the venue asks for one every
  10 s, venue notes: WebSockets) and gets the text ``PONG``; a socket that sends no ``PING`` for ``ping_timeout_s``
  is closed. Protocol-level pings are answered too (unless a fault says otherwise) but do not
  count as keepalive, as on the venue;
* every outgoing frame goes through a bounded per-connection queue drained by its own task, so a
  client that reads slowly never stalls the others: when its queue is full, the frames that do
  not fit are counted and the connection is aborted (a close handshake would wait on the very
  client that does not read);
* every data frame passes through the fault knobs (:mod:`polyinfra.emulator.faults`);
* what a client sends is bounded: a frame over :data:`MAX_CLIENT_FRAME_BYTES` closes the socket
  with 1009, an unmasked frame with 1002 (RFC 6455 §5.1, :mod:`polyinfra.emulator.masked_frames`),
  a message naming more than :data:`MAX_IDS_PER_MESSAGE` ids, or a subscription growing past
  :data:`MAX_IDS_PER_SOCKET`, with 1008; a message that is not a valid request (malformed,
  nested too deep, wrong types) is ignored and counted.

The defaults (10 s to subscribe, 60 s between PINGs) and the limits are the emulator's choice: the
venue publishes none (it dropped its 100-token limit in 2025), so they sit far above what a client
subscribes to, while one socket can no longer hold a million bogus ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Final, Generic, TypeVar

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from polyinfra.core.market_subscription import (
    MAX_CLIENT_FRAME_BYTES,
    MAX_IDS_PER_MESSAGE,
    MAX_IDS_PER_SOCKET,
    MarketChannelRequest,
    MarketSubscription,
    RequestOperation,
)
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig, FaultDice
from polyinfra.emulator.masked_frames import MaskedClientWebSocket
from polyinfra.emulator.poison import PoisonClass, poison_document
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.clob_ws import (
    PING,
    PONG,
    MarketEvent,
)
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "DEFAULT_CLOSE_TIMEOUT_S",
    "DEFAULT_PING_TIMEOUT_S",
    "DEFAULT_SEND_QUEUE_LIMIT",
    "DEFAULT_SUBSCRIBE_TIMEOUT_S",
    "MAX_CLIENT_FRAME_BYTES",
    "MAX_IDS_PER_MESSAGE",
    "MAX_IDS_PER_SOCKET",
    "ChannelSettings",
    "ChannelStats",
    "MarketChannel",
]

_log = logging.getLogger(__name__)

_PONG_TEXT: Final = PONG.encode()
_WATCHDOG_INTERVAL_S: Final = 0.1
_encode = msgspec.json.Encoder().encode
_Subscription = TypeVar("_Subscription")


DEFAULT_SUBSCRIBE_TIMEOUT_S: Final = 10.0
DEFAULT_PING_TIMEOUT_S: Final = 60.0
DEFAULT_SEND_QUEUE_LIMIT: Final = 4096
DEFAULT_CLOSE_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """How the emulated channels treat their clients."""

    subscribe_timeout_s: float = DEFAULT_SUBSCRIBE_TIMEOUT_S
    """Close a socket that has not subscribed this long after it opened."""
    ping_timeout_s: float = DEFAULT_PING_TIMEOUT_S
    """Close a socket that has not sent the text ``PING`` for this long."""
    send_queue_limit: int = DEFAULT_SEND_QUEUE_LIMIT
    """Frames waiting to be sent to one client before it counts as too slow and is aborted
    (frames held back by the ``latency_ms`` fault wait in the same queue)."""
    close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S
    """How long a close handshake may take before the connection is aborted."""


@dataclass(slots=True)
class ChannelStats:
    """Counters of one channel since the emulator started."""

    connections_opened: int = 0
    connections_open: int = 0
    closed_no_subscription: int = 0
    closed_no_ping: int = 0
    closed_slow_consumer: int = 0
    connections_dropped_by_fault: int = 0
    messages_sent: int = 0
    """Data frames written to sockets (duplicates count twice)."""
    messages_dropped: int = 0
    """Data frames not sent because of ``drop_rate``."""
    messages_duplicated: int = 0
    messages_reordered: int = 0
    messages_malformed: int = 0
    messages_poisoned: int = 0
    """Data frames sent with one hostile value (``poison_rate``)."""
    messages_frozen: int = 0
    """Data frames not sent because ``freeze`` was set."""
    messages_overflowed: int = 0
    """Frames that did not fit a slow client's send queue."""
    pongs_sent: int = 0
    pings_unanswered: int = 0
    invalid_client_messages: int = 0
    closed_over_limit: int = 0
    """Sockets closed for naming more ids than :data:`MAX_IDS_PER_MESSAGE` or :data:`MAX_IDS_PER_SOCKET`."""


class _FrameKind(Enum):
    DATA = "data"
    TEXT_PONG = "text PONG"
    PROTOCOL_PONG = "protocol pong"


@dataclass(frozen=True, slots=True)
class _Outgoing:
    kind: _FrameKind
    payload: bytes
    produced_at: float


class _Connection:
    """One client socket: its send queue and sender task, keepalive watchdog and faults."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        *,
        stream: str,
        faults: FaultConfig,
        settings: ChannelSettings,
        stats: ChannelStats,
    ) -> None:
        self.ws = ws
        self._transport = request.transport
        self._faults = faults
        self._settings = settings
        self._stats = stats
        self._dice = FaultDice(faults, stream)
        self._loop = asyncio.get_running_loop()
        self._opened_at = self._loop.time()
        self._last_ping_at = self._opened_at
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue(maxsize=settings.send_queue_limit)
        self._held_back: tuple[bytes, int, WSMsgType] | None = None
        self._data_frames_sent = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closer: asyncio.Task[None] | None = None
        self.subscribed = False
        self.closing = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._send_frames(), name="emulator ws sender"),
            asyncio.create_task(self._watch(), name="emulator ws watchdog"),
        ]

    async def stop(self) -> None:
        """End the connection's tasks, letting a close handshake in progress finish."""
        self.closing = True
        for task in self._tasks:
            task.cancel()
        for outcome in await asyncio.gather(*self._tasks, return_exceptions=True):
            if isinstance(outcome, Exception):
                _log.error("a WebSocket connection task failed", exc_info=outcome)
        if self._closer is not None:
            await self._closer

    def enqueue_data(self, frame: bytes) -> None:
        self._enqueue(_FrameKind.DATA, frame)

    def on_text_ping(self) -> None:
        self._last_ping_at = self._loop.time()
        if self._answers_pings():
            self._enqueue(_FrameKind.TEXT_PONG, _PONG_TEXT)

    def on_protocol_ping(self, payload: bytes) -> None:
        if self._answers_pings():
            self._enqueue(_FrameKind.PROTOCOL_PONG, payload)

    def _answers_pings(self) -> bool:
        if self._faults.freeze and not self._faults.freeze_answers_ping:
            self._stats.pings_unanswered += 1
            return False
        return True

    def _enqueue(self, kind: _FrameKind, payload: bytes) -> None:
        if self.closing:
            return
        try:
            self._queue.put_nowait(_Outgoing(kind, payload, self._loop.time()))
        except asyncio.QueueFull:
            self._stats.messages_overflowed += 1
            self._stats.closed_slow_consumer += 1
            _log.warning("aborting a client that reads too slowly (%d frames queued)", self._queue.qsize())
            self.abort()

    def abort(self) -> None:
        """Cut the connection without a close frame, like a network failure."""
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    def request_close(self, code: WSCloseCode, reason: str) -> None:
        """Start a close handshake in its own task (the caller may be one this one ends)."""
        if not self.closing:
            self.closing = True
            self._closer = asyncio.create_task(self._close(code, reason), name="emulator ws close")

    async def close(self, code: WSCloseCode, reason: str) -> None:
        """Close with a close frame and wait for the handshake (or the abort after a timeout)."""
        self.request_close(code, reason)
        if self._closer is not None:
            await asyncio.shield(self._closer)

    async def _close(self, code: WSCloseCode, reason: str) -> None:
        try:
            async with asyncio.timeout(self._settings.close_timeout_s):
                await self.ws.close(code=code, message=reason.encode())
        except TimeoutError:
            self.abort()

    async def _send_frames(self) -> None:
        with contextlib.suppress(ConnectionError):
            while not self.closing:
                outgoing = await self._queue.get()
                delay_s = outgoing.produced_at + self._faults.latency_ms / 1000 - self._loop.time()
                if delay_s > 0:
                    await asyncio.sleep(delay_s)
                if outgoing.kind is _FrameKind.DATA:
                    await self._send_data(outgoing.payload)
                elif outgoing.kind is _FrameKind.TEXT_PONG:
                    await self.ws.send_frame(outgoing.payload, WSMsgType.TEXT)
                    self._stats.pongs_sent += 1
                else:
                    await self.ws.pong(outgoing.payload)
                    self._stats.pongs_sent += 1

    async def _send_data(self, frame: bytes) -> None:
        if self._faults.freeze:
            self._stats.messages_frozen += 1
            return
        fate = self._dice.message_fate()
        if fate.drop:
            self._stats.messages_dropped += 1
            return
        kind = WSMsgType.TEXT
        if fate.poison is not None:
            frame = poison_document(frame, fate.poison, self._dice.pick)
            self._stats.messages_poisoned += 1
            if fate.poison is PoisonClass.INVALID_UTF8:
                kind = WSMsgType.BINARY
        elif fate.malformed:
            frame = _corrupt(frame, non_json=self._dice.corrupt_as_non_json())
            self._stats.messages_malformed += 1
        copies = 1
        if fate.duplicate:
            copies = 2
            self._stats.messages_duplicated += 1
        if fate.reorder and self._held_back is None:
            # Swap with the next data frame: this one goes out right after it.
            self._held_back = (frame, copies, kind)
            self._stats.messages_reordered += 1
            return
        await self._write_data(frame, copies, kind)
        if self._held_back is not None:
            held = self._held_back
            self._held_back = None
            await self._write_data(*held)

    async def _write_data(self, frame: bytes, copies: int, kind: WSMsgType) -> None:
        for _ in range(copies):
            if self.closing:
                return
            await self.ws.send_frame(frame, kind)
            self._stats.messages_sent += 1
            self._data_frames_sent += 1
            drop_after = self._faults.drop_every_messages
            if drop_after and self._data_frames_sent >= drop_after:
                self._stats.connections_dropped_by_fault += 1
                self.abort()

    async def _watch(self) -> None:
        # Polls rather than sleeping until a deadline, so knobs changed at run time apply at once.
        while not self.closing:
            await asyncio.sleep(_WATCHDOG_INTERVAL_S)
            now = self._loop.time()
            drop_after_s = self._faults.drop_every_seconds
            if drop_after_s and now - self._opened_at >= drop_after_s:
                self._stats.connections_dropped_by_fault += 1
                self.abort()
            elif not self.subscribed and now - self._opened_at >= self._settings.subscribe_timeout_s:
                self._stats.closed_no_subscription += 1
                self.request_close(WSCloseCode.POLICY_VIOLATION, "no subscription")
            elif now - self._last_ping_at >= self._settings.ping_timeout_s:
                self._stats.closed_no_ping += 1
                self.request_close(WSCloseCode.POLICY_VIOLATION, "no PING")


def _corrupt(frame: bytes, *, non_json: bool) -> bytes:
    """A broken copy of a data frame: cut in half (not JSON), or its events lose ``timestamp``,
    a field every market event requires (venue notes: Market channel)."""
    if non_json:
        return frame[: len(frame) // 2]
    document = msgspec.json.decode(frame)
    for event in document if isinstance(document, list) else [document]:
        event.pop("timestamp", None)
    return _encode(document)


class _Channel(Generic[_Subscription]):
    """What both channels share: accepting sockets, the read loop, keepalive, shutdown.

    Each connection has a channel-specific subscription state (``_Subscription``).
    """

    name: str

    def __init__(self, faults: FaultConfig, settings: ChannelSettings) -> None:
        self._faults = faults
        self._settings = settings
        self.stats = ChannelStats()
        self._serials = itertools.count(1)
        self._connections: dict[_Connection, _Subscription] = {}

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """The aiohttp handler of the channel's ``GET`` (WebSocket upgrade)."""
        # autoping off: whether a protocol ping is answered is a fault knob.
        ws = MaskedClientWebSocket(
            autoping=False, timeout=self._settings.close_timeout_s, max_msg_size=MAX_CLIENT_FRAME_BYTES
        )
        await ws.prepare(request)
        connection = _Connection(
            ws,
            request,
            stream=f"{self.name}/{next(self._serials)}",
            faults=self._faults,
            settings=self._settings,
            stats=self.stats,
        )
        subscription = self._new_subscription()
        self._connections[connection] = subscription
        self.stats.connections_opened += 1
        self.stats.connections_open += 1
        connection.start()
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    if message.data == PING:
                        connection.on_text_ping()
                    else:
                        self._on_client_text(connection, subscription, message.data)
                elif message.type is WSMsgType.PING:
                    connection.on_protocol_ping(message.data)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            del self._connections[connection]
            self.stats.connections_open -= 1
            await connection.stop()
        return ws

    async def close_all(self) -> None:
        """Close every socket with 1001 (going away): the emulator is shutting down."""
        await asyncio.gather(
            *(connection.close(WSCloseCode.GOING_AWAY, "emulator shutting down") for connection in self._connections)
        )

    def _new_subscription(self) -> _Subscription:
        raise NotImplementedError

    def _on_client_text(self, connection: _Connection, subscription: _Subscription, text: str) -> None:
        raise NotImplementedError

    def _invalid(self, text: str) -> None:
        # The venue's answer to a bad message is undocumented; the emulator ignores it and counts it.
        self.stats.invalid_client_messages += 1
        _log.info("%s channel: ignoring invalid client message %.200r", self.name, text)

    def _over_limit(self, connection: _Connection, in_message: int, subscribed: int) -> bool:
        """Whether a message naming ``in_message`` ids, leaving the socket subscribed to
        ``subscribed``, breaks a limit; if so the socket is being closed with 1008."""
        if in_message <= MAX_IDS_PER_MESSAGE and subscribed <= MAX_IDS_PER_SOCKET:
            return False
        self.stats.closed_over_limit += 1
        _log.info("%s channel: closing a socket naming %d ids (%d subscribed)", self.name, in_message, subscribed)
        connection.request_close(WSCloseCode.POLICY_VIOLATION, "too many ids")
        return True


class MarketChannel(_Channel[MarketSubscription]):
    """``/ws/market``: book snapshots on subscribe, then the exchange's events, per subscription."""

    name = "market"

    def __init__(self, exchange: Exchange, faults: FaultConfig, settings: ChannelSettings) -> None:
        super().__init__(faults, settings)
        self._exchange = exchange
        self._request_decoder: JsonDecoder[MarketChannelRequest] = JsonDecoder(
            MarketChannelRequest, what="market-channel message"
        )
        self._unsubscribe = exchange.subscribe(self._fan_out)

    def detach(self) -> None:
        """Stop listening to the exchange."""
        self._unsubscribe()

    def _new_subscription(self) -> MarketSubscription:
        return MarketSubscription()

    def _on_client_text(self, connection: _Connection, subscription: MarketSubscription, text: str) -> None:
        try:
            request = self._request_decoder.decode(text)
        except MalformedMessageError:
            self._invalid(text)
            return
        if self._over_limit(connection, len(request.assets_ids), len(subscription.assets)):
            return
        operation = request.what()
        if operation is RequestOperation.SUBSCRIBE:
            self._subscribe(connection, subscription, request)
        elif operation is RequestOperation.UNSUBSCRIBE:
            subscription.unsubscribe(request)
        else:
            self._invalid(text)

    def _subscribe(
        self, connection: _Connection, subscription: MarketSubscription, request: MarketChannelRequest
    ) -> None:
        added = subscription.added_by(request)
        if self._over_limit(connection, len(request.assets_ids), len(subscription.assets) + len(added)):
            return
        subscription.subscribe(request, added)
        connection.subscribed = True
        if request.initial_dump:
            # Built and queued without awaiting, so no exchange event can slip in between.
            books = [
                self._exchange.book_message(asset) for asset in added if self._exchange.market_of(asset) is not None
            ]
            if books:
                connection.enqueue_data(_encode(books))

    def _fan_out(self, events: Sequence[MarketEvent]) -> None:
        # Called synchronously inside each exchange action: encode each event once, queue it for
        # every connection whose subscription wants it.
        for event in events:
            frame: bytes | None = None
            for connection, subscription in self._connections.items():
                if connection.subscribed and subscription.wants(event):
                    if frame is None:
                        frame = _encode(event)
                    connection.enqueue_data(frame)
