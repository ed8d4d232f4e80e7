"""The US replay server: a US exchange market-data tape (source ``us``, channel ``marketdata``) served over
the venue's gRPC API, so any client (:class:`~polyinfra.us.live_books.UsLiveBooks`, ``grpcurl``, a user's
bot) consumes it as if it were live.

It is the emulator's gRPC server (:class:`~polyinfra.emulator.us.grpc_server.UsGrpcServer`: reflection,
health) and its ``MarketDataSubscriptionAPI`` (:class:`~polyinfra.emulator.us.market_data.MarketDataService`:
both RPCs, acknowledgements and subscription errors, heartbeats, the stream limits) over the tape's books
instead of the emulator's market:

* **Reference data** (``ListInstruments``, ``ListSymbols``) lists every instrument the tape subscribed,
  read from its ``subscribed`` records before the port opens (:meth:`TapeInstrument.listed
  <polyinfra.record.us_subscription.TapeInstrument.listed>`: scales and tick as recorded, state OPEN).
* **Updates.** The tape is replayed through :class:`~polyinfra.record.us_replay.UsReplay`; each update it
  applied goes, as recorded (the venue's message and time, cut to the subscriber's depth when that is
  smaller), to every stream subscribed to its symbol, in tape order. A subscriber that subscribes a symbol
  gets its latest recorded update at once, and then the ones that follow. Updates the recording refused
  are not served.
* **Drops as the recording lived them.** A recorded ``connection lost`` ends, with UNAVAILABLE, every
  served stream subscribed to a symbol the recording lost there, and until the recording's next session
  brought that symbol's snapshot there is nothing to send for it: a subscriber reconnecting meanwhile hears
  only heartbeats, then the snapshot when the tape reaches it.
* **No authentication**: a local replay checks no token, whatever a client sends.

Played as every replay server plays (:class:`~polyinfra.record.tape_server.TapeServer`): ``speed`` times
the recorded pace (:class:`~polyinfra.record.pacing.Pacer`, injected clock and sleep) or, with None, as fast
as the subscribers take it (before each record the tape waits until every stream has written what it was
given; a stream that takes nothing for 30 s is cut off as a slow consumer). ``start_wall_ns`` replays the
tape up to it before the port opens; ``end_wall_ns`` ends it early; ``paused`` holds it at the start until
:meth:`~polyinfra.record.tape_server.TapeServer.resume`. At the end of the tape (or at a damaged record:
:attr:`UsReplayStatus.error`) the final books stay served and the streams stay open, heartbeats only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError

from polyinfra.core.us_instruments import UsInstrument
from polyinfra.emulator.us.grpc_server import UsGrpcServer
from polyinfra.emulator.us.market_data import MarketDataService
from polyinfra.emulator.us.market_data_faults import DEFAULT_HEARTBEAT_INTERVAL_S, UsMarketDataFaults
from polyinfra.errors import CorruptRecordError, InvalidValueError
from polyinfra.model.events import BookUpdated, SyncState, SyncStateChanged
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sink import Sink
from polyinfra.record.tape_server import TapeServer
from polyinfra.record.us_replay import US_CHANNEL, US_SOURCE, UsReplay
from polyinfra.record.us_subscription import decode_subscription
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

__all__ = ["TapeBooks", "UsReplayServer", "UsReplayStatus", "tape_instruments"]

_log = logging.getLogger(__name__)

_STALLED_STREAM_S: Final = 30.0
_parse_response: Final = md.BiDirectionalStreamMarketDataResponse.FromString


@dataclass(slots=True)
class UsReplayStatus:
    """Where the US replay is."""

    records: int = 0
    """Records replayed (before ``start`` included)."""
    event_id: str | None = None
    """The last record replayed."""
    recv_wall_ns: int | None = None
    """When the recording client received the last record replayed: the replay clock."""
    updates: int = 0
    """Recorded updates handed to the streams."""
    drops: int = 0
    """Recorded stream losses played."""
    streams_ended: int = 0
    """Served streams those losses ended (UNAVAILABLE)."""
    done: bool = False
    """The tape has ended: the final books are served from now on."""
    error: str | None = None
    """Why the replay stopped early (a damaged record), if it did."""


async def tape_instruments(
    sink: Sink, *, end_wall_ns: int | None = None, keys: Collection[str] | None = None
) -> list[UsInstrument]:
    """Every instrument the US tape in ``sink`` subscribed (to ``end_wall_ns``; only ``keys`` when given), as
    reference data lists it; a symbol subscribed more than once is listed as last recorded.
    :class:`CorruptRecordError` for a ``subscribed`` record that cannot have been written by the live client."""
    wanted = None if keys is None else frozenset(keys)
    listed: dict[str, UsInstrument] = {}
    subscriptions = sink.read(
        end_wall_ns=end_wall_ns, kinds={RecordKind.SUBSCRIBED}, source_channel=(US_SOURCE, US_CHANNEL)
    )
    async for record in subscriptions:
        for instrument in decode_subscription(record).instruments:
            if wanted is None or instrument.symbol in wanted:
                listed[instrument.symbol] = instrument.listed()
    return list(listed.values())


class TapeBooks:
    """The tape's books as the market-data service serves them: each symbol's latest recorded update while
    the recording's book of it was LIVE (a :class:`~polyinfra.emulator.us.market_data.ServedBooks`)."""

    def __init__(self, replay: UsReplay, instruments: Sequence[UsInstrument]) -> None:
        self._replay = replay
        self._instruments = {instrument.symbol: instrument for instrument in instruments}
        self._latest: dict[str, md.MarketDataUpdate] = {}
        self._listeners: dict[int, Callable[[str], None]] = {}
        self._listener_ids = itertools.count()
        self._session_id: str | None = None

    @property
    def instruments(self) -> Sequence[UsInstrument]:
        return list(self._instruments.values())

    def instrument(self, symbol: str) -> UsInstrument | None:
        return self._instruments.get(symbol)

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        listener_id = next(self._listener_ids)
        self._listeners[listener_id] = listener

        def remove() -> None:
            self._listeners.pop(listener_id, None)

        return remove

    def update(self, symbol: str, depth: int, *, unaggregated: bool) -> md.MarketDataUpdate | None:
        # Served as recorded: the recording's aggregation, its depth unless the subscriber asked for less.
        update = self._latest.get(symbol)
        if update is None or (len(update.bids) <= depth and len(update.offers) <= depth):
            return update
        cut = md.MarketDataUpdate()
        cut.CopyFrom(update)
        del cut.bids[depth:]
        del cut.offers[depth:]
        return cut

    def apply(self, record: Record) -> tuple[int, list[str]]:
        """Replay one record: the updates it brought (told to the listeners) and the symbols whose recorded
        stream it lost."""
        if record.session_id != self._session_id:
            # A new recording session started from empty books (UsReplay clears its own alike).
            self._session_id = record.session_id
            self._latest.clear()
        updated: list[str] = []
        lost: list[str] = []
        for event in self._replay.apply(record):
            if isinstance(event, BookUpdated):
                self._latest[event.token_id] = _recorded_update(record)
                updated.append(event.token_id)
            elif isinstance(event, SyncStateChanged) and event.new is not SyncState.LIVE:
                # Nothing to send for it until the recording's book is LIVE again.
                self._latest.pop(event.token_id, None)
                if record.kind is RecordKind.CONNECTION_LOST:
                    lost.append(event.token_id)
        if record.kind is RecordKind.UNSUBSCRIBED:
            states = self._replay.states
            for symbol in [symbol for symbol in self._latest if symbol not in states]:
                del self._latest[symbol]
        for symbol in updated:
            for listener in list(self._listeners.values()):
                listener(symbol)
        return len(updated), lost


def _recorded_update(record: Record) -> md.MarketDataUpdate:
    try:
        return _parse_response(record.payload).update
    except DecodeError:
        # UsReplay read it the lean way; the generated class checks more (text fields' UTF-8).
        raise CorruptRecordError("a recorded US update does not parse", event_id=record.event_id[:100]) from None


class UsReplayServer(TapeServer):
    """The US tape in ``sink`` served over gRPC on ``host:port`` (0: a free port); run it with ``async with``
    (or :meth:`start` and :meth:`stop`), then point a client at :attr:`target` (plaintext, no token) and read
    :attr:`status`.

    ``keys`` limits the symbols served (None: all); ``paused`` holds the tape at its start until
    :meth:`resume`; ``heartbeat_interval_s`` is how often a stream with nothing else to say sends a heartbeat.
    See the module docstring for the rest.
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
        heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            "US replay server", speed=speed, start_wall_ns=start_wall_ns, paused=paused, clock=clock, sleep=sleep
        )
        self._sink = sink
        self._replay = UsReplay(sink, end_wall_ns=end_wall_ns, keys=keys)
        self._keys = keys
        self._end_wall_ns = end_wall_ns
        self._host = host
        self._requested_port = port
        self._faults = UsMarketDataFaults(heartbeat_interval_s=heartbeat_interval_s)
        self.status = UsReplayStatus()
        self._books: TapeBooks | None = None
        self._service: MarketDataService | None = None
        self._grpc: UsGrpcServer | None = None

    @property
    def target(self) -> str:
        """``host:port`` to connect to (insecure)."""
        port = None if self._grpc is None else self._grpc.port
        if port is None:
            raise InvalidValueError("the US replay server is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{port}"

    @property
    def open_streams(self) -> int:
        """Market-data streams being served now."""
        return 0 if self._service is None else self._service.open_streams

    async def _prepare(self) -> None:
        # Reference data must answer before the first update is played: clients list instruments first.
        instruments = await tape_instruments(self._sink, end_wall_ns=self._end_wall_ns, keys=self._keys)
        self._books = TapeBooks(self._replay, instruments)
        self._service = MarketDataService(self._books, self._faults)
        self._grpc = UsGrpcServer(instruments, market_data=self._service)

    async def _open(self) -> None:
        assert self._grpc is not None  # made by _prepare()
        await self._grpc.start(self._host, self._requested_port)
        _log.info("US replay server listening on %s", self.target)

    async def _close(self) -> None:
        if self._grpc is not None:
            await self._grpc.stop()
        if self._service is not None:
            self._service.close()

    # --- the tape ---------------------------------------------------------------------------------

    def _records(self) -> AsyncIterator[Record]:
        return self._replay.records()

    def _apply(self, record: Record, *, warming: bool) -> None:
        books, service = self._books, self._service
        assert books is not None and service is not None  # made by _prepare()
        updates, lost = books.apply(record)
        status = self.status
        status.records += 1
        status.event_id = record.event_id
        status.recv_wall_ns = record.recv_wall_ns
        status.updates += updates
        if lost:
            status.drops += 1
            status.streams_ended += service.drop_holding(lost)

    async def _room(self) -> None:
        if self._service is not None:
            await self._service.written(_STALLED_STREAM_S)

    def _ended(self, error: str | None) -> None:
        self.status.error = error
        self.status.done = True
