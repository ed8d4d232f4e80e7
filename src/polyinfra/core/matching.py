"""Price-time-priority matching for one binary market (venue notes: Matching). Pure: no clock, no I/O.

Both outcome tokens of a market trade against one book kept in the YES token's price space:

=============  ================
order          Yes-space entry
=============  ================
BUY Yes at p   bid at p
SELL Yes at p  ask at p
BUY No at q    ask at 1 - q
SELL No at q   bid at 1 - q
=============  ================

A bid crosses an ask when bid >= ask. The taker trades at the RESTING order's price, so a taker
gets any price improvement (a buy at 0.55 against a resting 0.52 pays 0.52). A match
between the same token on both sides is a normal trade; BUY Yes against BUY No mints a new pair and
SELL Yes against SELL No merges one (venue notes: Matching).

The venue shows each token its own projection of that book: the Yes book is the Yes-space book;
the No book has a bid at 1-p for every Yes-space ask p and an ask at 1-p for every Yes-space bid
(one ``price_change`` carries one entry per token for a single order, venue notes: Market channel).

Prices and sizes are ints of micro-units (:mod:`polyinfra.model.numbers`). Once submitted, an
:class:`Order` belongs to the engine, which updates its ``remaining_micros`` as it fills.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import MICROS, Side, TickSize
from polyinfra.model.orders import TimeInForce

__all__ = [
    "BookLevels",
    "Cancellation",
    "Fill",
    "Level",
    "LevelChange",
    "MatchKind",
    "MatchingEngine",
    "Order",
    "SubmitResult",
    "SubmitStatus",
    "project_levels",
]


class MatchKind(StrEnum):
    """How a fill settles between the two outcome tokens."""

    NORMAL = "normal"
    """Both orders trade the same token: shares change hands."""
    MINT = "mint"
    """BUY Yes against BUY No: the two buyers pay 1 together and a new Yes/No pair is minted."""
    MERGE = "merge"
    """SELL Yes against SELL No: a Yes/No pair is merged back into 1 of collateral."""


class SubmitStatus(StrEnum):
    """What became of a submitted order."""

    RESTING = "resting"
    """The remainder rests on the book (possibly after fills)."""
    FILLED = "filled"
    """Filled entirely."""
    KILLED = "killed"
    """FOK that could not fill entirely (nothing changed), or FAK whose remainder was cancelled."""
    REJECTED_POST_ONLY = "rejected_post_only"
    """Post-only order that would have crossed the book; nothing changed (venue notes: Orders)."""


@dataclass(slots=True, eq=False)
class Order:
    """An order as the engine sees it: one outcome token, a side and a limit price in that token's space.

    ``expiration_s`` is a unix time in seconds for GTD orders and 0 for every other type (the
    venue's "0 means none", venue notes: Orders). Equality is identity: two orders are never "the same"
    because their fields match.
    """

    order_id: str
    owner: str
    token_id: TokenId
    side: Side
    price_micros: int
    size_micros: int
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    expiration_s: int = 0
    remaining_micros: int = field(init=False)
    """Size not yet filled; the engine lowers it as the order fills."""

    def __post_init__(self) -> None:
        self.remaining_micros = self.size_micros


class Level(NamedTuple):
    """One aggregate price level of a token's book."""

    price_micros: int
    size_micros: int


class BookLevels(NamedTuple):
    """A token's levels in the venue's order: bids ascending, asks descending (best price LAST)."""

    bids: list[Level]
    asks: list[Level]


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A Yes-space level's new aggregate size after an action; 0 means the level is gone.

    ``side`` is BUY for a bid level and SELL for an ask level, as in ``price_change`` (venue notes: Market channel).
    """

    side: Side
    price_micros: int
    size_micros: int


@dataclass(frozen=True, slots=True)
class Fill:
    """One match between a resting (maker) order and the incoming (taker) order.

    Each side's token and price are as that side sees them: in a mint at Yes-space 0.60 the Yes
    buyer pays 0.60 and the No buyer 0.40. ``maker_remaining_micros`` is the maker's size left
    after this fill (0: it left the book).
    """

    maker_order_id: str
    maker_owner: str
    maker_token_id: TokenId
    maker_side: Side
    maker_price_micros: int
    maker_remaining_micros: int
    taker_order_id: str
    taker_owner: str
    taker_token_id: TokenId
    taker_side: Side
    taker_price_micros: int
    size_micros: int
    kind: MatchKind


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """The outcome of :meth:`MatchingEngine.submit`.

    ``level_changes`` lists every Yes-space level the submission touched, once each, in the order
    first touched, with its aggregate size afterwards: what a ``price_change`` reports.
    """

    order: Order
    status: SubmitStatus
    fills: tuple[Fill, ...]
    killed_micros: int
    """Size cancelled instead of filled or rested (FOK: all of it; FAK: the remainder)."""
    level_changes: tuple[LevelChange, ...]

    @property
    def rests(self) -> bool:
        """True when the taker's remainder now rests on the book."""
        return self.status is SubmitStatus.RESTING

    @property
    def filled_micros(self) -> int:
        return sum(fill.size_micros for fill in self.fills)


@dataclass(frozen=True, slots=True)
class Cancellation:
    """Orders taken off the book by a cancel or an expiry, and the Yes-space levels that changed."""

    orders: tuple[Order, ...]
    level_changes: tuple[LevelChange, ...]


def project_levels(bid_sizes: Mapping[int, int], ask_sizes: Mapping[int, int], *, yes_token: bool) -> BookLevels:
    """One token's view of Yes-space aggregate sizes (price -> size), in the venue's order.

    The Yes token sees the book as it is; the No token sees a bid at 1-p for every Yes-space ask
    p and an ask at 1-p for every Yes-space bid.
    """
    if yes_token:
        return BookLevels(
            bids=[Level(price, size) for price, size in sorted(bid_sizes.items())],
            asks=[Level(price, size) for price, size in sorted(ask_sizes.items(), reverse=True)],
        )
    # No-space prices run opposite to Yes-space ones: ascending No bids are descending Yes asks.
    return BookLevels(
        bids=[Level(MICROS - price, size) for price, size in sorted(ask_sizes.items(), reverse=True)],
        asks=[Level(MICROS - price, size) for price, size in sorted(bid_sizes.items())],
    )


class _BookSide:
    """One side of the Yes-space book: a FIFO queue of orders per price, aggregate sizes, sorted prices."""

    __slots__ = ("_prices", "_queues", "is_bid", "sizes")

    def __init__(self, *, is_bid: bool) -> None:
        self.is_bid = is_bid
        # dicts keep insertion order: iterating a queue walks it in time priority.
        self._queues: dict[int, dict[str, Order]] = {}
        self.sizes: dict[int, int] = {}
        self._prices: list[int] = []  # ascending

    def best(self) -> int | None:
        if not self._prices:
            return None
        return self._prices[-1] if self.is_bid else self._prices[0]

    def is_reached_by(self, limit_micros: int, price_micros: int) -> bool:
        """True when an opposite order limited at ``limit_micros`` crosses this side's ``price_micros``."""
        return price_micros >= limit_micros if self.is_bid else price_micros <= limit_micros

    def prices_by_priority(self) -> Iterator[int]:
        return reversed(self._prices) if self.is_bid else iter(self._prices)

    def fillable_micros(self, limit_micros: int, wanted_micros: int) -> int:
        """Size an order limited at ``limit_micros`` could take from this side, counted up to ``wanted_micros``."""
        total = 0
        for price in self.prices_by_priority():
            if total >= wanted_micros or not self.is_reached_by(limit_micros, price):
                break
            total += self.sizes[price]
        return total

    def queue(self, price_micros: int) -> dict[str, Order]:
        return self._queues[price_micros]

    def add(self, price_micros: int, order: Order) -> None:
        queue = self._queues.get(price_micros)
        if queue is None:
            queue = self._queues[price_micros] = {}
            self.sizes[price_micros] = 0
            insort(self._prices, price_micros)
        queue[order.order_id] = order
        self.sizes[price_micros] += order.remaining_micros

    def reduce(self, price_micros: int, filled_micros: int) -> None:
        self.sizes[price_micros] -= filled_micros

    def remove(self, price_micros: int, order: Order) -> None:
        """Take ``order`` off its level; its unfilled remainder leaves the aggregate."""
        queue = self._queues[price_micros]
        del queue[order.order_id]
        self.sizes[price_micros] -= order.remaining_micros
        if not queue:
            del self._queues[price_micros]
            del self.sizes[price_micros]
            self._prices.remove(price_micros)


class MatchingEngine:
    """The order book and matching of ONE binary market, in the Yes token's price space.

    Time priority is arrival order at a price; a level's orders fill first-in, first-out.
    """

    def __init__(self, *, yes_token_id: TokenId, no_token_id: TokenId, tick_size: TickSize) -> None:
        if yes_token_id == no_token_id:
            raise InvalidValueError("a market needs two distinct tokens", token_id=yes_token_id)
        self.yes_token_id = yes_token_id
        self.no_token_id = no_token_id
        self._tick_size = tick_size
        self._bids = _BookSide(is_bid=True)
        self._asks = _BookSide(is_bid=False)
        self._orders: dict[str, Order] = {}
        self._orders_by_owner: dict[str, dict[str, Order]] = {}
        self._gtd_orders: dict[str, Order] = {}

    # --- reading ---------------------------------------------------------------------------------

    @property
    def tick_size(self) -> TickSize:
        return self._tick_size

    def levels(self, token_id: str) -> BookLevels:
        """Aggregate levels of either token, bids ascending and asks descending (best price last)."""
        return project_levels(self._bids.sizes, self._asks.sizes, yes_token=self._is_yes(token_id))

    def yes_space_sizes(self) -> tuple[dict[int, int], dict[int, int]]:
        """Copies of the Yes-space aggregate sizes (price -> size) of the bids and of the asks."""
        return dict(self._bids.sizes), dict(self._asks.sizes)

    def best_bid(self, token_id: str) -> int | None:
        """The token's best bid in its own price space, or None when it has no bids."""
        if self._is_yes(token_id):
            return self._bids.best()
        yes_ask = self._asks.best()
        return None if yes_ask is None else MICROS - yes_ask

    def best_ask(self, token_id: str) -> int | None:
        """The token's best ask in its own price space, or None when it has no asks."""
        if self._is_yes(token_id):
            return self._asks.best()
        yes_bid = self._bids.best()
        return None if yes_bid is None else MICROS - yes_bid

    def order(self, order_id: str) -> Order | None:
        """The resting order with this id, if any."""
        return self._orders.get(order_id)

    def open_orders(self, owner: str | None = None) -> list[Order]:
        """Resting orders in arrival order: all of them, or those of one owner."""
        if owner is None:
            return list(self._orders.values())
        return list(self._orders_by_owner.get(owner, {}).values())

    # --- changing --------------------------------------------------------------------------------

    def set_tick_size(self, tick_size: TickSize) -> None:
        """New orders must sit on the new grid; resting orders keep their prices."""
        self._tick_size = tick_size

    def validate(self, order: Order) -> None:
        """Raise the typed error :meth:`submit` would raise for ``order``, changing nothing."""
        order_id = order.order_id
        token_id = order.token_id
        if not order_id:
            raise InvalidValueError("order id is empty", token_id=token_id)
        if order_id in self._orders:
            raise InvalidValueError("an order with this id is already live", order_id=order_id)
        if token_id not in (self.yes_token_id, self.no_token_id):
            raise InvalidValueError("token is not traded in this market", order_id=order_id, token_id=token_id)
        price = order.price_micros
        if not 0 < price < MICROS:
            raise InvalidValueError("price must be inside (0, 1)", order_id=order_id, price_micros=price)
        if not self._tick_size.is_on_grid(price):
            raise InvalidNumberError(
                "price is not on the tick grid", order_id=order_id, price_micros=price, tick_size=self._tick_size.text
            )
        if order.size_micros <= 0:
            raise InvalidValueError("size must be positive", order_id=order_id, size_micros=order.size_micros)
        if order.remaining_micros != order.size_micros:
            raise InvalidValueError("order was already submitted", order_id=order_id)
        if order.post_only and not order.time_in_force.rests:
            # Both official clients refuse post-only FOK/FAK (venue notes: Orders).
            raise InvalidValueError(
                "post-only orders must be GTC or GTD", order_id=order_id, order_type=order.time_in_force
            )
        if (order.time_in_force is TimeInForce.GTD) != (order.expiration_s > 0):
            raise InvalidValueError(
                "GTD orders need an expiration and other types none (0)",
                order_id=order_id,
                order_type=order.time_in_force,
                expiration_s=order.expiration_s,
            )

    def submit(self, order: Order) -> SubmitResult:
        """Match ``order`` against the book, then rest, kill or reject its remainder by its type.

        Raises :class:`~polyinfra.errors.InvalidValueError` (or its subclass
        :class:`~polyinfra.errors.InvalidNumberError` for an off-grid price) for an invalid order.
        """
        self.validate(order)
        side, price = self._yes_space(order)
        own, opposite = (self._bids, self._asks) if side is Side.BUY else (self._asks, self._bids)
        best_opposite = opposite.best()
        crosses = best_opposite is not None and opposite.is_reached_by(price, best_opposite)
        if order.post_only and crosses:
            return SubmitResult(order, SubmitStatus.REJECTED_POST_ONLY, (), 0, ())
        if (
            order.time_in_force is TimeInForce.FOK
            and opposite.fillable_micros(price, order.size_micros) < order.size_micros
        ):
            return SubmitResult(order, SubmitStatus.KILLED, (), order.size_micros, ())

        touched: dict[tuple[Side, int], None] = {}
        fills = self._match(order, price, opposite, touched) if crosses else []
        killed = 0
        if not order.remaining_micros:
            status = SubmitStatus.FILLED
        elif order.time_in_force.rests:
            self._rest(order, own, price)
            touched[side, price] = None
            status = SubmitStatus.RESTING
        else:
            killed = order.remaining_micros
            status = SubmitStatus.KILLED
        return SubmitResult(order, status, tuple(fills), killed, self._level_changes(touched))

    def cancel(self, order_id: str) -> Cancellation:
        """Cancel one resting order; an unknown (or already filled) id cancels nothing."""
        order = self._orders.get(order_id)
        return self._cancel([] if order is None else [order])

    def cancel_owner(self, owner: str) -> Cancellation:
        """Cancel every resting order of ``owner``."""
        return self._cancel(self.open_orders(owner))

    def cancel_all(self) -> Cancellation:
        """Cancel every resting order (the market closes)."""
        return self._cancel(self.open_orders())

    def expire(self, now_s: int) -> Cancellation:
        """Cancel the GTD orders whose ``expiration_s`` is ``now_s`` or earlier."""
        return self._cancel([order for order in self._gtd_orders.values() if order.expiration_s <= now_s])

    # --- internals -------------------------------------------------------------------------------

    def _is_yes(self, token_id: str) -> bool:
        if token_id == self.yes_token_id:
            return True
        if token_id == self.no_token_id:
            return False
        raise InvalidValueError("token is not traded in this market", token_id=token_id)

    def _yes_space(self, order: Order) -> tuple[Side, int]:
        """The Yes-space book side (BUY = bid) and price an order rests at or is limited to."""
        if order.token_id == self.yes_token_id:
            return order.side, order.price_micros
        return order.side.opposite, MICROS - order.price_micros

    def _token_price(self, token_id: TokenId, yes_price_micros: int) -> int:
        return yes_price_micros if token_id == self.yes_token_id else MICROS - yes_price_micros

    def _side(self, side: Side) -> _BookSide:
        return self._bids if side is Side.BUY else self._asks

    def _match(
        self, taker: Order, limit_micros: int, opposite: _BookSide, touched: dict[tuple[Side, int], None]
    ) -> list[Fill]:
        opposite_side = Side.BUY if opposite.is_bid else Side.SELL
        fills: list[Fill] = []
        while taker.remaining_micros:
            price = opposite.best()
            if price is None or not opposite.is_reached_by(limit_micros, price):
                break
            touched[opposite_side, price] = None
            queue = opposite.queue(price)
            # The queue dict is dropped from the side when its last order leaves; the loop then ends.
            while taker.remaining_micros and queue:
                maker = next(iter(queue.values()))
                quantity = min(taker.remaining_micros, maker.remaining_micros)
                maker.remaining_micros -= quantity
                taker.remaining_micros -= quantity
                opposite.reduce(price, quantity)
                if not maker.remaining_micros:
                    self._remove(maker, opposite, price)
                fills.append(self._fill(maker, taker, price, quantity))
        return fills

    def _fill(self, maker: Order, taker: Order, yes_price_micros: int, quantity_micros: int) -> Fill:
        if maker.token_id == taker.token_id:
            kind = MatchKind.NORMAL
        else:
            # Different tokens cross only when both sides buy (mint) or both sell (merge).
            kind = MatchKind.MINT if taker.side is Side.BUY else MatchKind.MERGE
        return Fill(
            maker_order_id=maker.order_id,
            maker_owner=maker.owner,
            maker_token_id=maker.token_id,
            maker_side=maker.side,
            maker_price_micros=self._token_price(maker.token_id, yes_price_micros),
            maker_remaining_micros=maker.remaining_micros,
            taker_order_id=taker.order_id,
            taker_owner=taker.owner,
            taker_token_id=taker.token_id,
            taker_side=taker.side,
            taker_price_micros=self._token_price(taker.token_id, yes_price_micros),
            size_micros=quantity_micros,
            kind=kind,
        )

    def _rest(self, order: Order, side: _BookSide, price_micros: int) -> None:
        side.add(price_micros, order)
        self._orders[order.order_id] = order
        self._orders_by_owner.setdefault(order.owner, {})[order.order_id] = order
        if order.time_in_force is TimeInForce.GTD:
            self._gtd_orders[order.order_id] = order

    def _remove(self, order: Order, side: _BookSide, price_micros: int) -> None:
        side.remove(price_micros, order)
        del self._orders[order.order_id]
        owned = self._orders_by_owner[order.owner]
        del owned[order.order_id]
        if not owned:
            del self._orders_by_owner[order.owner]
        self._gtd_orders.pop(order.order_id, None)

    def _cancel(self, orders: list[Order]) -> Cancellation:
        touched: dict[tuple[Side, int], None] = {}
        for order in orders:
            side, price = self._yes_space(order)
            self._remove(order, self._side(side), price)
            touched[side, price] = None
        return Cancellation(tuple(orders), self._level_changes(touched))

    def _level_changes(self, touched: Mapping[tuple[Side, int], None]) -> tuple[LevelChange, ...]:
        return tuple(LevelChange(side, price, self._side(side).sizes.get(price, 0)) for side, price in touched)
