"""The emulator's US exchange books: one YES-space book per instrument, traded by seeded agents.

Each instrument's book is a :class:`~polyinfra.core.matching.MatchingEngine` (the engine the CLOB side
uses), in the instrument's own tick: the venue keeps one book per market in YES terms, a NO order being
the opposite YES order (venue notes: US exchange market data). Only OPEN instruments trade; the others
keep empty books, as their states say nothing matches there.

:meth:`UsMarket.step` is one action of the agents on one OPEN instrument, drawn from ``random.Random``
seeded once: makers quote post-only around a fair price that random-walks on the tick grid and cancel
their farthest quotes, takers hit the best level with fill-and-kill orders. Sizes are whole numbers of
the instrument's quantity unit, so every level converts to the wire's int64 units exactly. The CLOB
simulator is not reused here because its exchange applies the CLOB's finer-tick rule near the price
extremes, which would move a US instrument off its tick.

Listeners hear the symbol of every book an action changed, synchronously; the market-data service
renders the book when it sends it, so any number of changes costs one update per stream.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from polyinfra.core.matching import Cancellation, Fill, MatchingEngine, Order, SubmitResult, SubmitStatus
from polyinfra.core.us_books import BookScales, book_scales
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState
from polyinfra.errors import InvalidValueError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side, TickSize
from polyinfra.model.orders import TimeInForce

__all__ = ["MAX_GENERATED_INSTRUMENTS", "UsMarket", "generated_instruments"]

_MAKER: Final = "us-sim-maker"
_TAKER: Final = "us-sim-taker"
_SEED_LEVELS_PER_SIDE: Final = 5
_MIN_ORDERS_PER_SIDE: Final = 3
_MAX_ORDERS: Final = 40
_MAX_QUOTE_DISTANCE_TICKS: Final = 8
_MAX_QUOTE_CONTRACTS: Final = 50
_FAIR_STEP_TICKS: Final = 2
# The fair price stays this many ticks inside (0, 1), so quotes around it stay inside too.
_FAIR_MARGIN_TICKS: Final = _MAX_QUOTE_DISTANCE_TICKS + 1
_CANCEL_PERCENT: Final = 30
_TAKE_PERCENT: Final = 25

# Generated instruments cycle through the listing shapes the venue uses (venue notes: US exchange instruments).
_GENERATED_SHAPES: Final = ((1000, "0.001"), (1000, "0.005"), (100, "0.01"))
_GENERATED_LEAGUES: Final = ("NFL", "NBA", "MLB", "NHL", "ATP")

Listener = Callable[[str], None]
FillListener = Callable[[str, Sequence[Fill]], None]

MAX_GENERATED_INSTRUMENTS: Final = 10_000
"""The most instruments :func:`generated_instruments` makes: ten streams' worth of symbols."""


def generated_instruments(count: int, *, first_day: date = date(2026, 12, 1)) -> list[UsInstrument]:
    """``count`` extra OPEN instruments with sport-style symbols (``aec-nfl-sim-0001-2026-12-01``), for
    streams of many symbols; hundredths of a contract, the three price scale and tick shapes in turn."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_GENERATED_INSTRUMENTS:
        raise InvalidValueError(f"the instrument count must be 0 to {MAX_GENERATED_INSTRUMENTS}", count=count)
    instruments = []
    for index in range(count):
        price_scale, tick = _GENERATED_SHAPES[index % len(_GENERATED_SHAPES)]
        league = _GENERATED_LEAGUES[index % len(_GENERATED_LEAGUES)]
        day = date.fromordinal(first_day.toordinal() + index % 28)
        instruments.append(
            UsInstrument(
                symbol=f"aec-{league.lower()}-sim-{index + 1:04d}-{day.isoformat()}",
                state=UsInstrumentState.OPEN,
                price_scale=price_scale,
                quantity_scale=100,
                tick_size=Decimal(tick),
                minimum_quantity=Decimal("0.01"),
                description=f"Simulated {league} market {index + 1}",
                settlement_currency="USD",
                settlement_price_scale=price_scale,
                expiration_date=day,
                metadata=MappingProxyType({"league": league}),
            )
        )
    return instruments


class _Book:
    __slots__ = ("engine", "fair_units", "instrument", "last_trade", "scales", "tick_micros")

    def __init__(self, instrument: UsInstrument, rng: random.Random) -> None:
        self.instrument = instrument
        self.scales = book_scales(instrument)
        tick = TickSize.parse(instrument.tick_size)
        self.tick_micros = tick.micros_per_tick
        self.engine = MatchingEngine(
            yes_token_id=TokenId(instrument.symbol), no_token_id=TokenId(f"{instrument.symbol}:no"), tick_size=tick
        )
        self.last_trade: tuple[int, int] | None = None
        """The last trade's ``(px, qty)`` in wire units."""
        ticks = instrument.price_scale // self.scales.tick_units
        self.fair_units = rng.randint(_FAIR_MARGIN_TICKS, ticks - _FAIR_MARGIN_TICKS) * self.scales.tick_units


class UsMarket:
    """The books of ``instruments``; ``seed`` fixes every action :meth:`step` takes.

    Raises :class:`~polyinfra.errors.InvalidValueError` for an instrument whose scales do not divide a
    million, whose tick is not one the engine knows, or whose grid is too coarse to quote around a price.
    """

    def __init__(self, instruments: Iterable[UsInstrument], *, seed: int) -> None:
        self._rng = random.Random(f"us-market:{seed}")
        self._books: dict[str, _Book] = {}
        for instrument in instruments:
            if instrument.symbol in self._books:
                raise InvalidValueError("an instrument is listed twice", symbol=instrument.symbol)
            book = _Book(instrument, self._rng)
            if instrument.price_scale // book.scales.tick_units <= 2 * _FAIR_MARGIN_TICKS:
                raise InvalidValueError("the instrument's tick is too coarse to simulate", symbol=instrument.symbol)
            self._books[instrument.symbol] = book
        self._trading = [book for book in self._books.values() if book.instrument.state is UsInstrumentState.OPEN]
        self._listeners: dict[int, Listener] = {}
        self._listener_ids = itertools.count()
        self._fill_listeners: list[FillListener] = []
        self._order_ids = itertools.count(1)
        self.steps = 0

    @property
    def instruments(self) -> list[UsInstrument]:
        return [book.instrument for book in self._books.values()]

    def instrument(self, symbol: str) -> UsInstrument | None:
        book = self._books.get(symbol)
        return None if book is None else book.instrument

    def scales(self, symbol: str) -> BookScales:
        return self._books[symbol].scales

    def levels(self, symbol: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The top ``depth`` levels as the wire carries them, ``(px, qty)`` in the instrument's units:
        bids best first (descending), offers best first (ascending)."""
        book = self._books[symbol]
        price_micros = book.scales.price_micros
        quantity_micros = book.scales.quantity_micros
        bid_sizes, ask_sizes = book.engine.yes_space_sizes()
        bids = [
            (price // price_micros, bid_sizes[price] // quantity_micros)
            for price in sorted(bid_sizes, reverse=True)[:depth]
        ]
        asks = [(price // price_micros, ask_sizes[price] // quantity_micros) for price in sorted(ask_sizes)[:depth]]
        return bids, asks

    def levels_micros(self, symbol: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """:meth:`levels` in micro-units, as a client's ``OrderBook`` holds them: what its book must equal."""
        scales = self._books[symbol].scales
        bids, asks = self.levels(symbol, depth)
        return (
            [(px * scales.price_micros, qty * scales.quantity_micros) for px, qty in bids],
            [(px * scales.price_micros, qty * scales.quantity_micros) for px, qty in asks],
        )

    def orders(self, symbol: str, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """One ``(px, qty)`` entry per resting order (``unaggregated``), best price first and in time
        priority at a price, ``depth`` entries per side."""
        book = self._books[symbol]
        price_micros = book.scales.price_micros
        quantity_micros = book.scales.quantity_micros
        orders = book.engine.open_orders()  # arrival order, which the stable sorts below keep at a price
        bids = sorted((order for order in orders if order.side is Side.BUY), key=lambda order: -order.price_micros)
        asks = sorted((order for order in orders if order.side is Side.SELL), key=lambda order: order.price_micros)

        def entries(side: list[Order]) -> list[tuple[int, int]]:
            return [(order.price_micros // price_micros, order.remaining_micros // quantity_micros) for order in side]

        return entries(bids[:depth]), entries(asks[:depth])

    def last_trade(self, symbol: str) -> tuple[int, int] | None:
        """The symbol's last trade as ``(px, qty)`` in wire units; None before its first."""
        return self._books[symbol].last_trade

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(symbol)`` after every action that changed the symbol's book; returns the remover."""
        listener_id = next(self._listener_ids)
        self._listeners[listener_id] = listener

        def remove() -> None:
            self._listeners.pop(listener_id, None)

        return remove

    def on_fills(self, listener: FillListener) -> None:
        """Call ``listener(symbol, fills)`` after the agents' takes fill (an order engine learns that its resting
        orders traded)."""
        self._fill_listeners.append(listener)

    def submit(self, symbol: str, order: Order) -> SubmitResult:
        """Match an order from outside the agents (the order engine's) against the symbol's book."""
        book = self._books[symbol]
        result = book.engine.submit(order)
        if result.fills:
            last = result.fills[-1]
            book.last_trade = (
                last.maker_price_micros // book.scales.price_micros,
                last.size_micros // book.scales.quantity_micros,
            )
        if result.fills or result.rests:
            self._changed(book)
        return result

    def cancel(self, symbol: str, order_id: str) -> Cancellation:
        """Take one resting order off the symbol's book (nothing for an unknown id)."""
        book = self._books[symbol]
        cancellation = book.engine.cancel(order_id)
        if cancellation.orders:
            self._changed(book)
        return cancellation

    def set_state(self, symbol: str, state: UsInstrumentState) -> UsInstrument:
        """Move the instrument to ``state`` (the agents trade OPEN instruments only); returns it as it now is."""
        book = self._books[symbol]
        book.instrument = replace(book.instrument, state=state)
        self._trading = [book for book in self._books.values() if book.instrument.state is UsInstrumentState.OPEN]
        self._changed(book)
        return book.instrument

    def seed_books(self) -> None:
        """Give every OPEN instrument a two-sided book of a few levels around its fair price."""
        for book in self._trading:
            for distance in range(1, _SEED_LEVELS_PER_SIDE + 1):
                for side in (Side.BUY, Side.SELL):
                    self._quote(book, side, distance)
            self._changed(book)

    def step(self) -> None:
        """One action (a quote, a cancel or a take) on one OPEN instrument."""
        if not self._trading:
            return
        rng = self._rng
        book = rng.choice(self._trading)
        self.steps += 1
        tick = book.scales.tick_units
        ticks = book.instrument.price_scale // tick
        fair_ticks = book.fair_units // tick + rng.randint(-_FAIR_STEP_TICKS, _FAIR_STEP_TICKS)
        book.fair_units = min(max(fair_ticks, _FAIR_MARGIN_TICKS), ticks - _FAIR_MARGIN_TICKS) * tick
        orders = book.engine.open_orders(_MAKER)
        bids = [order for order in orders if order.side is Side.BUY]
        asks = [order for order in orders if order.side is Side.SELL]
        roll = rng.randrange(100)
        if len(orders) >= _MAX_ORDERS:
            changed = self._cancel_farthest(book, orders)
        elif len(bids) < _MIN_ORDERS_PER_SIDE or len(asks) < _MIN_ORDERS_PER_SIDE:
            changed = self._quote(book, Side.BUY if len(bids) <= len(asks) else Side.SELL, rng.randint(1, 3))
        elif roll < _CANCEL_PERCENT:
            changed = self._cancel(book, rng.choice((bids, asks)))
        elif roll < _CANCEL_PERCENT + _TAKE_PERCENT:
            changed = self._take(book, rng.choice((Side.BUY, Side.SELL)))
        else:
            changed = self._quote(book, rng.choice((Side.BUY, Side.SELL)), rng.randint(1, _MAX_QUOTE_DISTANCE_TICKS))
        if changed:
            self._changed(book)

    # --- agents ----------------------------------------------------------------------------------

    def _quote(self, book: _Book, side: Side, distance_ticks: int) -> bool:
        offset = distance_ticks * book.scales.tick_units
        price_units = book.fair_units - offset if side is Side.BUY else book.fair_units + offset
        result = book.engine.submit(
            Order(
                order_id=self._order_id(),
                owner=_MAKER,
                token_id=book.engine.yes_token_id,
                side=side,
                price_micros=price_units * book.scales.price_micros,
                size_micros=self._size(book),
                post_only=True,
            )
        )
        return result.status is not SubmitStatus.REJECTED_POST_ONLY

    def _cancel(self, book: _Book, orders: Sequence[Order]) -> bool:
        # A side keeps its last few quotes, so takers always find a level.
        if len(orders) <= _MIN_ORDERS_PER_SIDE:
            return False
        return bool(book.engine.cancel(self._rng.choice(orders).order_id).orders)

    def _cancel_farthest(self, book: _Book, orders: Sequence[Order]) -> bool:
        fair_micros = book.fair_units * book.scales.price_micros
        farthest = max(orders, key=lambda order: abs(order.price_micros - fair_micros))
        return bool(book.engine.cancel(farthest.order_id).orders)

    def _take(self, book: _Book, side: Side) -> bool:
        token = book.engine.yes_token_id
        best = book.engine.best_ask(token) if side is Side.BUY else book.engine.best_bid(token)
        if best is None:
            return False
        result = book.engine.submit(
            Order(
                order_id=self._order_id(),
                owner=_TAKER,
                token_id=token,
                side=side,
                price_micros=best,
                size_micros=self._size(book),
                time_in_force=TimeInForce.FAK,
            )
        )
        if not result.fills:
            return False
        last = result.fills[-1]
        book.last_trade = (
            last.maker_price_micros // book.scales.price_micros,
            last.size_micros // book.scales.quantity_micros,
        )
        for listener in self._fill_listeners:
            listener(book.instrument.symbol, result.fills)
        return True

    def _size(self, book: _Book) -> int:
        # Whole numbers of the quantity unit (a hundredth of a contract at quantity scale 100).
        units = self._rng.randint(1, _MAX_QUOTE_CONTRACTS * book.scales.quantity_scale)
        return units * book.scales.quantity_micros

    def _order_id(self) -> str:
        return f"us-sim-{next(self._order_ids)}"

    def _changed(self, book: _Book) -> None:
        symbol = book.instrument.symbol
        for listener in list(self._listeners.values()):
            listener(symbol)
