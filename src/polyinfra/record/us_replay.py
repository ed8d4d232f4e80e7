"""Replay of a US exchange market-data tape (source ``us``, channel ``marketdata``) into the books
:class:`~polyinfra.us.live_books.UsLiveBooks` held while it recorded.

The same pure decoder as live: each recorded update is read through the lean messages of
:mod:`polyinfra.wire.us.market_data_lean` and :func:`~polyinfra.core.us_books.decode_update` with the
scales, tick, depth and aggregation the ``subscribed`` record kept (:mod:`polyinfra.record.us_subscription`),
then :func:`~polyinfra.core.us_books.replace_book` replaces the symbol's book, as live. Every US update is
the symbol's whole book, so there is no sequence to rebuild and no checkpoint to resume at: the book after
a record is the last valid update of its symbol's current stream session, or empty.

The per-symbol states follow live's rules, from the same records:

* ``subscribed`` on a stream: a new empty book, SYNCING; ``unsubscribed``: the book is dropped;
* an update for a symbol of the stream it came on: LIVE; one :func:`decode_update` refuses leaves the book
  as it was and the symbol STALE (``invalid value``), as live refused it;
* a subscription error ``INVALID_SYMBOL`` or ``NOT_SUBSCRIBED``: the symbols it names STALE;
* ``connection lost``: every symbol of the stream STALE, with the recorded reason (until the next session's
  snapshot of it).

Live decodes a LIVE book's updates lazily (when the book is read) and replay decodes each as it comes: the
books agree; only the moment a refused update turns its symbol STALE can differ. Frames of connection 0 are
the one-off ``snapshot()`` streams, apart from the live books: they are skipped.

Iterating (or :meth:`UsReplay.run`) can be paced at a multiple of the recorded pace
(:class:`~polyinfra.record.pacing.Pacer`, as the CLOB replay); :meth:`UsReplay.steps` never is.

Stored rows are hostile input like any: a record that cannot have been written by the live client (an
update that no longer parses, a subscription without its instruments, an event id without a connection)
is a :class:`~polyinfra.errors.CorruptRecordError`; nothing else escapes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from google.protobuf.message import DecodeError

from polyinfra.core.book_sync import SyncReason
from polyinfra.core.us_books import BookScales, decode_update, replace_book, tick_size_of
from polyinfra.errors import CorruptRecordError, MalformedMessageError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent, BookUpdated, SyncState, SyncStateChanged
from polyinfra.record.pacing import Pacer
from polyinfra.record.records import NO_CONNECTION, Record, RecordKind, connection_number, decode_stored
from polyinfra.record.sink import Sink
from polyinfra.record.us_subscription import decode_subscription
from polyinfra.wire.json_decoding import JsonDecoder
from polyinfra.wire.us.market_data_lean import LeanResponse
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

__all__ = ["US_CHANNEL", "US_SOURCE", "UsReplay", "UsReplayStats"]

US_SOURCE: Final = "us"
US_CHANNEL: Final = "marketdata"
_REPLAYED_KINDS: Final = frozenset(
    {
        RecordKind.FRAME_RECEIVED,
        RecordKind.SUBSCRIBED,
        RecordKind.UNSUBSCRIBED,
        RecordKind.CONNECTION_LOST,
    }
)
# Subscription errors that leave a symbol without data, as live reads them.
_UNSERVED_ERRORS: Final = frozenset({"INVALID_SYMBOL", "NOT_SUBSCRIBED"})
_MAX_REASON_CHARS: Final = 64
_parse_lean: Final = LeanResponse.FromString
_parse_response: Final = md.BiDirectionalStreamMarketDataResponse.FromString


class _Lost(msgspec.Struct):
    reason: str = SyncReason.DISCONNECTED


class _Unsubscribed(msgspec.Struct):
    token_ids: list[str] = []


_decode_lost: Final[JsonDecoder[_Lost]] = JsonDecoder(_Lost, what="recorded US connection loss")
_decode_unsubscribed: Final[JsonDecoder[_Unsubscribed]] = JsonDecoder(_Unsubscribed, what="recorded US unsubscribe")


@dataclass(slots=True)
class UsReplayStats:
    """What a US replay went through."""

    records: int = 0
    frames: int = 0
    updates: int = 0
    """Updates applied to a book."""
    invalid_updates: int = 0
    """Updates the decoder refused (live refused them too)."""
    malformed_frames: int = 0
    """Frames that did not parse (live ended their session for it)."""


@dataclass(slots=True)
class _Symbol:
    """How one subscribed symbol's updates are decoded, and on which stream they count."""

    stream: int
    scales: BookScales
    depth: int
    unaggregated: bool


class UsReplay:
    """The US market-data tape in ``sink`` replayed; iterate it (``async for event in replay``) for the
    domain events (:class:`~polyinfra.model.events.BookUpdated` with the symbol as ``token_id``, and
    :class:`~polyinfra.model.events.SyncStateChanged`), or :meth:`run` it, then read :attr:`books`.

    ``keys`` limits the books rebuilt to those symbols (None: all); records are read up to
    ``end_wall_ns`` and events yielded from ``start_wall_ns`` (the books before it are rebuilt).
    ``speed`` (None: as fast as possible) paces the iteration at that multiple of the recorded pace,
    against ``clock`` (seconds) and ``sleep``, injected so that tests never wait.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        keys: Collection[str] | None = None,
        speed: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pace = None if speed is None else Pacer(speed, clock=clock, sleep=sleep)
        self._sink = sink
        self._start_wall_ns = start_wall_ns
        self._end_wall_ns = end_wall_ns
        self._keys = None if keys is None else frozenset(keys)
        self._session_id: str | None = None
        self._books: dict[str, OrderBook] = {}
        self._states: dict[str, SyncState] = {}
        self._symbols: dict[str, _Symbol] = {}
        self._events: list[BookEvent] = []
        self.stats = UsReplayStats()

    @property
    def books(self) -> Mapping[str, OrderBook]:
        """The replayed books, by symbol (after iteration: the final ones)."""
        return self._books

    @property
    def states(self) -> Mapping[str, SyncState]:
        return self._states

    async def __aiter__(self) -> AsyncIterator[BookEvent]:
        start_ns = self._start_wall_ns
        pace = self._pace
        async for record in self.records():
            if pace is not None:
                await pace.wait_for(record)
            events = self.apply(record)
            if events and (start_ns is None or record.recv_wall_ns >= start_ns):
                for event in events:
                    yield event

    async def run(self) -> UsReplayStats:
        """Replay to the end (paced when ``speed`` says so); the books are in :attr:`books`."""
        async for _ in self:
            pass
        return self.stats

    async def steps(self) -> AsyncIterator[tuple[Record, list[BookEvent]]]:
        """Each replayed record with the domain events it made, while :attr:`books` are as right after
        it, unpaced: for consumers that read the books record by record (``polyinfra export``)."""
        async for record in self.records():
            yield record, self.apply(record)

    async def records(self) -> AsyncIterator[Record]:
        """The US records to replay, unapplied and unpaced, for a consumer that decides when each is due
        and then calls :meth:`apply` on it, in order (the US replay server)."""
        chunks = self._sink.read_chunks(
            end_wall_ns=self._end_wall_ns, kinds=_REPLAYED_KINDS, source_channel=(US_SOURCE, US_CHANNEL)
        )
        async for chunk in chunks:
            for record in chunk:
                yield record

    def apply(self, record: Record) -> list[BookEvent]:
        """Replay one US market-data record; the domain events it made."""
        if record.session_id != self._session_id:
            # Each recording session started from empty books.
            self._session_id = record.session_id
            self._books.clear()
            self._states.clear()
            self._symbols.clear()
        self.stats.records += 1
        kind = record.kind
        if kind is RecordKind.FRAME_RECEIVED:
            self._frame(record)
        elif kind is RecordKind.SUBSCRIBED:
            self._subscribed(record)
        elif kind is RecordKind.UNSUBSCRIBED:
            self._unsubscribed(record)
        elif kind is RecordKind.CONNECTION_LOST:
            self._lost(record)
        events, self._events = self._events, []
        return events

    # --- one record -------------------------------------------------------------------------------

    def _subscribed(self, record: Record) -> None:
        subscription = decode_subscription(record)
        stream = connection_number(record.event_id)
        keys = self._keys
        for instrument in subscription.instruments:
            symbol = instrument.symbol
            if keys is not None and symbol not in keys:
                continue
            self._symbols[symbol] = _Symbol(
                stream, instrument.scales(), subscription.depth or 0, subscription.unaggregated
            )
            self._books[symbol] = OrderBook(symbol, tick_size=tick_size_of(instrument.tick_size))
            self._states[symbol] = SyncState.SYNCING
            self._events.append(
                SyncStateChanged(
                    symbol, SyncState.SYNCING, SyncState.SYNCING, SyncReason.SUBSCRIBED, record.recv_wall_ns
                )
            )

    def _unsubscribed(self, record: Record) -> None:
        details = decode_stored(_decode_unsubscribed, record, "a recorded US unsubscribe does not decode")
        for symbol in details.token_ids:
            if self._symbols.pop(symbol, None) is not None:
                del self._books[symbol]
                del self._states[symbol]

    def _lost(self, record: Record) -> None:
        lost = decode_stored(_decode_lost, record, "a recorded US connection loss does not decode")
        reason = lost.reason[:_MAX_REASON_CHARS]
        stream = connection_number(record.event_id)
        self._mark_stale([symbol for symbol, known in self._symbols.items() if known.stream == stream], reason, record)

    def _frame(self, record: Record) -> None:
        stream = connection_number(record.event_id)
        if stream == NO_CONNECTION:
            return  # a snapshot-only stream's: apart from the live books
        self.stats.frames += 1
        symbol = record.key
        if not symbol:
            self._control(record, stream)
            return
        known = self._symbols.get(symbol)
        if known is None or known.stream != stream:
            return  # another symbol's (keys), or in flight after an unsubscribe: as live, nothing to do
        try:
            update = _parse_lean(record.payload).update
        except DecodeError:
            # Live stored it under its symbol only once it had parsed: the stored copy is damaged.
            raise CorruptRecordError("a recorded US update does not parse", event_id=record.event_id[:100]) from None
        if update.symbol != symbol:
            raise CorruptRecordError(
                "a recorded US update is stored under another symbol", event_id=record.event_id[:100]
            )
        try:
            image = decode_update(update, known.scales, depth=known.depth, unaggregated=known.unaggregated)
        except MalformedMessageError:
            self.stats.invalid_updates += 1
            self._mark_stale([symbol], SyncReason.INVALID_VALUE, record)
            return
        self.stats.updates += 1
        venue_ms = replace_book(self._books[symbol], image)
        old = self._states[symbol]
        snapshot = old is not SyncState.LIVE
        if snapshot:
            self._states[symbol] = SyncState.LIVE
            self._events.append(SyncStateChanged(symbol, old, SyncState.LIVE, SyncReason.SNAPSHOT, record.recv_wall_ns))
        # The first update of a session is a snapshot; later ones, each a whole book too, are told as changes
        # (consumers such as the export then write only the levels that moved).
        self._events.append(BookUpdated(symbol, "", venue_ms, record.recv_wall_ns, snapshot=snapshot))

    def _control(self, record: Record, stream: int) -> None:
        """A message without a book: a heartbeat, an acknowledgement, a subscription error, or one that did
        not parse (its session ended; the ``connection lost`` record that follows says so)."""
        try:
            response: Any = _parse_response(record.payload)
        except DecodeError:
            self.stats.malformed_frames += 1
            return
        if response.WhichOneof("event") != "subscription_error":
            return
        error = response.subscription_error
        code = error.error_code[:_MAX_REASON_CHARS]
        if code in _UNSERVED_ERRORS:
            symbols = [
                s for s in error.symbols if (known := self._symbols.get(s)) is not None and known.stream == stream
            ]
            self._mark_stale(symbols, code.lower(), record)

    def _mark_stale(self, symbols: list[str], reason: str, record: Record) -> None:
        for symbol in symbols:
            old = self._states[symbol]
            if old is not SyncState.STALE:
                self._states[symbol] = SyncState.STALE
                self._events.append(SyncStateChanged(symbol, old, SyncState.STALE, reason, record.recv_wall_ns))
