"""US exchange market data into exact books, sans-I/O: decoding, the stream plan, the silence rule.

The US exchange's market-data streams carry ``MarketDataUpdate`` messages, and every one of them is the
symbol's whole book to the subscribed depth: there is no per-level delete, so a client replaces the book
it holds (venue notes: US exchange market data). Prices and quantities are ``int64`` units of the
instrument's scales, which are divisors; :class:`BookScales` turns them into the micro-units
:class:`~polyinfra.model.book.OrderBook` keeps, by one integer multiplication each, exact because every
scale the venue uses (1, 100, 1000) divides a million. An instrument whose scales do not divide a
million cannot be held exactly, and :func:`book_scales` says so rather than rounding.

:func:`decode_update` is the one decoder from a ``MarketDataUpdate`` to levels: any message, however
hostile, becomes a :class:`BookImage` or a :class:`~polyinfra.errors.MalformedMessageError`. It refuses
what no venue book holds: a price outside (0, 1) or off the instrument's tick, a quantity that is not
positive or is beyond any market, a price repeated or out of the venue's order (bids best first,
descending; offers ascending), more levels than the subscribed depth, scales that contradict the
instrument's. With raw orders (``unaggregated``) several entries may share a price, together in the
venue's order, and are summed into one level. It reads the lean messages of
:mod:`polyinfra.wire.us.market_data_lean`, each level as the bytes of its ``BookEntry``, and keeps the
checked level of each distinct entry per instrument, so the levels an update repeats from the
last (most of them) are dictionary lookups rather than message objects.

:func:`plan_streams` shards symbols over streams (at most 1,000 symbols each, the venue's limit) and
refuses a plan over the stream budget (the venue pools 20 concurrent streams per firm across every RPC)
with :class:`~polyinfra.errors.StreamBudgetExceededError` before anything is opened; :func:`stream_share` is
what is left of the 20 for market data when a DropCopy archiver (or any other streaming client) of the
same firm holds some.

:class:`SilenceWatch` is the heartbeat rule: a stream that sent nothing (no update, no heartbeat) for
``timeout_s`` is dead, whatever the socket says (venue notes: US exchange market data). Time is passed
in, never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, NamedTuple, cast

from google.protobuf.message import DecodeError

from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState
from polyinfra.errors import InvalidValueError, MalformedMessageError, PolyinfraError, StreamBudgetExceededError
from polyinfra.model.book import MAX_SIZE_MICROS, OrderBook
from polyinfra.model.numbers import MICROS, TickSize
from polyinfra.wire.us.market_data_lean import LeanUpdate
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2

__all__ = [
    "DEFAULT_DEPTH",
    "MAX_DEPTH",
    "MAX_STREAMS_PER_FIRM",
    "MAX_SYMBOLS_PER_STREAM",
    "SILENCE_TIMEOUT_S",
    "BookImage",
    "BookScales",
    "SilenceWatch",
    "book_scales",
    "checked_depth",
    "checked_symbol",
    "decode_update",
    "plan_streams",
    "replace_book",
    "scales_of",
    "stream_share",
    "tick_size_of",
]

MAX_SYMBOLS_PER_STREAM: Final = 1000
"""Symbols one market-data stream may carry; more is INVALID_ARGUMENT (venue notes: US exchange market data)."""
MAX_STREAMS_PER_FIRM: Final = 20
"""Concurrent gRPC streams per firm, pooled across every RPC; more is RESOURCE_EXHAUSTED."""
DEFAULT_DEPTH: Final = 10
"""Levels per side the venue sends when a subscription leaves ``depth`` at 0."""
SILENCE_TIMEOUT_S: Final = 180.0
"""The venue's advice: reconnect a stream silent this long (venue notes: US exchange market data)."""
MAX_DEPTH: Final = 1000
"""The deepest book a subscription may ask for here; a bound on what one update may carry."""

_MAX_SYMBOL_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class BookScales:
    """How one instrument's wire units become book micro-units: ``px * price_micros`` and
    ``qty * quantity_micros``; ``tick_units`` is the tick in price units, ``price_scale`` the price of a
    whole dollar (a YES price lies strictly between 0 and it)."""

    symbol: str
    price_scale: int
    quantity_scale: int
    price_micros: int
    quantity_micros: int
    tick_units: int
    levels_seen: dict[bytes, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)
    """A memo of :func:`decode_update`: each ``BookEntry`` seen for this instrument, by its bytes, as its
    checked ``(price_micros, size_micros)``; only checked levels enter, and it is emptied when full."""


def book_scales(instrument: UsInstrument) -> BookScales:
    """The conversions of ``instrument``; :class:`InvalidValueError` when its scales do not divide a
    million (its prices or quantities would not be exact in micro-units)."""
    return scales_of(instrument.symbol, instrument.price_scale, instrument.quantity_scale, instrument.tick_units)


def scales_of(symbol: str, price_scale: int, quantity_scale: int, tick_units: int) -> BookScales:
    """The conversions of an instrument given by its scales and its tick in price units (what a recording
    keeps of it); :class:`InvalidValueError` when they cannot hold its book exactly."""
    if price_scale < 1 or quantity_scale < 1 or tick_units < 1 or MICROS % price_scale or MICROS % quantity_scale:
        raise InvalidValueError(
            "the instrument's scales do not divide a million: its book cannot be held exactly",
            symbol=symbol,
            price_scale=price_scale,
            quantity_scale=quantity_scale,
        )
    return BookScales(
        symbol=symbol,
        price_scale=price_scale,
        quantity_scale=quantity_scale,
        price_micros=MICROS // price_scale,
        quantity_micros=MICROS // quantity_scale,
        tick_units=tick_units,
    )


class BookImage(NamedTuple):
    """One update as book sides: ``bid_sizes`` and ``ask_sizes`` map ``price_micros -> size_micros``,
    ``bid_prices`` and ``ask_prices`` list their prices ascending (the shape
    :meth:`~polyinfra.model.book.OrderBook.replace_sides` takes whole). ``state`` when the update
    carried one (the venue calls it informative, not authoritative); ``transact_time_ns`` the venue's
    time, when sent; ``last_trade_micros`` the last trade's price from the update's statistics, when
    they carry one. A named tuple: one is made per update, and a tuple is the cheapest record to make."""

    symbol: str
    bid_sizes: dict[int, int]
    bid_prices: list[int]
    ask_sizes: dict[int, int]
    ask_prices: list[int]
    state: UsInstrumentState | None
    transact_time_ns: int | None
    book_hidden: bool
    last_trade_micros: int | None = None

    @property
    def bids(self) -> list[tuple[int, int]]:
        """The bids as ``(price_micros, size_micros)``, best (highest) first."""
        sizes = self.bid_sizes
        return [(price, sizes[price]) for price in reversed(self.bid_prices)]

    @property
    def asks(self) -> list[tuple[int, int]]:
        """The asks as ``(price_micros, size_micros)``, best (lowest) first."""
        sizes = self.ask_sizes
        return [(price, sizes[price]) for price in self.ask_prices]


# Entries one instrument's memo holds before it is emptied (a level seen again is merely parsed again):
# a book shows at most 2 * depth at once, and most updates repeat the last one's but a level or two.
_LEVELS_SEEN_LIMIT: Final = 512
_STATES: Final = {state.value: state for state in UsInstrumentState}
_parse_entry: Final = marketdatasubscription_pb2.BookEntry.FromString


def decode_update(
    update: marketdatasubscription_pb2.MarketDataUpdate | Any,
    scales: BookScales,
    *,
    depth: int,
    unaggregated: bool = False,
) -> BookImage:
    """``update`` (for ``scales.symbol``) as book sides; :class:`MalformedMessageError` for anything no
    venue book holds (see the module docstring). ``depth`` is the subscribed depth; ``unaggregated``
    says the update lists raw orders (one entry per resting order, several at a price, in the venue's
    price order), which are summed into levels.

    ``update`` is a :data:`~polyinfra.wire.us.market_data_lean.LeanUpdate` (the hot path) or a generated
    ``MarketDataUpdate``, read as one. A level is decoded once per instrument: its entry's bytes key
    ``scales.levels_seen``, the checked ``(price_micros, size_micros)`` pairs, so an update mostly made of
    levels seen before (every update is the whole book) costs a lookup per level.
    """
    if not isinstance(update, LeanUpdate):
        update = LeanUpdate.FromString(update.SerializeToString())
    symbol = scales.symbol
    if update.symbol != symbol:
        raise MalformedMessageError("update for another symbol", symbol=update.symbol[:_MAX_SYMBOL_CHARS])
    if update.price_scale != scales.price_scale and update.HasField("price_scale"):
        raise MalformedMessageError(
            "the update's price_scale contradicts the instrument's", symbol=symbol, sent=update.price_scale
        )
    if update.quantity_scale != scales.quantity_scale and update.HasField("quantity_scale"):
        raise MalformedMessageError(
            "the update's quantity_scale contradicts the instrument's", symbol=symbol, sent=update.quantity_scale
        )
    cache = scales.levels_seen
    if len(cache) > _LEVELS_SEEN_LIMIT:
        cache.clear()
    bid_entries = update.bids[:]
    ask_entries = update.offers[:]
    if len(bid_entries) > depth or len(ask_entries) > depth:
        raise MalformedMessageError(
            "more entries than the subscribed depth",
            symbol=symbol,
            entries=max(len(bid_entries), len(ask_entries)),
            depth=depth,
        )
    bids = _looked_up(cache, bid_entries, scales)
    asks = _looked_up(cache, ask_entries, scales)
    if unaggregated:
        bid_sizes, bid_prices = _summed(bids, scales, descending=True)
        ask_sizes, ask_prices = _summed(asks, scales, descending=False)
    else:
        bid_sizes = dict(bids)
        ask_sizes = dict(asks)
        bid_prices = list(bid_sizes)
        bid_prices.reverse()
        ask_prices = list(ask_sizes)
        # Distinct prices (no key lost to the dict) in the venue's order: bids descending, offers ascending.
        if (
            len(bid_sizes) != len(bids)
            or len(ask_sizes) != len(asks)
            or bid_prices != sorted(bid_prices)
            or ask_prices != sorted(ask_prices)
        ):
            raise MalformedMessageError("a price repeated or out of the venue's order", symbol=symbol)
    state: UsInstrumentState | None = None
    if update.HasField("state"):
        state = _STATES.get(update.state)
        if state is None:
            raise MalformedMessageError("unknown instrument state", symbol=symbol, state=update.state)
    transact_time_ns: int | None = None
    if update.HasField("transact_time"):
        stamp = update.transact_time
        seconds, nanos = stamp.seconds, stamp.nanos
        if seconds < 0 or not 0 <= nanos < 1_000_000_000:
            raise MalformedMessageError("impossible transact_time", symbol=symbol, seconds=seconds)
        transact_time_ns = seconds * 1_000_000_000 + nanos
    last_trade_micros: int | None = None
    if update.HasField("stats") and update.stats.HasField("last_trade_px"):
        px = update.stats.last_trade_px
        if not 0 < px < scales.price_scale or px % scales.tick_units:
            raise MalformedMessageError("a last trade price outside (0, 1) or off the tick", symbol=symbol, px=px)
        last_trade_micros = px * scales.price_micros
    return BookImage(
        symbol,
        bid_sizes,
        bid_prices,
        ask_sizes,
        ask_prices,
        state,
        transact_time_ns,
        update.book_hidden,
        last_trade_micros,
    )


def _looked_up(cache: dict[bytes, tuple[int, int]], entries: list[bytes], scales: BookScales) -> list[tuple[int, int]]:
    """The entries' levels: every update differs from the symbol's last in a level or two, so all are
    looked up at once and only the new ones learnt."""
    levels = list(map(cache.get, entries))
    if None in levels:
        return [level or _learn(cache, entry, scales) for level, entry in zip(levels, entries, strict=True)]
    return cast("list[tuple[int, int]]", levels)  # no None among them


def _learn(cache: dict[bytes, tuple[int, int]], entry: bytes, scales: BookScales) -> tuple[int, int]:
    """One entry's checked ``(price_micros, size_micros)``, remembered in ``cache``."""
    try:
        parsed = _parse_entry(entry)
    except DecodeError:
        raise MalformedMessageError("a book entry does not parse", symbol=scales.symbol) from None
    px = parsed.px
    if not 0 < px < scales.price_scale or px % scales.tick_units:
        raise MalformedMessageError("a price outside (0, 1) or off the tick", symbol=scales.symbol, px=px)
    size = parsed.qty * scales.quantity_micros
    if not 0 < size <= MAX_SIZE_MICROS:
        raise MalformedMessageError("a quantity that is not positive or beyond any market", symbol=scales.symbol)
    level = cache[entry] = (px * scales.price_micros, size)
    return level


def _summed(orders: list[tuple[int, int]], scales: BookScales, *, descending: bool) -> tuple[dict[int, int], list[int]]:
    """Raw orders summed into levels: sizes by price and the prices ascending. The orders must come in
    the venue's price order (several at one price, together); a level's sum is bounded like any size."""
    prices = [price for price, _ in orders]
    if prices != sorted(prices, reverse=descending):
        raise MalformedMessageError("orders out of the venue's price order", symbol=scales.symbol)
    sizes: dict[int, int] = {}
    for price, size in orders:
        sizes[price] = sizes.get(price, 0) + size
    if any(size > MAX_SIZE_MICROS for size in sizes.values()):
        raise MalformedMessageError("a level's orders sum beyond any market", symbol=scales.symbol)
    ascending = list(sizes)
    if descending:
        ascending.reverse()
    return sizes, ascending


def replace_book(book: OrderBook, image: BookImage) -> int | None:
    """Replace ``book`` with the update's levels (the venue sends whole books); returns its venue time in ms."""
    venue_ms = None if image.transact_time_ns is None else image.transact_time_ns // 1_000_000
    book.replace_sides(image.bid_sizes, image.bid_prices, image.ask_sizes, image.ask_prices, timestamp_ms=venue_ms)
    if image.last_trade_micros is not None:
        book.last_trade_price_micros = image.last_trade_micros
    return venue_ms


def tick_size_of(tick_size: Decimal | str) -> TickSize | None:
    """An instrument's tick as a book's :class:`~polyinfra.model.numbers.TickSize`; None for a tick the
    CLOB's grid does not know (the book then checks no tick, the decoder still does)."""
    try:
        return TickSize.parse(tick_size)
    except PolyinfraError:
        return None


def plan_streams(
    symbols: Sequence[str],
    *,
    symbols_per_stream: int = MAX_SYMBOLS_PER_STREAM,
    budget: int = MAX_STREAMS_PER_FIRM,
) -> list[list[str]]:
    """``symbols`` (distinct, in order) in shards of at most ``symbols_per_stream``, one stream each;
    :class:`StreamBudgetExceededError` when that needs more than ``budget`` streams."""
    if not 0 < symbols_per_stream <= MAX_SYMBOLS_PER_STREAM:
        raise InvalidValueError(
            f"symbols_per_stream must be 1 to {MAX_SYMBOLS_PER_STREAM}", symbols_per_stream=symbols_per_stream
        )
    if budget < 1:
        raise InvalidValueError("the stream budget must be at least 1", budget=budget)
    unique = list(dict.fromkeys(symbols))
    shards = [unique[start : start + symbols_per_stream] for start in range(0, len(unique), symbols_per_stream)]
    if len(shards) > budget:
        raise StreamBudgetExceededError(
            f"{len(unique)} symbols need {len(shards)} streams of {symbols_per_stream}, over the budget of {budget}",
            streams=len(shards),
            budget=budget,
        )
    return shards


def stream_share(*held: int, budget: int = MAX_STREAMS_PER_FIRM) -> int:
    """The streams left of the firm's pooled ``budget`` once the others sharing it hold ``held`` (a DropCopy
    archiver's :attr:`~polyinfra.us.dropcopy.DropCopyArchiver.stream_count`, say): what to give
    :class:`~polyinfra.us.live_books.UsLiveBooks` as its ``stream_budget``, so its plan is refused before
    opening rather than by the venue's RESOURCE_EXHAUSTED. :class:`StreamBudgetExceededError` when nothing
    is left."""
    if any(count < 0 for count in held):
        raise InvalidValueError("a stream count is never negative", held=list(held)[:10])
    left = budget - sum(held)
    if left < 1:
        raise StreamBudgetExceededError(
            f"the other streams hold {sum(held)} of the firm's {budget}: none is left for market data",
            streams=sum(held) + 1,
            budget=budget,
        )
    return left


class SilenceWatch:
    """When one stream last sent anything, and whether it has been silent too long.

    :meth:`heard` on every message (heartbeats included: they are the venue's proof of life);
    :meth:`silent` asks with the current time. A stream is silent from its start until its first message.
    """

    __slots__ = ("last_heard_s", "timeout_s")

    def __init__(self, *, timeout_s: float, now_s: float) -> None:
        if not timeout_s > 0:
            raise InvalidValueError("the silence timeout must be positive", timeout_s=timeout_s)
        self.timeout_s = timeout_s
        self.last_heard_s = now_s

    def heard(self, now_s: float) -> None:
        self.last_heard_s = now_s

    def silent(self, now_s: float) -> bool:
        return now_s - self.last_heard_s >= self.timeout_s


def checked_depth(depth: int) -> int:
    """A subscription's depth (0: the venue's default); :class:`InvalidValueError` out of 0 to 1000."""
    if isinstance(depth, bool) or not isinstance(depth, int) or not 0 <= depth <= MAX_DEPTH:
        raise InvalidValueError(f"depth must be 0 (the venue's default, {DEFAULT_DEPTH}) to {MAX_DEPTH}", depth=depth)
    return depth or DEFAULT_DEPTH


def checked_symbol(symbol: str) -> str:
    """A symbol as the venue names instruments: 1 to 200 printable ASCII characters."""
    if not isinstance(symbol, str) or not 0 < len(symbol) <= _MAX_SYMBOL_CHARS or not symbol.isascii():
        raise InvalidValueError("a symbol is 1 to 200 ASCII characters", symbol=str(symbol)[:_MAX_SYMBOL_CHARS])
    if not symbol.isprintable() or " " in symbol:
        raise InvalidValueError("a symbol has no spaces or control characters", symbol=symbol)
    return symbol
