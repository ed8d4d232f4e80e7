"""The emulator's ``MarketDataSubscriptionAPI``: both RPCs over the US market's books.

* ``CreateMarketDataSubscription`` (server stream): the symbols asked for (none: every instrument), a
  snapshot of each, then an update whenever a book changes and a heartbeat when there is nothing else to
  say; ``snapshot_only`` ends the stream after the snapshots.
* ``BiDirectionalStreamMarketData``: the first request must subscribe and carries the options (depth,
  aggregation, snapshot-only, skip-to-head), read from it only; later requests subscribe and unsubscribe
  at run time, each answered with a ``SubscriptionAck`` (symbols added or removed, the active set, the
  added symbols' scales) or a ``SubscriptionError`` (``INVALID_SYMBOL``, ``ALREADY_SUBSCRIBED``,
  ``NOT_SUBSCRIBED``); a keepalive is a no-op with no answer (venue notes: US exchange market data).

Every update is the symbol's whole book to the subscribed depth, aggregated by price (or one entry per
resting order with ``unaggregated``), with the instrument's scales, its state, the last trade in its
statistics and the emulator's time.
The venue's limits and status codes (venue notes: US exchange market data): more than 1,000 symbols on one
stream or a depth outside 0 to 1,000 is INVALID_ARGUMENT, one stream over the firm's budget (20, pooled with the
other streaming RPCs: :mod:`polyinfra.emulator.us.stream_budget`) is RESOURCE_EXHAUSTED; the firm is the
``x-participant-id`` the call carries (none: one anonymous firm). The fault knobs are
:class:`~polyinfra.emulator.us.market_data_faults.UsMarketDataFaults`.

Each stream has one writer (the RPC's own coroutine) and a queue of symbols whose book changed; the
market's listener only appends to it, so a slow client never slows the market, and the queue's bound
decides when a client is too slow.

What is served is a :class:`ServedBooks`, which renders each symbol's update and says when a book changed:
the emulator's market (:class:`~polyinfra.emulator.us.market_books.MarketBooks`) or a recorded tape
(:mod:`polyinfra.record.us_replay_server`). A tape also ends the streams its recording lost
(:meth:`MarketDataService.drop_holding`) and, played as fast as it goes, waits for its subscribers
(:meth:`MarketDataService.written`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Sequence
from typing import Any, Final, Protocol

import grpc
from google.protobuf.message import Message

from polyinfra.core.us_books import MAX_DEPTH, MAX_SYMBOLS_PER_STREAM, checked_depth
from polyinfra.core.us_instruments import UsInstrument
from polyinfra.emulator.us.market_data_faults import UsMarketDataFaults
from polyinfra.emulator.us.stream_budget import OverBudgetError, StreamBudget, firm_of
from polyinfra.errors import InvalidValueError
from polyinfra.wire.us.polymarket.v1 import (
    marketdatasubscription_pb2 as md,
)
from polyinfra.wire.us.polymarket.v1 import (
    marketdatasubscription_pb2_grpc,
    types_pb2,
)

__all__ = ["MarketDataService", "ServedBooks"]

TOO_MANY_SYMBOLS: Final = f"at most {MAX_SYMBOLS_PER_STREAM} symbols per subscription"
# A stream waiting for data looks at the fault knobs at least this often (a knob set directly on the
# emulator, not through its control API, wakes nothing).
_TICK_S: Final = 0.25
_SHOWN_SYMBOLS: Final = 10

Context = grpc.aio.ServicerContext[Any, Any]


class ServedBooks(Protocol):
    """The books a :class:`MarketDataService` serves."""

    @property
    def instruments(self) -> Sequence[UsInstrument]:
        """Every symbol served (a subscription naming none takes them all)."""

    def instrument(self, symbol: str) -> UsInstrument | None: ...

    def subscribe(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call ``listener(symbol)`` whenever the symbol's book changed; returns the remover."""

    def update(self, symbol: str, depth: int, *, unaggregated: bool) -> md.MarketDataUpdate | None:
        """The symbol's book now, to ``depth``, as the venue sends it; None when there is none to send yet."""


class _EndStreamError(Exception):
    """Ends a stream with a status (raised inside the service, turned into ``context.abort``)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Stream:
    """One open stream: its firm, options, symbols and what waits to be written."""

    __slots__ = (
        "control",
        "depth",
        "drained",
        "failure",
        "firm",
        "last_traffic_s",
        "pending",
        "skip_to_head",
        "symbols",
        "unaggregated",
        "updates_sent",
        "wakeup",
    )

    def __init__(self, firm: str, now_s: float) -> None:
        self.firm = firm
        self.depth = checked_depth(0)
        self.unaggregated = False
        self.skip_to_head = False
        self.symbols: dict[str, None] = {}
        self.pending: deque[str] = deque()
        self.control: deque[md.BiDirectionalStreamMarketDataResponse] = deque()
        self.failure: _EndStreamError | None = None
        self.updates_sent = 0
        self.last_traffic_s = now_s
        self.wakeup = asyncio.Event()
        # Set while no update waits (or the stream is ending): what a tape played as fast as it goes waits for.
        self.drained = asyncio.Event()
        self.drained.set()

    def fail(self, code: grpc.StatusCode, details: str) -> None:
        if self.failure is None:
            self.failure = _EndStreamError(code, details)
        self.wakeup.set()
        self.drained.set()

    def push(self, symbols: Iterable[str], limit: int) -> None:
        self.pending.extend(symbols)
        if self.pending and self.failure is None:
            self.drained.clear()
        if len(self.pending) > limit:
            if self.skip_to_head:
                # What waits is dropped; each symbol's latest book goes out instead, once.
                self.pending = deque(self.symbols)
            else:
                self.fail(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow consumer: the stream fell too far behind")
        self.wakeup.set()


class MarketDataService(marketdatasubscription_pb2_grpc.MarketDataSubscriptionAPIServicer):
    """Market data of ``books``, misbehaving as ``faults`` say."""

    def __init__(self, books: ServedBooks, faults: UsMarketDataFaults, budget: StreamBudget | None = None) -> None:
        self._books = books
        self._faults = faults
        self.budget = budget if budget is not None else StreamBudget(lambda: faults.streams_per_firm)
        self._streams: list[_Stream] = []
        self._remove_listener = books.subscribe(self._book_changed)

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def drop_all(self) -> int:
        """Abort every open stream with UNAVAILABLE; returns how many."""
        return _reset(self._streams, "stream reset by the emulator")

    def drop_holding(self, symbols: Collection[str]) -> int:
        """Abort with UNAVAILABLE every open stream subscribed to any of ``symbols``; returns how many."""
        held = [stream for stream in self._streams if not stream.symbols.keys().isdisjoint(symbols)]
        return _reset(held, "stream reset")

    async def written(self, stalled_after_s: float) -> None:
        """Until no open stream has an update waiting; a stream that takes none for ``stalled_after_s`` is cut off
        as a slow consumer (RESOURCE_EXHAUSTED) rather than wait on forever."""
        for stream in list(self._streams):
            try:
                await asyncio.wait_for(stream.drained.wait(), stalled_after_s)
            except TimeoutError:
                stream.fail(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow consumer: the stream took nothing")

    def close(self) -> None:
        """Stop listening to the market."""
        self._remove_listener()

    # --- the RPCs -------------------------------------------------------------------------------

    async def CreateMarketDataSubscription(  # noqa: N802 (the venue's method name)
        self, request: md.CreateMarketDataSubscriptionRequest, context: Context
    ) -> None:
        try:
            with self._open(context) as stream:
                self._set_options(stream, request.depth, request.unaggregated, request.slow_consumer_skip_to_head)
                symbols = list(request.symbols) or [instrument.symbol for instrument in self._books.instruments]
                if request.symbols:
                    self._check_symbol_count(len(dict.fromkeys(symbols)))
                    unknown = [symbol for symbol in symbols if self._books.instrument(symbol) is None]
                    if unknown:
                        raise _EndStreamError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown symbols: {_shown(unknown)}")
                stream.symbols = dict.fromkeys(symbols)
                stream.push(stream.symbols, self._faults.slow_consumer_limit)
                if request.snapshot_only:
                    while stream.pending:
                        await self._write_update(context, stream, md.CreateMarketDataSubscriptionResponse)
                    return
                await self._serve(context, stream, md.CreateMarketDataSubscriptionResponse)
        except _EndStreamError as abort:
            await context.abort(abort.code, abort.details)

    async def BiDirectionalStreamMarketData(  # noqa: N802
        self, request_iterator: AsyncIterator[md.BiDirectionalStreamMarketDataRequest], context: Context
    ) -> None:
        reader: asyncio.Task[None] | None = None
        try:
            with self._open(context) as stream:
                first = await anext(aiter(request_iterator), None)
                if first is None:
                    return
                stream.last_traffic_s = asyncio.get_running_loop().time()
                if first.WhichOneof("command") != "subscribe":
                    raise _EndStreamError(grpc.StatusCode.INVALID_ARGUMENT, "the first request must subscribe")
                self._set_options(stream, first.depth, first.unaggregated, first.slow_consumer_skip_to_head)
                self._command(stream, first)
                if first.snapshot_only:
                    while stream.control or stream.pending:
                        await self._write_next(context, stream)
                    return
                reader = asyncio.create_task(self._read_commands(request_iterator, stream))
                await self._serve(context, stream, md.BiDirectionalStreamMarketDataResponse)
        except _EndStreamError as abort:
            await context.abort(abort.code, abort.details)
        finally:
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    # --- streams --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(self, context: Context) -> Iterator[_Stream]:
        firm = firm_of(context)
        with contextlib.ExitStack() as slot:
            try:
                slot.enter_context(self.budget.hold(firm))
            except OverBudgetError as over:
                raise _EndStreamError(over.code, over.details) from None
            stream = _Stream(firm, asyncio.get_running_loop().time())
            self._streams.append(stream)
            try:
                yield stream
            finally:
                self._streams.remove(stream)
                stream.drained.set()

    def _set_options(self, stream: _Stream, depth: int, unaggregated: bool, skip_to_head: bool) -> None:
        try:
            stream.depth = checked_depth(depth)
        except InvalidValueError:
            raise _EndStreamError(grpc.StatusCode.INVALID_ARGUMENT, f"depth must be 0 to {MAX_DEPTH}") from None
        stream.unaggregated = unaggregated
        stream.skip_to_head = skip_to_head

    def _check_symbol_count(self, count: int) -> None:
        if count > MAX_SYMBOLS_PER_STREAM:
            raise _EndStreamError(grpc.StatusCode.INVALID_ARGUMENT, TOO_MANY_SYMBOLS)

    def _book_changed(self, symbol: str) -> None:
        limit = self._faults.slow_consumer_limit
        for stream in self._streams:
            if symbol in stream.symbols:
                stream.push((symbol,), limit)

    async def _read_commands(
        self, request_iterator: AsyncIterator[md.BiDirectionalStreamMarketDataRequest], stream: _Stream
    ) -> None:
        loop = asyncio.get_running_loop()
        async for request in request_iterator:
            stream.last_traffic_s = loop.time()
            try:
                self._command(stream, request)
            except _EndStreamError as abort:
                stream.fail(abort.code, abort.details)
                return

    def _command(self, stream: _Stream, request: md.BiDirectionalStreamMarketDataRequest) -> None:
        command = request.WhichOneof("command")
        if command == "subscribe":
            self._subscribe(stream, list(dict.fromkeys(request.subscribe.symbols)))
        elif command == "unsubscribe":
            self._unsubscribe(stream, list(dict.fromkeys(request.unsubscribe.symbols)))
        # A keepalive, or a request with no command, changes nothing and is not answered.

    def _subscribe(self, stream: _Stream, symbols: list[str]) -> None:
        unknown = [symbol for symbol in symbols if self._books.instrument(symbol) is None]
        already = [symbol for symbol in symbols if symbol in stream.symbols]
        added = [symbol for symbol in symbols if symbol not in stream.symbols and symbol not in unknown]
        self._check_symbol_count(len(stream.symbols) + len(added))
        if unknown:
            stream.control.append(_error("INVALID_SYMBOL", "instrument does not exist", unknown))
        if already:
            stream.control.append(_error("ALREADY_SUBSCRIBED", "already subscribed", already))
        if added or not (unknown or already):
            stream.symbols.update(dict.fromkeys(added))
            listed = [self._books.instrument(symbol) for symbol in added]
            stream.control.append(
                md.BiDirectionalStreamMarketDataResponse(
                    subscription_ack=self._ack(
                        stream,
                        added=added,
                        removed=[],
                        symbol_scales=[
                            md.SymbolScales(
                                symbol=instrument.symbol,
                                price_scale=instrument.price_scale,
                                quantity_scale=instrument.quantity_scale,
                            )
                            for instrument in listed
                            if instrument is not None
                        ],
                    )
                )
            )
            stream.push(added, self._faults.slow_consumer_limit)
        stream.wakeup.set()

    def _unsubscribe(self, stream: _Stream, symbols: list[str]) -> None:
        missing = [symbol for symbol in symbols if symbol not in stream.symbols]
        removed = [symbol for symbol in symbols if symbol in stream.symbols]
        if missing:
            stream.control.append(_error("NOT_SUBSCRIBED", "not subscribed", missing))
        if removed:
            for symbol in removed:
                del stream.symbols[symbol]
            gone = set(removed)
            stream.pending = deque(symbol for symbol in stream.pending if symbol not in gone)
            if not stream.pending:
                stream.drained.set()
            stream.control.append(
                md.BiDirectionalStreamMarketDataResponse(
                    subscription_ack=self._ack(stream, added=[], removed=removed, symbol_scales=[])
                )
            )
        stream.wakeup.set()

    def _ack(
        self, stream: _Stream, *, added: list[str], removed: list[str], symbol_scales: list[md.SymbolScales]
    ) -> md.SubscriptionAck:
        # Lists over 1,000 entries are left out and flagged, as the venue does; the counts are always there.
        active = list(stream.symbols)
        return md.SubscriptionAck(
            symbols_added=added if len(added) <= MAX_SYMBOLS_PER_STREAM else [],
            symbols_added_count=len(added),
            symbols_added_truncated=len(added) > MAX_SYMBOLS_PER_STREAM,
            symbols_removed=removed if len(removed) <= MAX_SYMBOLS_PER_STREAM else [],
            symbols_removed_count=len(removed),
            symbols_removed_truncated=len(removed) > MAX_SYMBOLS_PER_STREAM,
            active_symbols=active if len(active) <= MAX_SYMBOLS_PER_STREAM else [],
            active_symbol_count=len(active),
            active_symbols_truncated=len(active) > MAX_SYMBOLS_PER_STREAM,
            symbol_scales=symbol_scales if len(added) <= MAX_SYMBOLS_PER_STREAM else [],
        )

    async def _serve(self, context: Context, stream: _Stream, response: Callable[..., Message]) -> None:
        """Write what the stream has to say, heartbeats in between, until it fails or the client leaves."""
        loop = asyncio.get_running_loop()
        faults = self._faults
        bidi = response is md.BiDirectionalStreamMarketDataResponse
        while True:
            if stream.failure is not None:
                raise stream.failure
            now = loop.time()
            if now - stream.last_traffic_s >= faults.idle_kill_after_s:
                raise _EndStreamError(grpc.StatusCode.UNAVAILABLE, "stream idle timeout")
            if not faults.silent:
                if stream.control or stream.pending:
                    if bidi:
                        await self._write_next(context, stream)
                    else:
                        await self._write_update(context, stream, response)
                    continue
                if now - stream.last_traffic_s >= faults.heartbeat_every_s:
                    await context.write(response(heartbeat=types_pb2.Heartbeat()))
                    stream.last_traffic_s = loop.time()
                    continue
                wait_s = stream.last_traffic_s + min(faults.heartbeat_every_s, faults.idle_kill_after_s) - now
            else:
                wait_s = stream.last_traffic_s + faults.idle_kill_after_s - now
            stream.wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream.wakeup.wait(), max(0.0, min(wait_s, _TICK_S)))

    async def _write_next(self, context: Context, stream: _Stream) -> None:
        if stream.control:
            await context.write(stream.control.popleft())
            stream.last_traffic_s = asyncio.get_running_loop().time()
        else:
            await self._write_update(context, stream, md.BiDirectionalStreamMarketDataResponse)

    async def _write_update(self, context: Context, stream: _Stream, response: Callable[..., Message]) -> None:
        symbol = stream.pending.popleft()
        update = self._books.update(symbol, stream.depth, unaggregated=stream.unaggregated)
        if update is None:
            if not stream.pending:
                stream.drained.set()
            return
        await context.write(response(update=update))
        stream.last_traffic_s = asyncio.get_running_loop().time()
        stream.updates_sent += 1
        if not stream.pending:
            stream.drained.set()
        every = self._faults.drop_every_updates
        if every and stream.updates_sent % every == 0:
            raise _EndStreamError(grpc.StatusCode.UNAVAILABLE, "stream reset by the emulator")


def _error(code: str, message: str, symbols: list[str]) -> md.BiDirectionalStreamMarketDataResponse:
    return md.BiDirectionalStreamMarketDataResponse(
        subscription_error=md.SubscriptionError(
            error_code=code, message=message, symbols=symbols[:MAX_SYMBOLS_PER_STREAM]
        )
    )


def _shown(symbols: list[str]) -> str:
    shown = ", ".join(symbol[:80] for symbol in symbols[:_SHOWN_SYMBOLS])
    return shown if len(symbols) <= _SHOWN_SYMBOLS else f"{shown} and {len(symbols) - _SHOWN_SYMBOLS} more"


def _reset(streams: list[_Stream], details: str) -> int:
    for stream in streams:
        stream.fail(grpc.StatusCode.UNAVAILABLE, details)
    return len(streams)
