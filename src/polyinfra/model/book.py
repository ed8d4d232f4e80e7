"""The L2 order book of one outcome token.

This is the hottest path of the system, so the state is plain ints of micro-units
(:mod:`polyinfra.model.numbers`): per side a dict ``price -> aggregate size`` plus the sorted list
of its prices, kept in order with :mod:`bisect`. Best prices are then one index away, a level
update is a dict store plus (only when a level appears or disappears) one list insert or delete.
Both lists ascend, so the best bid is the LAST bid price and the best ask the FIRST ask price.

The public reads speak ``Decimal``, computed in integers (a price times a size is an int of
pico-dollars) and converted exactly at the end: nothing depends on the caller's decimal context
and no float is ever involved.
"""

from __future__ import annotations

import sys
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Context, Decimal
from itertools import islice
from typing import Final, NamedTuple

from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import (
    MICROS,
    Side,
    TickSize,
    micros_to_decimal,
    picos_to_decimal,
    to_micros,
)

__all__ = ["MAX_SIZE_MICROS", "Depth", "FillEstimate", "Level", "OrderBook", "level_error", "side_error"]

MAX_SIZE_MICROS: Final = 10**18
"""The largest level size a book holds, in micro-units: 10**12 shares. A share of an outcome token
exists only while a dollar of collateral is locked for it and its complement, and there are fewer
than 10**11 dollars of USDC in the world, so no venue level comes near: a larger size is corrupt
data (or a hostile frame), never a big market."""

_GRID_PRICES: Final[dict[int, frozenset[int]]] = {
    tick.micros_per_tick: frozenset(range(tick.micros_per_tick, MICROS, tick.micros_per_tick)) for tick in TickSize
}
"""Every price strictly inside (0, 1) on each tick's grid, by micro-units per tick: one set lookup
checks range and grid together (about 12,000 ints for all ticks, under a megabyte). A snapshot's
hundreds of prices are checked in one C-level ``issuperset``. Keyed by the int, not the TickSize:
an Enum member hashes in Python, which would cost more than the check on every level."""
# Every tick size the venue uses is a multiple of the finest, so a price off its grid is off every
# grid: the check that still applies while a token's tick size is unknown.
_FINEST_TICK_MICROS: Final = min(tick.micros_per_tick for tick in TickSize)

# Average prices are quotients that need not terminate (1 dollar / 3 shares). 60 significant
# digits is far beyond any amount the venue can express, and owning the context means the result
# does not depend on what the caller did to the thread's default context.
_QUOTIENT = Context(prec=60)
_HALF_MICROS = MICROS // 2

# Level prices and sizes as Decimals, for the reads strategies make on every update: converting
# costs about 0.5 us, a hit about 0.04 us, and a book's prices (and many sizes) recur. Decimals are
# immutable, so sharing them is safe. Bounded: cleared when full.
_level_decimals: dict[int, Decimal] = {}
_LEVEL_DECIMALS_LIMIT = 1 << 16


class Level(NamedTuple):
    """One price level: the price and the aggregate size resting there."""

    price: Decimal
    size: Decimal


@dataclass(frozen=True, slots=True)
class Depth:
    """Liquidity in the top ``levels`` levels of one side."""

    shares: Decimal
    notional: Decimal
    """Dollars: the sum of price x size over the levels counted."""
    levels: int
    """How many levels were counted (fewer than asked for when the side is shallower)."""


@dataclass(frozen=True, slots=True)
class FillEstimate:
    """What walking the book for an order of a given size would fill, level by level.

    ``requested`` is in the unit of the request: shares for :meth:`OrderBook.buy_cost` and
    :meth:`OrderBook.sell_proceeds`, dollars for :meth:`OrderBook.shares_for_dollars`.
    ``amount`` is the dollars paid (buy) or received (sell) for ``filled_shares``.
    ``average_price`` and ``worst_price`` are None when nothing fills.
    """

    requested: Decimal
    filled_shares: Decimal
    amount: Decimal
    average_price: Decimal | None
    worst_price: Decimal | None
    complete: bool


class OrderBook:
    """The L2 book of one token: aggregate size per price on each side.

    The int API (``apply_snapshot``, ``set_bid``/``set_ask``/``set_level``, ``best_bid_micros``,
    ``best_ask_micros``) is the fast path the market feed drives; it trusts its inputs to be
    non-negative micro-units (from :func:`~polyinfra.model.numbers.parse_micros`). The Decimal
    API reads the book and validates every argument. Not thread-safe: one owner updates a book.
    """

    __slots__ = (
        "_ask_prices",
        "_asks",
        "_bid_prices",
        "_bids",
        "best_ask_micros",
        "best_bid_micros",
        "last_trade_price_micros",
        "market",
        "tick_size",
        "timestamp_ms",
        "token_id",
    )

    token_id: str
    market: str
    best_bid_micros: int | None
    """The highest bid price in micro-units, None without bids. Read-only: the book maintains it
    (a plain attribute rather than a property because strategies read it on every update)."""
    best_ask_micros: int | None
    """The lowest ask price in micro-units, None without asks. Read-only, like ``best_bid_micros``."""
    tick_size: TickSize | None
    """The market's tick size; the feed replaces it on ``tick_size_change`` (venue notes: Market channel)."""
    timestamp_ms: int | None
    """Venue time (ms since the epoch) of the last snapshot or change applied, when known."""
    last_trade_price_micros: int | None
    """The venue's last trade price in micro-units (``last_trade_price`` events), when known."""

    def __init__(self, token_id: str, *, market: str = "", tick_size: TickSize | None = None) -> None:
        self.token_id = token_id
        self.market = market
        self.tick_size = tick_size
        self.timestamp_ms = None
        self.last_trade_price_micros = None
        self.best_bid_micros = None
        self.best_ask_micros = None
        self._bids: dict[int, int] = {}
        self._asks: dict[int, int] = {}
        self._bid_prices: list[int] = []
        self._ask_prices: list[int] = []

    def __repr__(self) -> str:
        return (
            f"OrderBook(token_id={self.token_id!r}, bids={len(self._bids)}, asks={len(self._asks)}, "
            f"best_bid={self.best_bid_micros}, best_ask={self.best_ask_micros})"
        )

    # --- int fast path -------------------------------------------------------------------------

    def apply_snapshot(
        self,
        bids: Mapping[int, int] | Iterable[tuple[int, int]],
        asks: Mapping[int, int] | Iterable[tuple[int, int]],
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Replace both sides with levels ``price_micros -> size_micros`` (a mapping, or pairs in
        any order). Zero sizes are skipped; when a price repeats, the last size given wins.
        """
        bid_sizes, bid_prices = _side(bids)
        ask_sizes, ask_prices = _side(asks)
        self._bids = bid_sizes
        self._asks = ask_sizes
        self._bid_prices = bid_prices
        self._ask_prices = ask_prices
        self.best_bid_micros = bid_prices[-1] if bid_prices else None
        self.best_ask_micros = ask_prices[0] if ask_prices else None
        self.timestamp_ms = timestamp_ms

    def replace_sides(
        self,
        bid_sizes: dict[int, int],
        bid_prices: list[int],
        ask_sizes: dict[int, int],
        ask_prices: list[int],
        *,
        timestamp_ms: int | None = None,
    ) -> None:
        """Replace both sides with ready-made ones, taken as they are (not copied): sizes by price
        (every size positive) and the same prices ascending. For a feed whose decoder has already
        checked and ordered the levels (the US exchange sends whole books); others use
        :meth:`apply_snapshot`."""
        self._bids = bid_sizes
        self._asks = ask_sizes
        self._bid_prices = bid_prices
        self._ask_prices = ask_prices
        self.best_bid_micros = bid_prices[-1] if bid_prices else None
        self.best_ask_micros = ask_prices[0] if ask_prices else None
        self.timestamp_ms = timestamp_ms

    def set_bid(self, price_micros: int, size_micros: int) -> None:
        """Set the bid level's NEW aggregate size; 0 removes it (a missing level is a no-op)."""
        sizes = self._bids
        if size_micros:
            if price_micros not in sizes:
                prices = self._bid_prices
                insort(prices, price_micros)
                self.best_bid_micros = prices[-1]
            sizes[price_micros] = size_micros
        elif sizes.pop(price_micros, 0):
            prices = self._bid_prices
            del prices[bisect_left(prices, price_micros)]
            self.best_bid_micros = prices[-1] if prices else None

    def set_ask(self, price_micros: int, size_micros: int) -> None:
        """Set the ask level's NEW aggregate size; 0 removes it (a missing level is a no-op)."""
        sizes = self._asks
        if size_micros:
            if price_micros not in sizes:
                prices = self._ask_prices
                insort(prices, price_micros)
                self.best_ask_micros = prices[0]
            sizes[price_micros] = size_micros
        elif sizes.pop(price_micros, 0):
            prices = self._ask_prices
            del prices[bisect_left(prices, price_micros)]
            self.best_ask_micros = prices[0] if prices else None

    def set_level(self, side: Side, price_micros: int, size_micros: int) -> None:
        """Set a level's NEW aggregate size on ``side`` (BUY = bids, SELL = asks); 0 removes it."""
        if _is_buy(side):
            self.set_bid(price_micros, size_micros)
        else:
            self.set_ask(price_micros, size_micros)

    def clear(self) -> None:
        """Remove every level and forget the timestamp and the last trade price."""
        self.apply_snapshot((), ())
        self.last_trade_price_micros = None

    # --- state -----------------------------------------------------------------------------------

    @property
    def is_empty(self) -> bool:
        """No level on either side."""
        return not self._bid_prices and not self._ask_prices

    @property
    def is_one_sided(self) -> bool:
        """Exactly one side has levels."""
        return bool(self._bid_prices) != bool(self._ask_prices)

    @property
    def is_crossed(self) -> bool:
        """The best bid is at or above the best ask.

        The venue matches such orders at once, so a crossed (or locked) local book means the
        local state has drifted from the venue's.
        """
        bids, asks = self._bid_prices, self._ask_prices
        return bool(bids) and bool(asks) and bids[-1] >= asks[0]

    def levels_error(self, tick_size: TickSize | None) -> str | None:
        """Why this book's levels could be in no venue book of ``tick_size``, None when they could
        (see :func:`level_error`)."""
        return side_error(self._bids, tick_size) or side_error(self._asks, tick_size)

    # --- Decimal API -----------------------------------------------------------------------------

    def best_bid(self) -> Level | None:
        """The highest bid, None when there are no bids."""
        prices = self._bid_prices
        if not prices:
            return None
        price = prices[-1]
        return Level(_level_decimal(price), _level_decimal(self._bids[price]))

    def best_ask(self) -> Level | None:
        """The lowest ask, None when there are no asks."""
        prices = self._ask_prices
        if not prices:
            return None
        price = prices[0]
        return Level(_level_decimal(price), _level_decimal(self._asks[price]))

    def bids(self, limit: int | None = None) -> list[Level]:
        """Bid levels, best (highest) first; at most ``limit`` of them when given."""
        prices = (
            reversed(self._bid_prices) if limit is None else islice(reversed(self._bid_prices), _level_count(limit))
        )
        sizes = self._bids
        return [Level(_level_decimal(price), _level_decimal(sizes[price])) for price in prices]

    def asks(self, limit: int | None = None) -> list[Level]:
        """Ask levels, best (lowest) first; at most ``limit`` of them when given."""
        prices = self._ask_prices if limit is None else islice(self._ask_prices, _level_count(limit))
        sizes = self._asks
        return [Level(_level_decimal(price), _level_decimal(sizes[price])) for price in prices]

    def bid_levels_micros(self) -> list[tuple[int, int]]:
        """Every bid as ``(price, size)`` in micro-units, best first: the exact levels, for storage."""
        sizes = self._bids
        return [(price, sizes[price]) for price in reversed(self._bid_prices)]

    def ask_levels_micros(self) -> list[tuple[int, int]]:
        """Every ask as ``(price, size)`` in micro-units, best first: the exact levels, for storage."""
        sizes = self._asks
        return [(price, sizes[price]) for price in self._ask_prices]

    def mid(self) -> Decimal | None:
        """The midpoint of the best bid and the best ask; None unless both sides have levels."""
        bids, asks = self._bid_prices, self._ask_prices
        if not bids or not asks:
            return None
        # (bid + ask) / 2 in micros is a whole number of pico-units: exact.
        return picos_to_decimal((bids[-1] + asks[0]) * _HALF_MICROS)

    def spread(self) -> Decimal | None:
        """Best ask minus best bid (negative when crossed); None unless both sides have levels."""
        bids, asks = self._bid_prices, self._ask_prices
        if not bids or not asks:
            return None
        return micros_to_decimal(asks[0] - bids[-1])

    def depth(self, side: Side, levels: int) -> Depth:
        """Shares and notional over the best ``levels`` levels of the BUY (bid) or SELL (ask) side."""
        count = _level_count(levels)
        if _is_buy(side):
            sizes = self._bids
            prices = islice(reversed(self._bid_prices), count)
        else:
            sizes = self._asks
            prices = islice(self._ask_prices, count)
        shares = 0
        notional = 0
        counted = 0
        for price in prices:
            size = sizes[price]
            shares += size
            notional += price * size
            counted += 1
        return Depth(micros_to_decimal(shares), picos_to_decimal(notional), counted)

    def buy_cost(self, shares: Decimal | str | int) -> FillEstimate:
        """What buying ``shares`` now would cost, walking the asks from the lowest price up."""
        return self._walk(to_micros(shares), self._asks, self._ask_prices)

    def sell_proceeds(self, shares: Decimal | str | int) -> FillEstimate:
        """What selling ``shares`` now would raise, walking the bids from the highest price down."""
        return self._walk(to_micros(shares), self._bids, reversed(self._bid_prices))

    def shares_for_dollars(self, dollars: Decimal | str | int) -> FillEstimate:
        """How many shares ``dollars`` would buy now, walking the asks from the lowest price up.

        At the last level touched the shares are floored to a whole micro-share (10**-6), so
        ``amount`` may fall short of ``dollars`` by less than that level's price x 10**-6 and the
        estimate is still ``complete``. It is incomplete only when the asks run out first.
        """
        budget_micros = to_micros(dollars)
        remaining = budget_micros * MICROS  # pico-dollars, the unit of price x size
        filled = 0
        worst_price = 0
        sizes = self._asks
        for price in self._ask_prices:
            level_cost = price * sizes[price]
            if remaining < level_cost:
                take = remaining // price
                if take:
                    filled += take
                    remaining -= take * price
                    worst_price = price
                complete = True
                break
            filled += sizes[price]
            remaining -= level_cost
            worst_price = price
        else:
            complete = remaining == 0
        spent = budget_micros * MICROS - remaining
        return _estimate(micros_to_decimal(budget_micros), filled, spent, worst_price, complete)

    def slippage(self, side: Side, shares: Decimal | str | int) -> Decimal | None:
        """How much worse than the mid an order of ``shares`` would fill on average.

        For a BUY, VWAP minus mid; for a SELL, mid minus VWAP: positive means worse than the mid.
        The VWAP covers what the book can fill (check :meth:`buy_cost` for completeness). None
        when there is no mid or nothing would fill.
        """
        buy = _is_buy(side)
        mid = self.mid()
        estimate = self.buy_cost(shares) if buy else self.sell_proceeds(shares)
        if mid is None or estimate.average_price is None:
            return None
        if buy:
            return _QUOTIENT.subtract(estimate.average_price, mid)
        return _QUOTIENT.subtract(mid, estimate.average_price)

    def _walk(self, wanted: int, sizes: dict[int, int], prices: Iterable[int]) -> FillEstimate:
        """Fill ``wanted`` micro-shares against ``prices`` (best first) of one side."""
        remaining = wanted
        amount = 0
        worst_price = 0
        for price in prices:
            if not remaining:
                break
            take = min(remaining, sizes[price])
            remaining -= take
            amount += take * price
            worst_price = price
        return _estimate(micros_to_decimal(wanted), wanted - remaining, amount, worst_price, remaining == 0)


def level_error(price_micros: int, size_micros: int, tick_size: TickSize | None) -> str | None:
    """Why a level (micro-units) can be in no venue book, None when it can.

    Prices lie strictly between 0 and 1 on the token's tick grid (every tick's grid when the tick
    size is unknown); sizes are at most :data:`MAX_SIZE_MICROS` (0 removes a level).
    """
    grid = _grid_prices(tick_size)
    if price_micros in grid and size_micros <= MAX_SIZE_MICROS:
        return None
    if not 0 < price_micros < MICROS:
        return f"price {micros_to_decimal(price_micros)} outside (0, 1)"
    if price_micros not in grid:
        return f"price {micros_to_decimal(price_micros)} off the tick grid ({tick_size or 'any tick size'})"
    return f"size {micros_to_decimal(size_micros)} larger than any book holds"


def side_error(sizes: Mapping[int, int], tick_size: TickSize | None) -> str | None:
    """:func:`level_error` of the first bad level of one side (``price -> size``), None when all
    are good: checked in two C-level passes first, since a snapshot has hundreds of levels."""
    if not sizes or (_grid_prices(tick_size).issuperset(sizes) and max(sizes.values()) <= MAX_SIZE_MICROS):
        return None
    return next(error for price, size in sizes.items() if (error := level_error(price, size, tick_size)))


def _grid_prices(tick_size: TickSize | None) -> frozenset[int]:
    return _GRID_PRICES[_FINEST_TICK_MICROS if tick_size is None else tick_size.micros_per_tick]


def _estimate(requested: Decimal, filled: int, amount_picos: int, worst_price: int, complete: bool) -> FillEstimate:
    if not filled:
        return FillEstimate(requested, Decimal(0), Decimal(0), None, None, complete)
    return FillEstimate(
        requested=requested,
        filled_shares=micros_to_decimal(filled),
        amount=picos_to_decimal(amount_picos),
        average_price=_QUOTIENT.divide(Decimal(amount_picos), Decimal(filled * MICROS)),
        worst_price=micros_to_decimal(worst_price),
        complete=complete,
    )


def _side(levels: Mapping[int, int] | Iterable[tuple[int, int]]) -> tuple[dict[int, int], list[int]]:
    """One side's sizes by price without zero sizes, and its prices ascending."""
    sizes = dict(levels)
    if not all(sizes.values()):  # the venue never sends empty levels; cheaper than `0 in values()`
        sizes = {price: size for price, size in sizes.items() if size}
    # Venue snapshots arrive sorted (bids ascending, asks descending, venue notes: Order books): one run each,
    # which sorted() detects in linear time.
    return sizes, sorted(sizes)


def _level_decimal(micros: int) -> Decimal:
    value = _level_decimals.get(micros)
    if value is None:
        value = micros_to_decimal(micros)
        if len(_level_decimals) >= _LEVEL_DECIMALS_LIMIT:
            _level_decimals.clear()
        _level_decimals[micros] = value
    return value


def _is_buy(side: Side) -> bool:
    if side == Side.BUY:
        return True
    if side == Side.SELL:
        return False
    raise InvalidValueError("side must be Side.BUY or Side.SELL", side=side)


def _level_count(levels: int) -> int:
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 0:
        # Without the value: a hostile int is too long to print (the 4,300-digit limit).
        raise InvalidValueError("a level count must be a non-negative int")
    # islice stops at sys.maxsize; no book has that many levels, so a larger count means "all".
    return min(levels, sys.maxsize)
