"""The replay server: a recording served over the venue's market channel and book routes, so any
client (``LiveBooks``, the official client, a user's bot) consumes history as if it were live.

One port (aiohttp), as the emulator:

* ``/ws/market``: the market channel (venue notes: WebSockets, Market channel). A subscription is the
  venue's message (``{"assets_ids": [...], "type": "market"}``, later ``"operation": "subscribe"`` or
  ``"unsubscribe"``); the text ``PING`` is answered ``PONG``. On subscribing, each token the tape has
  shown gets a ``book`` event of its replayed book at that point, hashed as the venue hashes it; then
  the recorded frames of its tokens as they are replayed (see :mod:`polyinfra.record.served_tape`).
  A token the tape has not shown yet gets no ``book`` now: its first recorded snapshot comes when
  the tape reaches it. What a client sends is bounded as the emulator bounds it: a message over
  :data:`~polyinfra.core.market_subscription.MAX_CLIENT_FRAME_BYTES` closes the socket with 1009,
  too many ids with 1008; a message that is not a valid request is ignored and counted. In a paced
  replay a client too slow to take its frames (:data:`SEND_QUEUE_LIMIT` waiting) is cut off, as the
  venue cuts it off; at ``max`` speed the replay waits for its clients instead, and cuts off only
  one that takes nothing for 30 s;
* ``GET /book?token_id=``, ``POST /books`` (``[{"token_id": ...}]``): the replayed books, shaped as the
  venue's summaries, with the venue's errors (``{"error": "Invalid token id"}`` 400, ``{"error": "No
  orderbook exists for the requested token id"}`` 404, ``Invalid payload``, ``Payload exceeds the
  limit``); ``GET /books`` (the replay server's own): every book the tape has shown;
* ``GET /replay/status``: the replay clock (records replayed, the last one's event id and receive
  time, the venue time of the last frame), the speed, whether it is paused or done, and counters;
  ``POST /replay/pause`` and ``POST /replay/resume`` answer with the status.

Pacing (:class:`~polyinfra.record.tape_server.TapeServer`, shared with the US replay server): ``speed``
times the recorded pace, or as fast as it goes (None), against an injected clock and sleep
(:class:`~polyinfra.record.pacing.Pacer`). With ``start_wall_ns`` the tape before it is
replayed at once and served to nobody, so the first subscriber sees the books as they were then;
``end_wall_ns`` ends the tape early. At the end of the tape (``done``), the server keeps serving the
final books and keeps every socket open, silent but for ``PONG``: nothing more happened.

Recorded gaps are served as they happened to the recording client: while it was disconnected or
resyncing, the frames it missed are not on the tape and subscribers hear nothing; when it got a fresh
snapshot (a ``book`` on its new socket, or a REST answer), subscribers get a ``book`` too, and
their books jump to where the recording's did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Final

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
from polyinfra.core.token_requests import NO_ORDERBOOK, requested_batch, requested_token
from polyinfra.errors import ApiError, InvalidValueError, MalformedMessageError
from polyinfra.record.records import Record
from polyinfra.record.replay import Replay
from polyinfra.record.served_tape import ServedFrame, ServedTape
from polyinfra.record.sink import Sink
from polyinfra.record.tape_server import TapeServer
from polyinfra.wire.clob_rest import JSON_ENCODER, ErrorBody
from polyinfra.wire.clob_ws import PING, PONG
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["SEND_QUEUE_LIMIT", "ReplayServer", "ReplayStatus"]

_log = logging.getLogger(__name__)

SEND_QUEUE_LIMIT: Final = 4096
"""Frames waiting for one client before it counts as too slow and is cut off (paced replays)."""
_HAS_ROOM_BELOW: Final = SEND_QUEUE_LIMIT // 4
"""At ``max`` speed the replay waits for each client's queue to drain below this, rather than
cutting a client off for not keeping up with a pace nobody set."""
_MAX_BODY_BYTES: Final = 1024 * 1024
_CLOSE_TIMEOUT_S: Final = 5.0
_STALLED_CLIENT_S: Final = 30.0


_encode: Final = msgspec.json.Encoder().encode
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class ReplayStatus:
    """Where the replay is (``GET /replay/status``)."""

    speed: float | None
    """Times the recorded pace; None: as fast as it goes (``"max"`` in JSON)."""
    paused: bool
    records: int = 0
    """Records replayed (before ``start`` included)."""
    event_id: str | None = None
    """The last record replayed."""
    recv_wall_ns: int | None = None
    """When the recording client received the last record replayed: the replay clock."""
    venue_ts_ms: int | None = None
    """The venue's time in the last frame replayed that carried one."""
    done: bool = False
    """The tape has ended: the final books are served from now on."""
    error: str | None = None
    """Why the replay stopped early (a damaged record), if it did."""
    subscribers: int = 0
    frames_sent: int = 0
    books_sent: int = 0
    """``book`` events built from the replayed state (on subscribing, at recorded REST snapshots)."""
    frames_not_served: int = 0
    """Recorded frames that did not decode (the recording client refused them too)."""
    invalid_client_messages: int = 0
    slow_clients_cut: int = 0

    def as_json(self) -> dict[str, object]:
        document = asdict(self)
        document["speed"] = "max" if self.speed is None else self.speed
        return document


class _Subscriber:
    """One client socket: its subscription and a bounded send queue drained by its own task."""

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, status: ReplayStatus) -> None:
        self.ws = ws
        self.subscription = MarketSubscription()
        self._transport = request.transport
        self._status = status
        self._queue: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue(maxsize=SEND_QUEUE_LIMIT)
        self._sender = asyncio.create_task(self._send(), name="replay server sender")
        self._closer: asyncio.Task[None] | None = None
        self.has_room = asyncio.Event()
        self.has_room.set()
        self.closing = False

    def enqueue(self, frame: bytes, *, data: bool = True) -> None:
        if self.closing:
            return
        try:
            self._queue.put_nowait((frame, data))
            if self._queue.qsize() >= _HAS_ROOM_BELOW:
                self.has_room.clear()
        except asyncio.QueueFull:
            self.cut_off()

    def cut_off(self) -> None:
        """End a client that reads too slowly: a close handshake would wait on the very client that
        does not read, so the connection is aborted."""
        self._status.slow_clients_cut += 1
        _log.warning("cutting off a replay client that reads too slowly (%d frames queued)", self._queue.qsize())
        self._end()
        if self._transport is not None:
            self._transport.abort()

    def _end(self) -> None:
        self.closing = True
        self.has_room.set()  # nothing waits on a client that is going

    def close_soon(self, code: WSCloseCode, reason: str) -> None:
        if not self.closing:
            self._end()
            self._closer = asyncio.create_task(self.close(code, reason), name="replay server close")

    async def close(self, code: WSCloseCode, reason: str) -> None:
        self._end()
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self.ws.close(code=code, message=reason.encode())

    async def stop(self) -> None:
        self._end()
        self._sender.cancel()
        await asyncio.gather(self._sender, return_exceptions=True)
        if self._closer is not None:
            await self._closer

    async def _send(self) -> None:
        with contextlib.suppress(ConnectionError):
            while not self.closing:
                frame, data = await self._queue.get()
                if self._queue.qsize() < _HAS_ROOM_BELOW:
                    self.has_room.set()
                await self.ws.send_frame(frame, WSMsgType.TEXT)
                if data:
                    self._status.frames_sent += 1


class ReplayServer(TapeServer):
    """The recording in ``sink`` served on one port; run it with ``async with`` (or :meth:`start`
    and :meth:`stop`), then read :attr:`urls` and :attr:`status`.

    ``keys`` limits the tokens replayed (None: all). ``paused`` holds the replay at ``start_wall_ns``
    (the beginning by default) until :meth:`resume` or ``POST /replay/resume``, so clients can
    subscribe first.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float | None = None,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        keys: Collection[str] | None = None,
        paused: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            "replay server", speed=speed, start_wall_ns=start_wall_ns, paused=paused, clock=clock, sleep=sleep
        )
        self._tape = ServedTape(Replay(sink, end_wall_ns=end_wall_ns, keys=keys))
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self.status = ReplayStatus(speed=speed, paused=paused)
        self._subscribers: set[_Subscriber] = set()
        self._request_decoder: JsonDecoder[MarketChannelRequest] = JsonDecoder(
            MarketChannelRequest, what="market-channel message"
        )
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[_venue_error_shape], client_max_size=_MAX_BODY_BYTES)
        self.app.add_routes(
            [
                web.get("/ws/market", self._market_channel),
                web.get("/book", self._book),
                web.post("/books", self._books),
                web.get("/books", self._all_books),
                web.get("/replay/status", self._status),
                web.post("/replay/pause", self._pause),
                web.post("/replay/resume", self._resume),
            ]
        )
        self.app.on_shutdown.append(self._close_sockets)

    # --- running ----------------------------------------------------------------------------------

    @property
    def urls(self) -> dict[str, str]:
        """``{"rest": "http://host:port", "ws_market": "ws://…/ws/market", "status": "http://…/replay/status"}``."""
        if self._port is None:
            raise InvalidValueError("the replay server is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        authority = f"{host}:{self._port}"
        return {
            "rest": f"http://{authority}",
            "ws_market": f"ws://{authority}/ws/market",
            "status": f"http://{authority}/replay/status",
        }

    async def _prepare(self) -> None:
        """Nothing: every token's book comes from the tape as it plays."""

    async def _open(self) -> None:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=_CLOSE_TIMEOUT_S + 1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        _log.info("replay server listening on %s", self.urls["rest"])

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._port = None

    def pause(self) -> None:
        super().pause()
        self.status.paused = True

    def resume(self) -> None:
        self.status.paused = False
        super().resume()

    # --- the tape ---------------------------------------------------------------------------------

    def _records(self) -> AsyncIterator[Record]:
        return self._tape.replay.records()

    def _apply(self, record: Record, *, warming: bool) -> None:
        frame, resnapshotted = self._tape.apply(record)
        self._advance(record)
        if warming:
            return
        if frame is not None:
            self._fan_out(frame)
        if resnapshotted:
            self._send_books(resnapshotted, self._subscribers)

    async def _room(self) -> None:
        for subscriber in list(self._subscribers):
            await _room_in(subscriber)

    def _ended(self, error: str | None) -> None:
        self.status.error = error
        self.status.frames_not_served = self._tape.frames_not_served
        self.status.done = True

    def _advance(self, record: Record) -> None:
        status = self.status
        status.records += 1
        status.event_id = record.event_id
        status.recv_wall_ns = record.recv_wall_ns
        if record.venue_ts_ms is not None:
            status.venue_ts_ms = record.venue_ts_ms
        status.frames_not_served = self._tape.frames_not_served

    def _fan_out(self, frame: ServedFrame) -> None:
        for subscriber in self._subscribers:
            wanted = [event for event in frame.events if subscriber.subscription.wants(event)]
            if wanted:
                subscriber.enqueue(frame.payload_of(wanted))

    def _send_books(self, tokens: Iterable[str], subscribers: Iterable[_Subscriber]) -> None:
        tape = self._tape
        known = [token for token in tokens if tape.known(token)]
        for subscriber in subscribers:
            books = [tape.book_event(token) for token in known if token in subscriber.subscription.assets]
            if books:
                subscriber.enqueue(_encode(books))
                self.status.books_sent += len(books)

    # --- the market channel -----------------------------------------------------------------------

    async def _market_channel(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=MAX_CLIENT_FRAME_BYTES, timeout=_CLOSE_TIMEOUT_S)
        await ws.prepare(request)
        subscriber = _Subscriber(ws, request, self.status)
        self._subscribers.add(subscriber)
        self.status.subscribers += 1
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    if message.data == PING:
                        subscriber.enqueue(PONG.encode(), data=False)
                    else:
                        self._on_client_text(subscriber, message.data)
                elif message.type is WSMsgType.ERROR:
                    break
        finally:
            self._subscribers.discard(subscriber)
            self.status.subscribers -= 1
            await subscriber.stop()
        return ws

    def _on_client_text(self, subscriber: _Subscriber, text: str) -> None:
        try:
            request = self._request_decoder.decode(text)
        except MalformedMessageError:
            self._invalid(text)
            return
        subscription = subscriber.subscription
        operation = request.what()
        if operation is RequestOperation.SUBSCRIBE:
            added = subscription.added_by(request)
            if self._over_limit(subscriber, len(request.assets_ids), len(subscription.assets) + len(added)):
                return
            subscription.subscribe(request, added)
            if request.initial_dump:
                # Queued before any await, so no replayed frame can come between the books and what follows.
                self._send_books(added, [subscriber])
        elif operation is RequestOperation.UNSUBSCRIBE:
            if not self._over_limit(subscriber, len(request.assets_ids), len(subscription.assets)):
                subscription.unsubscribe(request)
        else:
            self._invalid(text)

    def _invalid(self, text: str) -> None:
        # The venue's answer to a bad message is undocumented; ignored and counted, as the emulator does.
        self.status.invalid_client_messages += 1
        _log.info("replay server: ignoring an invalid client message %.200r", text)

    def _over_limit(self, subscriber: _Subscriber, in_message: int, subscribed: int) -> bool:
        if in_message <= MAX_IDS_PER_MESSAGE and subscribed <= MAX_IDS_PER_SOCKET:
            return False
        subscriber.close_soon(WSCloseCode.POLICY_VIOLATION, "too many ids")
        return True

    async def _close_sockets(self, app: web.Application) -> None:
        await asyncio.gather(
            *(subscriber.close(WSCloseCode.GOING_AWAY, "replay server stopping") for subscriber in self._subscribers)
        )

    # --- REST -------------------------------------------------------------------------------------

    async def _book(self, request: web.Request) -> web.Response:
        token = requested_token(request.query.get("token_id"))
        if not self._tape.known(token):
            raise ApiError(NO_ORDERBOOK, status=HTTPStatus.NOT_FOUND, token_id=token)
        return _json(self._tape.summary(token))

    async def _books(self, request: web.Request) -> web.Response:
        items = requested_batch(await request.read())
        # As the emulator: the tokens that have a book are answered, the others left out.
        tape = self._tape
        return _json(
            [tape.summary(token) for token in dict.fromkeys(item.token_id for item in items) if tape.known(token)]
        )

    async def _all_books(self, request: web.Request) -> web.Response:
        tape = self._tape
        return _json([tape.summary(token) for token in tape.tokens()])

    async def _status(self, request: web.Request) -> web.Response:
        return _json(self.status.as_json())

    async def _pause(self, request: web.Request) -> web.Response:
        self.pause()
        return _json(self.status.as_json())

    async def _resume(self, request: web.Request) -> web.Response:
        self.resume()
        return _json(self.status.as_json())


async def _room_in(subscriber: _Subscriber) -> None:
    """Until the subscriber's queue has room; one that takes nothing for :data:`_STALLED_CLIENT_S`
    is cut off rather than holding the replay for everyone."""
    try:
        async with asyncio.timeout(_STALLED_CLIENT_S):
            await subscriber.has_room.wait()
    except TimeoutError:
        subscriber.cut_off()


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), status=status, content_type="application/json")


@web.middleware
async def _venue_error_shape(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Every refusal as the venue's ``{"error": ...}``: ours, and aiohttp's own (no route, wrong
    method, a body over the limit)."""
    try:
        return await handler(request)
    except ApiError as error:
        return _json(ErrorBody(error=error.message), status=error.status)
    except web.HTTPException as exc:
        if exc.status < HTTPStatus.BAD_REQUEST:
            raise
        return _json(ErrorBody(error=exc.reason), status=exc.status)
