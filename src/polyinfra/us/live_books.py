"""Live order books of the US exchange: ``MarketDataSubscriptionAPI`` streams into exact books.

    async with UsLiveBooks("grpc-api.prod.polymarketexchange.com:443", tokens=token_manager) as books:
        await books.subscribe(["tec-nfl-sbw-2026-02-08-kc"])
        await books.wait_until_live()
        print(books.book("tec-nfl-sbw-2026-02-08-kc").best_bid())

:class:`UsLiveBooks` is the I/O shell around :mod:`polyinfra.core.us_books`:

* **Books.** Each symbol's book is an :class:`~polyinfra.model.book.OrderBook` (every analytics method of
  the CLOB books works on it) with exact Decimal prices and sizes from the instrument's scales, fetched
  through ``ListInstruments`` when a symbol is first subscribed (an unknown symbol is
  :class:`~polyinfra.errors.GrpcNotFoundError` before anything is opened). Every update replaces the
  symbol's book to the subscribed depth (venue notes: US exchange market data); with ``unaggregated`` the
  venue lists raw orders, summed into levels here. Updates are read through the lean messages of
  :mod:`polyinfra.wire.us.market_data_lean` and a level already seen costs a lookup (see
  :func:`~polyinfra.core.us_books.decode_update`): no object is made per level.
* **Streams.** Symbols are sharded over ``BiDirectionalStreamMarketData`` streams, ``symbols_per_stream``
  each (at most the venue's 1,000); new symbols fill streams with room, then new streams open, and running
  streams subscribe and unsubscribe at run time without reconnecting. ``stream_budget`` is the share of the
  firm's 20 pooled streams this client may hold: a subscription that would need more is refused with
  :class:`~polyinfra.errors.StreamBudgetExceededError` before anything changes.
* **Healing.** A stream that sent nothing (no update, no heartbeat) for ``silence_timeout_s`` (180 s, the
  venue's advice) is cancelled, whatever its socket says, and every stream that ends is opened again after
  a jittered backoff from ``reconnect_initial_s`` doubling to ``reconnect_max_s`` (1 s to 30 s, the venue's
  reference schedule), reset by the first message of a session. A new session subscribes all its symbols
  again and so gets a fresh snapshot of each. A bidirectional stream also sends a keepalive every
  ``keepalive_interval_s``: the venue's load balancer ends client-silent streams after an hour.
* **State per symbol**, as :class:`~polyinfra.model.events.SyncState`: SYNCING until the stream's first
  update for it, LIVE after, STALE when its stream ended or went silent, or an update for it could not be
  used (that symbol is then subscribed again on the same stream, which brings a fresh snapshot).
* **Decoded when read.** Each update is the symbol's whole book, so only the latest matters: while
  nobody consumes :meth:`events` or listens, an update of a LIVE book is kept as received, found by the
  symbol its first bytes carry (:func:`~polyinfra.wire.us.market_data_lean.update_symbol`; a message of
  another layout is parsed the lean way first), and parsed and decoded when :meth:`book` is next called,
  once however many updates came meanwhile. A stream of 1,000 symbols then costs about a parse per
  update, and a book read costs one decode. With a consumer, every update is decoded as it comes (the
  consumer reads it). The first update of a session is always decoded at once: a book turns LIVE only on
  a valid snapshot.
* **Hostile input.** A message that does not parse on arrival ends its session (a reconnect brings fresh
  snapshots). An update that holds what no book holds, or a kept one that proves not to parse or to be
  another symbol's (a later ``symbol`` field wins in protobuf) when it is read, is refused by
  :func:`~polyinfra.core.us_books.decode_update` or the read: that book stays as it was and its symbol is
  STALE until subscribing it again brings a fresh snapshot. Both are counted and logged without their bytes.
* **Delivery** like :class:`~polyinfra.clob.live_books.LiveBooks`: :meth:`events` iterators with bounded
  queues and :meth:`add_listener` callbacks receive :class:`~polyinfra.model.events.BookUpdated` (its
  ``token_id`` is the symbol) and :class:`~polyinfra.model.events.SyncStateChanged`.
* **Recording.** With ``recorder=``, every message received is stored as it came (source ``us``, channel
  ``marketdata``, keyed by symbol), every request sent, the streams' lifecycle and the state changes; a
  subscription's record carries its instruments' scales and ticks, so a tape replays without reference data
  (:mod:`polyinfra.record.us_replay`).

**Authentication.** With ``tokens`` (a :class:`~polyinfra.us.token_manager.TokenManager`), each stream
session opens with the current token and keeps running while tokens are refreshed: the venue checks a
stream's token when it opens, never again (venue notes: US exchange token endpoint). A session the venue
refuses ``UNAUTHENTICATED`` (a token that lapsed early, or during a reconnect) is opened again at once with
a replaced token, by the same rule as every unary call (:class:`~polyinfra.us.grpc_auth.CallAuth`): no
``UNAUTHENTICATED`` reaches the caller. What cannot be mended that way (a token that cannot be minted, a
missing scope: :class:`~polyinfra.errors.MissingScopeError` naming it) is :attr:`UsLiveBooks.stream_failure`,
logged, and tried again after the backoff. ``call_metadata`` (a coroutine function returning header pairs)
adds headers of the caller's own to every call. ``clock`` (seconds, monotonic) is what the silence rule
reads; tests pass one they move by hand.

Metrics: ``polyinfra_us_market_data_messages`` by event, ``polyinfra_us_market_data_reconnects`` by
reason, ``polyinfra_book_resyncs`` by reason and ``polyinfra_stale_books``, exported once per watchdog tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

import grpc
from google.protobuf.message import DecodeError

from polyinfra.core.backoff import Backoff
from polyinfra.core.book_sync import SyncReason
from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.core.us_books import (
    MAX_STREAMS_PER_FIRM,
    MAX_SYMBOLS_PER_STREAM,
    SILENCE_TIMEOUT_S,
    BookImage,
    BookScales,
    SilenceWatch,
    book_scales,
    checked_depth,
    checked_symbol,
    decode_update,
    plan_streams,
    replace_book,
    tick_size_of,
)
from polyinfra.core.us_instruments import UsInstrument
from polyinfra.errors import (
    InvalidValueError,
    MalformedMessageError,
    PolyinfraError,
    StreamBudgetExceededError,
    StreamClosedError,
)
from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent, BookUpdated, SyncState, SyncStateChanged
from polyinfra.net.event_stream import EventFanout
from polyinfra.net.grpc_channel import CallHeaders, CallMetadata, open_channel, rpc_error
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure, run_sessions
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import (
    BOOK_RESYNCS,
    STALE_BOOKS,
    US_MARKET_DATA_MESSAGES,
    US_MARKET_DATA_RECONNECTS,
    add_new_counts,
)
from polyinfra.record.records import NO_CONNECTION, RecordKind
from polyinfra.record.us_subscription import TapeInstrument
from polyinfra.us.client import ProtosChoice, UsExchangeClient
from polyinfra.us.grpc_auth import CallAuth
from polyinfra.us.market_data_shard import MarketDataShard, subscribe_request, unsubscribe_request
from polyinfra.us.token_manager import TokenManager
from polyinfra.wire.us.market_data_lean import LeanResponse, update_symbol
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder
    from polyinfra.record.tap import ChannelTap

__all__ = ["UsLiveBooks", "UsLiveBooksStats"]

_log = get_logger(__name__)

_METHOD: Final = "/polymarket.v1.MarketDataSubscriptionAPI/BiDirectionalStreamMarketData"
_RPC_NAME: Final = "MarketDataSubscriptionAPI/BiDirectionalStreamMarketData"
# The venue's load balancer ends a bidirectional stream whose client sent nothing for an hour
# (venue notes: US exchange market data); every 5 minutes leaves a wide margin at negligible cost.
KEEPALIVE_INTERVAL_S: Final = 300.0
_WAIT_POLL_S: Final = 0.05
_LIVE: Final = SyncState.LIVE
# Subscription errors that leave a symbol without data (ALREADY_SUBSCRIBED does not).
_UNSERVED_ERRORS: Final = frozenset({"INVALID_SYMBOL", "NOT_SUBSCRIBED"})
# A session ending so is the token's or the scope's fault, for the auth rule to act on.
_AUTH_REFUSALS: Final = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED})
_REQUEST_BYTES: Final = md.BiDirectionalStreamMarketDataRequest.SerializeToString
_parse_response: Final = md.BiDirectionalStreamMarketDataResponse.FromString
_SNAPSHOT_METHOD: Final = "/polymarket.v1.MarketDataSubscriptionAPI/CreateMarketDataSubscription"
_SNAPSHOT_RPC_NAME: Final = "MarketDataSubscriptionAPI/CreateMarketDataSubscription"
# Both response types carry the update at field 2: one lean reading serves the two RPCs.
_parse_lean: Final = LeanResponse.FromString


@dataclass(frozen=True, slots=True)
class UsLiveBooksStats:
    """Counters of a :class:`UsLiveBooks` since it was made (a snapshot; plain ints)."""

    messages: Mapping[str, int]
    """Messages received by event: update, heartbeat, subscription_ack, subscription_error, malformed."""
    invalid_updates: int
    """Updates refused by the decoder (their symbols were subscribed again)."""
    subscription_errors: Mapping[str, int]
    """``SubscriptionError`` answers by the venue's error code."""
    streams: int
    connected: int
    reconnects: int
    """Sessions opened after a stream's first."""
    silences_detected: int
    """Sessions cancelled because they sent nothing for the silence timeout."""
    keepalives_sent: int
    """``KeepAliveCommand`` requests sent on streams otherwise quiet for ``keepalive_interval_s``."""
    last_stream_error: str | None
    """Why the last session that failed ended (a typed error's text)."""
    events_delivered: int
    events_dropped: int
    listener_errors: int
    task_failures: Mapping[str, int]


class UsLiveBooks:
    """Books of many US exchange symbols, kept by market-data streams to ``target`` (``HOST:PORT``).

    ``insecure`` is for the emulator (the venue is TLS only). ``protos`` is how reference data is spoken, as
    for :class:`~polyinfra.us.client.UsExchangeClient` (the market-data messages are the venue's own
    numbers, so only reference data needs it). ``depth`` is the levels per side asked for
    (0: the venue's default, 10). ``unaggregated`` asks for raw orders instead of price levels: each update
    then lists up to ``depth`` resting orders per side (several at one price), summed here into the levels
    of the symbol's book, which the update still replaces whole. ``skip_to_head`` asks the venue to drop
    what a slow client missed and send the latest instead (each update is a whole book, so only
    intermediate states are lost); without it the venue disconnects a slow client and the stream
    reconnects with fresh snapshots. See the module docstring for the rest. Every error raised is a
    :class:`~polyinfra.errors.PolyinfraError`; stream failures are retried, logged and counted, never raised.
    """

    def __init__(
        self,
        target: str,
        *,
        insecure: bool = False,
        tokens: TokenManager | None = None,
        call_metadata: CallMetadata | None = None,
        protos: ProtosChoice = None,
        depth: int = 0,
        unaggregated: bool = False,
        skip_to_head: bool = False,
        symbols_per_stream: int = MAX_SYMBOLS_PER_STREAM,
        stream_budget: int = MAX_STREAMS_PER_FIRM,
        silence_timeout_s: float = SILENCE_TIMEOUT_S,
        keepalive_interval_s: float = KEEPALIVE_INTERVAL_S,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        queue_size: int = 10_000,
        recorder: Recorder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._depth = checked_depth(depth)
        self._unaggregated = unaggregated
        self._skip_to_head = skip_to_head
        if not 0 < symbols_per_stream <= MAX_SYMBOLS_PER_STREAM:
            raise InvalidValueError(
                f"symbols_per_stream must be 1 to {MAX_SYMBOLS_PER_STREAM}", symbols_per_stream=symbols_per_stream
            )
        self._per_stream = symbols_per_stream
        self._budget = positive_int("stream_budget", stream_budget)
        self._silence_timeout_s = positive_number("silence_timeout_s", silence_timeout_s)
        self._keepalive_interval_s = positive_number("keepalive_interval_s", keepalive_interval_s)
        self._reconnect_initial_s = positive_number("reconnect_initial_s", reconnect_initial_s)
        self._reconnect_max_s = positive_number("reconnect_max_s", reconnect_max_s)
        self._queue_size = positive_int("queue_size", queue_size)
        self._clock = clock
        self._auth = CallAuth(tokens, call_metadata)
        self._channel = open_channel(target, insecure=insecure)
        self._refdata = UsExchangeClient(
            target, insecure=insecure, tokens=tokens, call_metadata=call_metadata, protos=protos
        )
        self._open_call: grpc.aio.StreamStreamMultiCallable[md.BiDirectionalStreamMarketDataRequest, bytes] = (
            self._channel.stream_stream(_METHOD, request_serializer=_REQUEST_BYTES, response_deserializer=None)
        )
        self._open_snapshot: grpc.aio.UnaryStreamMultiCallable[md.CreateMarketDataSubscriptionRequest, bytes] = (
            self._channel.unary_stream(
                _SNAPSHOT_METHOD,
                request_serializer=md.CreateMarketDataSubscriptionRequest.SerializeToString,
                response_deserializer=None,
            )
        )
        self._random = random.Random()
        # Checks the schedule (initial <= max) here, once, rather than when the first stream opens.
        Backoff(initial_s=self._reconnect_initial_s, max_s=self._reconnect_max_s, random=self._random.random)
        self._tick_s = min(1.0, self._silence_timeout_s / 4)
        self.recorder = recorder
        """The recorder this client records into, None when it records nothing."""
        self._tap: ChannelTap | None = None if recorder is None else recorder.tap("us", "marketdata")
        self._instruments: dict[str, UsInstrument] = {}
        self._scales: dict[str, BookScales] = {}
        self._books: dict[str, OrderBook] = {}
        # The latest update of each LIVE book not read since, as received.
        self._pending: dict[str, bytes] = {}
        # Whether events have consumers, as the hot path reads it: set when one is added, brought back to
        # the fan-out's answer on every watchdog tick (a consumer gone meanwhile only costs decoding early).
        self._consumed = False
        self._states: dict[str, SyncState] = {}
        self._stream_of: dict[str, MarketDataShard] = {}
        self._streams: dict[int, MarketDataShard] = {}
        self._next_stream_id = 1
        self._tasks = BackgroundTasks(
            "us-live-books",
            restart_initial_s=self._reconnect_initial_s,
            restart_max_s=self._reconnect_max_s,
            random=self._random.random,
        )
        self._fanout: EventFanout[BookEvent] = EventFanout(self._queue_size, what="US book")
        self._subscribe_lock = asyncio.Lock()
        self._running = False
        self._stopped = False
        self._messages: dict[str, int] = {}
        self._updates = 0  # apart from _messages: counted on the hot path
        self._subscription_errors: dict[str, int] = {}
        self._invalid_updates = 0
        self._reconnects = 0
        self._silences = 0
        self._keepalives = 0
        self._last_failure: PolyinfraError | None = None
        self._resyncs: dict[str, int] = {}
        # What was last exported to Prometheus, so each tick adds only the difference.
        self._exported_messages: dict[str, int] = {}
        self._exported_resyncs: dict[str, int] = {}
        self._exported_reconnects: dict[str, int] = {}
        self._reconnect_reasons: dict[str, int] = {}
        self._exported_stale = 0

    # --- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the watchdog and the streams of the symbols subscribed so far; a :class:`UsLiveBooks`
        starts once."""
        if self._running or self._stopped:
            raise InvalidValueError("a UsLiveBooks starts once")
        self._running = True
        self._tasks.supervise(self._watch_forever, "us-live-books watchdog")
        for stream in self._streams.values():
            self._start_stream(stream)

    async def stop(self) -> None:
        """Close every stream and the channel, end every :meth:`events` iterator."""
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        tasks = [stream.task for stream in self._streams.values() if stream.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, self._tasks.stop(), return_exceptions=True)
        await self._refdata.close()
        await self._channel.close()
        self._fanout.close()
        self._export_metrics()
        STALE_BOOKS.dec(self._exported_stale)
        self._exported_stale = 0

    # --- subscriptions --------------------------------------------------------------------------

    async def subscribe(self, symbols: Iterable[str]) -> None:
        """Start keeping the symbols' books (already subscribed ones are left alone).

        Raises :class:`~polyinfra.errors.StreamBudgetExceededError` when they would need more streams than
        ``stream_budget``, :class:`~polyinfra.errors.GrpcNotFoundError` for a symbol the venue does not
        list, :class:`~polyinfra.errors.InvalidValueError` for a malformed symbol, an instrument whose
        scales cannot be held exactly, or after :meth:`stop`; in each case nothing changed.
        """
        self._require_not_stopped()
        wanted = [checked_symbol(symbol) for symbol in dict.fromkeys(symbols)]
        async with self._subscribe_lock:
            new = [symbol for symbol in wanted if symbol not in self._stream_of]
            if not new:
                return
            assignments, shards = self._plan(new)
            await self._learn_instruments(new)
            for symbols_of_shard in shards:
                stream = self._new_stream()
                assignments.append((stream, symbols_of_shard))
            now_ns = time.time_ns()
            events: list[BookEvent] = []
            for stream, added in assignments:
                for symbol in added:
                    self._books[symbol] = self._new_book(symbol)
                    self._states[symbol] = SyncState.SYNCING
                    self._stream_of[symbol] = stream
                    stream.add(symbol)
                    events.append(
                        SyncStateChanged(symbol, SyncState.SYNCING, SyncState.SYNCING, SyncReason.SUBSCRIBED, now_ns)
                    )
                if self._tap is not None:
                    # With each symbol's scales and tick: what replay needs to decode its updates as here.
                    self._tap.lifecycle(
                        RecordKind.SUBSCRIBED,
                        stream.id,
                        token_ids=added,
                        depth=self._depth,
                        unaggregated=self._unaggregated,
                        instruments=[TapeInstrument.of(self._instruments[symbol]) for symbol in added],
                    )
            self._deliver(events)
            for stream, added in assignments:
                if stream.task is None:
                    if self._running:
                        self._start_stream(stream)
                elif stream.call is not None:
                    await self._send(stream, subscribe_request(added))

    async def snapshot(self, symbols: Iterable[str], *, timeout_s: float = 15.0) -> dict[str, OrderBook]:
        """One snapshot of each symbol's book, from a ``CreateMarketDataSubscription`` stream with
        ``snapshot_only`` that ends once it has sent them: new books, apart from the live ones.

        It holds one stream of the budget while it runs. Raises what :meth:`subscribe` raises, the typed
        error of the call's status, :class:`~polyinfra.errors.MalformedMessageError` for a message that
        does not parse or an update no book holds, or :class:`~polyinfra.errors.StreamClosedError` when
        the stream ends before every symbol's snapshot came.
        """
        self._require_not_stopped()
        wanted = [checked_symbol(symbol) for symbol in dict.fromkeys(symbols)]
        if len(wanted) > MAX_SYMBOLS_PER_STREAM:
            raise InvalidValueError(f"a snapshot takes at most {MAX_SYMBOLS_PER_STREAM} symbols", symbols=len(wanted))
        if len(self._streams) + 1 > self._budget:
            raise StreamBudgetExceededError(
                f"a snapshot needs a stream beside the {len(self._streams)} of the budget of {self._budget}",
                streams=len(self._streams) + 1,
                budget=self._budget,
            )
        await self._learn_instruments(wanted)
        request = md.CreateMarketDataSubscriptionRequest(
            symbols=wanted, depth=self._depth, unaggregated=self._unaggregated, snapshot_only=True
        )
        books = await self._auth.call(lambda metadata: self._snapshot_books(request, metadata, timeout_s=timeout_s))
        missing = [symbol for symbol in wanted if symbol not in books]
        if missing:
            raise StreamClosedError("the snapshot stream ended before every symbol's snapshot", symbol=missing[0])
        return books

    async def _snapshot_books(
        self, request: md.CreateMarketDataSubscriptionRequest, metadata: CallHeaders, *, timeout_s: float
    ) -> dict[str, OrderBook]:
        books: dict[str, OrderBook] = {}
        try:
            async for message in self._open_snapshot(request, metadata=metadata.pairs(), timeout=timeout_s):
                if self._tap is not None:
                    self._tap.frame_received(NO_CONNECTION, message)
                try:
                    response = _parse_lean(message)
                except DecodeError:
                    raise MalformedMessageError("a snapshot message does not parse", size=len(message)) from None
                if response.WhichOneof("event") != "update" or response.update.symbol not in self._scales:
                    continue  # a heartbeat
                image = self._decode(response.update)
                replace_book(books.setdefault(image.symbol, self._new_book(image.symbol)), image)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(exc, _SNAPSHOT_RPC_NAME) from None
        return books

    def _new_book(self, symbol: str) -> OrderBook:
        return OrderBook(symbol, tick_size=tick_size_of(self._instruments[symbol].tick_size))

    async def _learn_instruments(self, symbols: list[str]) -> None:
        """The instruments (scales, tick) of the symbols not known yet, from ListInstruments."""
        unknown = [symbol for symbol in symbols if symbol not in self._instruments]
        if not unknown:
            return
        listed = {instrument.symbol: instrument for instrument in await self._refdata.instruments(unknown)}
        missing = [symbol for symbol in unknown if symbol not in listed]
        if missing:
            raise MalformedMessageError("ListInstruments left out symbols asked for", symbol=missing[0])
        scales = {symbol: book_scales(listed[symbol]) for symbol in unknown}
        self._instruments.update(listed)
        self._scales.update(scales)

    async def unsubscribe(self, symbols: Iterable[str]) -> None:
        """Stop keeping the symbols' books; a stream left without symbols closes."""
        async with self._subscribe_lock:
            by_stream: dict[int, list[str]] = {}
            for symbol in dict.fromkeys(symbols):
                stream = self._stream_of.pop(symbol, None)
                if stream is None:
                    continue
                by_stream.setdefault(stream.id, []).append(symbol)
                stream.remove(symbol)
                del self._books[symbol]
                self._pending.pop(symbol, None)
                del self._states[symbol]
            for stream_id, removed in by_stream.items():
                stream = self._streams[stream_id]
                if self._tap is not None:
                    self._tap.tokens(RecordKind.UNSUBSCRIBED, stream_id, removed)
                if not stream.symbols:
                    del self._streams[stream_id]
                    if stream.task is not None:
                        stream.task.cancel()
                        await asyncio.gather(stream.task, return_exceptions=True)
                elif stream.call is not None:
                    await self._send(
                        stream,
                        unsubscribe_request(removed),
                    )

    def _plan(self, new: list[str]) -> tuple[list[tuple[MarketDataShard, list[str]]], list[list[str]]]:
        """Which running streams take which new symbols, and the shards of new streams for the rest."""
        assignments: list[tuple[MarketDataShard, list[str]]] = []
        remaining = new
        for stream in self._streams.values():
            room = self._per_stream - len(stream.symbols)
            if room > 0 and remaining:
                assignments.append((stream, remaining[:room]))
                remaining = remaining[room:]
        if not remaining:
            return assignments, []
        needed = -(-len(remaining) // self._per_stream)
        if len(self._streams) + needed > self._budget:
            raise StreamBudgetExceededError(
                f"{len(new)} more symbols need {len(self._streams) + needed} streams in all, "
                f"over the budget of {self._budget}",
                streams=len(self._streams) + needed,
                budget=self._budget,
            )
        return assignments, plan_streams(remaining, symbols_per_stream=self._per_stream, budget=needed)

    async def wait_until_live(self, symbols: Iterable[str] | None = None, timeout_s: float = 30.0) -> bool:
        """Wait until every given symbol (default: every subscribed one) is LIVE; False on timeout."""
        wanted = list(self._states) if symbols is None else [self._require_symbol(symbol) for symbol in symbols]
        deadline = time.monotonic() + timeout_s
        while not all(self._states.get(symbol) is SyncState.LIVE for symbol in wanted):
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                return False
            await asyncio.sleep(min(_WAIT_POLL_S, remaining_s))
        return True

    # --- reads ----------------------------------------------------------------------------------

    def book(self, symbol: str) -> OrderBook:
        """The symbol's live book, replaced in place by the latest update (read it between awaits; call
        again after an await: an update that came meanwhile is decoded by this call). An update no book
        holds, found here, leaves the book as it was and the symbol STALE until its fresh snapshot."""
        symbol = self._settled(symbol)
        return self._books[symbol]

    def instrument(self, symbol: str) -> UsInstrument:
        """The symbol's instrument: its scales and tick as listed, and its trading state as the latest update
        says (a book that halts shows HALTED here; order entry given these books refuses its orders locally)."""
        return self._instruments[self._settled(symbol)]

    def _settled(self, symbol: str) -> str:
        """``symbol``, checked, with the update waiting for it (if any) decoded into its book."""
        symbol = self._require_symbol(symbol)
        kept = self._pending.pop(symbol, None)
        if kept is not None:
            self._settle_kept(symbol, kept)
        return symbol

    def state(self, symbol: str) -> SyncState:
        return self._states[self._require_symbol(symbol)]

    def states(self) -> Mapping[str, SyncState]:
        """Every subscribed symbol's state (a copy)."""
        return dict(self._states)

    @property
    def depth(self) -> int:
        """Levels per side each update carries (the subscribed depth)."""
        return self._depth

    def staleness_s(self, symbol: str) -> float | None:
        """Seconds since the symbol's stream last sent anything, heartbeats included (each update is the
        whole book, so a heartbeat proves the book current); None before it ever did."""
        last = self._stream_of[self._require_symbol(symbol)].last_heard_s
        return None if last is None else self._clock() - last

    def symbols(self) -> list[str]:
        return list(self._states)

    def stats(self) -> UsLiveBooksStats:
        return UsLiveBooksStats(
            messages=self._message_counts(),
            invalid_updates=self._invalid_updates,
            subscription_errors=dict(self._subscription_errors),
            streams=len(self._streams),
            connected=sum(1 for stream in self._streams.values() if stream.call is not None),
            reconnects=self._reconnects,
            silences_detected=self._silences,
            keepalives_sent=self._keepalives,
            last_stream_error=None if self._last_failure is None else str(self._last_failure),
            events_delivered=self._fanout.delivered,
            events_dropped=self._fanout.dropped,
            listener_errors=self._fanout.listener_errors,
            task_failures=self._tasks.failures,
        )

    @property
    def stream_failure(self) -> PolyinfraError | None:
        """The typed error the last failed session ended with (a missing scope, a token that could not
        be minted, the venue's status), None while none failed; a refused token that was replaced is
        not a failure."""
        return self._last_failure

    def events(self) -> AsyncIterator[BookEvent]:
        """A new iterator over the events from now on (its own bounded queue: full, it drops its oldest)."""
        self._consumed = True
        return self._fanout.stream()

    def add_listener(self, callback: Callable[[BookEvent], None]) -> Callable[[], None]:
        """Call ``callback`` with every event, in the reading task (keep it quick); returns its remover."""
        self._consumed = True
        return self._fanout.add_listener(callback)

    # --- streams --------------------------------------------------------------------------------

    def _new_stream(self) -> MarketDataShard:
        stream = MarketDataShard(
            self._next_stream_id,
            Backoff(initial_s=self._reconnect_initial_s, max_s=self._reconnect_max_s, random=self._random.random),
        )
        self._next_stream_id += 1
        self._streams[stream.id] = stream
        return stream

    def _start_stream(self, stream: MarketDataShard) -> None:
        async def session(session_id: str) -> None:
            await self._session(stream)

        stream.task = self._tasks.spawn(
            run_sessions(session, stream.backoff, ending=lambda: self._stopped, stream_id=str(stream.id)),
            "us-live-books stream",
        )

    async def _session(self, stream: MarketDataShard) -> None:
        if not stream.symbols:
            return
        try:
            await self._auth.call(lambda metadata: self._authenticated_session(stream, metadata))
        except PolyinfraError as failure:
            # Not mended by a replaced token: the next session tries again after the backoff.
            self._last_failure = failure
            _log.warning("US market-data stream ended", stream_id=stream.id, error=describe_failure(failure))

    async def _authenticated_session(self, stream: MarketDataShard, metadata: CallHeaders) -> None:
        """One session of ``stream``; raises the typed error of a refused token or scope (for
        :meth:`CallAuth.call` to act on) once the session's books are marked stale."""
        stream.sessions += 1
        if stream.sessions > 1:
            self._reconnects += 1
        call = self._open_call(metadata=metadata.pairs())
        stream.watch = SilenceWatch(timeout_s=self._silence_timeout_s, now_s=self._clock())
        stream.silenced = False
        stream.call = call
        first = True
        reason = SyncReason.DISCONNECTED
        refused: PolyinfraError | None = None
        try:
            if self._tap is not None:
                kind = RecordKind.CONNECTED if stream.sessions == 1 else RecordKind.RECONNECTED
                self._tap.lifecycle(kind, stream.id, token_ids=list(stream.symbols), session=stream.sessions)
            await self._send(
                stream,
                md.BiDirectionalStreamMarketDataRequest(
                    subscribe=md.SubscribeCommand(symbols=list(stream.symbols)),
                    depth=self._depth,
                    unaggregated=self._unaggregated,
                    slow_consumer_skip_to_head=self._skip_to_head,
                ),
            )
            while True:
                message = await call.read()
                if not isinstance(message, bytes):  # grpc.aio.EOF: the venue ended the stream
                    break
                if first:
                    stream.backoff.reset()
                    first = False
                if not self._on_message(stream, message):
                    reason = SyncReason.MALFORMED_FRAME
                    break
        except asyncio.CancelledError:
            # The watchdog cancels a silent stream's call; anything else cancelling is the task's end.
            if not stream.silenced:
                raise
            reason = SyncReason.SILENCE
        except grpc.aio.AioRpcError as exc:
            if stream.silenced:
                reason = SyncReason.SILENCE
            elif exc.code() in _AUTH_REFUSALS:
                refused = rpc_error(exc, _RPC_NAME)
            else:
                error = rpc_error(exc, _RPC_NAME)
                self._last_failure = error
                _log.warning("US market-data stream ended", stream_id=stream.id, error=describe_failure(error))
        finally:
            stream.call = None
            stream.watch = None
            call.cancel()
        self._reconnect_reasons[reason] = self._reconnect_reasons.get(reason, 0) + 1
        if self._tap is not None:
            self._tap.lifecycle(RecordKind.CONNECTION_LOST, stream.id, reason=reason, code=None)
        self._mark_stale(list(stream.symbols), reason)
        if refused is not None:
            raise refused

    async def _send(self, stream: MarketDataShard, request: md.BiDirectionalStreamMarketDataRequest) -> None:
        call = stream.call
        if call is None:
            return
        stream.last_sent_s = self._clock()
        if self._tap is not None:
            self._tap.frame_sent(stream.id, request.SerializeToString())
        # A session ending meanwhile is harmless: the next one subscribes every symbol of the stream.
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            await call.write(request)

    def _on_message(self, stream: MarketDataShard, message: bytes) -> bool:
        """Handle one message; False when it does not parse (the session must start over)."""
        now_s = self._clock()
        stream.last_heard_s = now_s
        watch = stream.watch
        if watch is not None:
            watch.last_heard_s = now_s  # SilenceWatch.heard, inlined on the hot path
        if not self._consumed and self._tap is None:
            # The hot path: an update of a LIVE book of this stream, found by its symbol's bytes and kept
            # as received, unparsed, until the book is read.
            symbol = stream.symbol_of_bytes.get(update_symbol(message))
            if symbol is not None and self._states[symbol] is _LIVE:
                self._updates += 1
                self._pending[symbol] = message
                return True
        try:
            # Updates are read the lean way; the rest (no update, or one without a symbol, which no book
            # takes) with the generated class.
            update = _parse_lean(message).update
            symbol = update.symbol
            response = None if symbol else _parse_response(message)
        except DecodeError:
            self._count("malformed")
            if self._tap is not None:
                self._tap.frame_received(stream.id, message)
            _log.warning("an unparseable US market-data message; the stream starts over", size=len(message))
            return False
        if response is None:
            if self._tap is not None:
                venue_ms = update.transact_time.seconds * 1000 + update.transact_time.nanos // 1_000_000
                self._tap.frame_received(stream.id, message, venue_ts_ms=venue_ms or None, key=symbol)
            self._updates += 1
            if symbol in stream.symbols:
                if self._states[symbol] is _LIVE and not self._consumed:
                    self._pending[symbol] = message
                else:
                    self._apply(update)
            # An update for a symbol unsubscribed a moment ago is still in flight: nothing to do.
            return True
        event = response.WhichOneof("event")
        if self._tap is not None:
            self._tap.frame_received(stream.id, message)
        if event == "update":
            self._updates += 1  # with no symbol: for no book
            return True
        self._count(event or "unknown")
        if event == "subscription_error":
            error = response.subscription_error
            code = error.error_code[:64]
            self._subscription_errors[code] = self._subscription_errors.get(code, 0) + 1
            _log.warning("US market-data subscription error", code=code, symbols=len(error.symbols))
            if code in _UNSERVED_ERRORS:
                # The venue refused to serve them: stale (not syncing forever) until a new session tries again.
                self._mark_stale([symbol for symbol in error.symbols if symbol in stream.symbols], code.lower())
        return True

    def _decode(self, update: Any) -> BookImage:
        return decode_update(update, self._scales[update.symbol], depth=self._depth, unaggregated=self._unaggregated)

    def _apply(self, update: Any) -> None:
        """Decode ``update`` (a :data:`LeanUpdate`) into the symbol's book now: the book is not LIVE yet,
        or events are consumed (the hot path, keeping it for when the book is read, is the caller's)."""
        received_ns = time.time_ns()
        symbol = update.symbol
        old = self._states[symbol]
        has_consumers = self._fanout.has_consumers
        self._pending.pop(symbol, None)
        if not self._settle(update):
            return
        if old is not SyncState.LIVE:
            self._states[symbol] = SyncState.LIVE
            self._deliver([SyncStateChanged(symbol, old, SyncState.LIVE, SyncReason.SNAPSHOT, received_ns)])
        if has_consumers:
            venue_ms = self._books[symbol].timestamp_ms
            self._fanout.deliver([BookUpdated(symbol, "", venue_ms, received_ns, snapshot=True)])

    def _settle_kept(self, symbol: str, message: bytes) -> None:
        """Parse and decode ``message``, an update kept for ``symbol`` as received, into its book. Kept
        unparsed, it may still prove malformed, or another symbol's (a symbol field repeated further on:
        the last one counts): the symbol's update is then unusable, as in :meth:`_settle`."""
        try:
            update = _parse_lean(message).update
        except DecodeError:
            update = None
        if update is None or update.symbol != symbol:
            refused = MalformedMessageError("a kept update does not parse as this symbol's", symbol=symbol)
            self._refuse_update(symbol, refused)
            return
        self._settle(update)

    def _settle(self, update: Any) -> bool:
        """Decode ``update`` into its (subscribed) symbol's book; False (the symbol stale and subscribed
        again on its stream, the book as it was) when no book holds it."""
        symbol = update.symbol
        try:
            image = self._decode(update)
        except MalformedMessageError as exc:
            self._refuse_update(symbol, exc)
            return False
        replace_book(self._books[symbol], image)
        instrument = self._instruments[symbol]
        if image.state is not None and image.state is not instrument.state:
            # The update's state is the venue's latest word on it (informative, not authoritative: reference
            # data may say otherwise later); it is what the screen and order entry go by meanwhile.
            self._instruments[symbol] = replace(instrument, state=image.state)
        return True

    def _refuse_update(self, symbol: str, error: MalformedMessageError) -> None:
        """An update of ``symbol`` no book holds: the book stays as it was, and the symbol is STALE until
        the fresh snapshot that subscribing it again on its stream brings."""
        self._invalid_updates += 1
        _log.warning("an unusable US market-data update", symbol=symbol, error=describe_failure(error))
        self._mark_stale([symbol], SyncReason.INVALID_VALUE)
        self._tasks.spawn(self._resubscribe(self._stream_of[symbol], symbol), "us-live-books resubscribe")

    async def _resubscribe(self, stream: MarketDataShard, symbol: str) -> None:
        await self._send(stream, unsubscribe_request([symbol]))
        await self._send(stream, subscribe_request([symbol]))

    def _mark_stale(self, symbols: list[str], reason: str) -> None:
        now_ns = time.time_ns()
        events: list[BookEvent] = []
        for symbol in symbols:
            old = self._states.get(symbol)
            if old is None or old is SyncState.STALE:
                continue
            self._states[symbol] = SyncState.STALE
            self._resyncs[reason] = self._resyncs.get(reason, 0) + 1
            events.append(SyncStateChanged(symbol, old, SyncState.STALE, reason, now_ns))
        self._deliver(events)

    def _deliver(self, events: list[BookEvent]) -> None:
        if not events:
            return
        if self._tap is not None:
            self._tap.sync_events(events)
        if self._fanout.has_consumers:
            self._fanout.deliver(events)

    def _message_counts(self) -> dict[str, int]:
        counts = dict(self._messages)
        if self._updates:
            counts["update"] = self._updates
        return counts

    def _count(self, event: str) -> None:
        self._messages[event] = self._messages.get(event, 0) + 1

    # --- the watchdog ---------------------------------------------------------------------------

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            now_s = self._clock()
            self._consumed = self._fanout.has_consumers
            for stream in list(self._streams.values()):
                watch = stream.watch
                if watch is None or stream.call is None:
                    continue
                if watch.silent(now_s):
                    self._silences += 1
                    stream.silenced = True
                    stream.watch = None
                    _log.warning("a US market-data stream went silent; reconnecting", stream_id=stream.id)
                    # Its socket may well look fine: ending the call ends the session, and the next one opens.
                    stream.call.cancel()
                elif now_s - stream.last_sent_s >= self._keepalive_interval_s:
                    self._keepalives += 1
                    await self._send(stream, md.BiDirectionalStreamMarketDataRequest(keepalive=md.KeepAliveCommand()))
            self._export_metrics()

    def _export_metrics(self) -> None:
        add_new_counts(US_MARKET_DATA_MESSAGES, "event", self._message_counts(), self._exported_messages)
        add_new_counts(BOOK_RESYNCS, "reason", self._resyncs, self._exported_resyncs)
        add_new_counts(US_MARKET_DATA_RECONNECTS, "reason", self._reconnect_reasons, self._exported_reconnects)
        stale = sum(1 for state in self._states.values() if state is not SyncState.LIVE)
        STALE_BOOKS.inc(stale - self._exported_stale)
        self._exported_stale = stale

    # --- checks ---------------------------------------------------------------------------------

    def _require_symbol(self, symbol: str) -> str:
        if symbol not in self._states:
            raise InvalidValueError("symbol is not subscribed", symbol=str(symbol)[:200])
        return symbol

    def _require_not_stopped(self) -> None:
        if self._stopped:
            raise InvalidValueError("this UsLiveBooks was stopped")
