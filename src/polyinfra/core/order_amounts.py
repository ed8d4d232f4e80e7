"""Exact maker/taker amounts for CLOB V2 orders, and the market price a book offers. Pure.

The official clients compute amounts in binary floats (venue notes: Amounts), which is how ``0.58`` becomes
``0.57`` (``floor(0.58 * 100) == 57``), a size of ``2.03`` becomes ``2.02``, a price of ``0.555`` at
the 0.01 tick silently becomes ``0.56`` and a market BUY on a fine tick asks for more taker decimals
than the venue accepts (venue notes: Amounts). Here every amount is an int of micro-units computed with
integer arithmetic, and what is signed satisfies the venue's own precision rules (venue notes: Amounts) exactly:

===========  ==============================  ========================================================
order        maker amount                    taker amount
===========  ==============================  ========================================================
limit BUY    collateral = price x shares     shares, at most 2 decimals
limit SELL   shares, at most 2 decimals      collateral = price x shares
market BUY   dollars, at most 2 decimals     dollars / price floored to 4 decimals (flat, any tick)
market SELL  shares, at most 2 decimals      collateral = price x shares
===========  ==============================  ========================================================

A price times a 2-decimal size has at most ``price decimals + 2`` decimals, which is exactly the
venue's limit of collateral decimals per tick (venue notes: Amounts), so the limit
and SELL products are exact and never rounded: maker / taker is the user's price, to the last unit.

Policy, where the request cannot be encoded as given:

* **The price is never changed.** A price off the tick grid raises
  :class:`~polyinfra.errors.TickSizeViolationError` naming the two nearest valid prices; a price
  outside ``[tick, 1 - tick]`` raises :class:`~polyinfra.errors.PriceRangeError`.
* **A size (or a market BUY's dollars) with more than 2 decimals is floored** to 2 decimals, never
  rounded up (an order can never grow past what the caller asked for); the result reports both
  values (:attr:`OrderAmounts.requested`, :attr:`OrderAmounts.used`). Pass ``floor=False`` to get
  :class:`~polyinfra.errors.AmountPrecisionError` instead.
* **A market BUY's share count is floored** to 4 decimals: ``dollars / shares`` is then at or just
  above the price, so the order still crosses a level at that price (a taker rounded up would
  price the order below the ask and never fill — py-sdk#291).

Market SELL amounts: the venue's published rule only names market BUYs (venue notes: Amounts); a market SELL's
collateral is computed as the limit SELL's (exact product, within the tick's amount decimals), which
is what the official client sends and no rejection of it is on record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Context, Decimal
from functools import lru_cache
from typing import Final

from polyinfra.errors import (
    AmountPrecisionError,
    InsufficientLiquidityError,
    InvalidNumberError,
    InvalidOrderError,
    InvalidValueError,
    PriceRangeError,
    TickSizeViolationError,
)
from polyinfra.model.book import Level, OrderBook
from polyinfra.model.numbers import MICROS, Side, TickSize, bounded_decimal, micros_to_decimal, plain_decimal_parts
from polyinfra.model.orders import TimeInForce

__all__ = [
    "MARKET_BUY_MAKER_DECIMALS",
    "MARKET_BUY_TAKER_DECIMALS",
    "SIZE_DECIMALS",
    "MarketPrice",
    "OrderAmounts",
    "amount_rule_violations",
    "decimal_text",
    "discover_market_price",
    "exact_decimal",
    "limit_order_amounts",
    "market_order_amounts",
    "price_in_range",
    "validate_price",
]

SIZE_DECIMALS: Final = 2
"""Share counts the venue accepts: at most 2 decimals for every tick (venue notes: Amounts)."""
MARKET_BUY_MAKER_DECIMALS: Final = 2
"""A market BUY's dollars: at most 2 decimals, whatever the tick (py-clob-client-v2#99, venue notes: Amounts)."""
MARKET_BUY_TAKER_DECIMALS: Final = 4
"""A market BUY's shares: at most 4 decimals, whatever the tick (rs-clob-client#114/#261, venue notes: Amounts)."""

_UNIT_DECIMALS: Final = 6  # collateral and outcome tokens both have 6 decimals
# Holds every bounded value exactly (15 + 40 digits); owning the context makes results
# independent of the caller's thread-default context.
_EXACT: Final = Context(prec=60)
_ONE: Final = Decimal(1)


@dataclass(frozen=True, slots=True)
class OrderAmounts:
    """The signed amounts of one order (ints of 10**-6), and what they encode.

    For a BUY ``maker_amount`` is the collateral offered and ``taker_amount`` the shares wanted;
    for a SELL the other way round (venue notes: Order signing).
    """

    side: Side
    market: bool
    """True for a market order (FOK/FAK): a BUY then spends dollars, at the market-BUY precision."""
    price_micros: int
    """The limit price (a market order's worst acceptable price), exactly as given."""
    maker_amount: int
    taker_amount: int
    requested: Decimal
    """What the caller asked for: shares, or dollars for a market BUY."""
    used: Decimal
    """``requested`` floored to the venue's precision: what the amounts encode."""

    @property
    def floored(self) -> bool:
        """True when the request had more decimals than the venue accepts and was floored."""
        return self.used != self.requested

    @property
    def price(self) -> Decimal:
        return micros_to_decimal(self.price_micros)

    @property
    def shares(self) -> Decimal:
        """Outcome tokens bought (BUY) or sold (SELL)."""
        return micros_to_decimal(self.taker_amount if self.side is Side.BUY else self.maker_amount)

    @property
    def collateral(self) -> Decimal:
        """pUSD paid (BUY) or asked for (SELL)."""
        return micros_to_decimal(self.maker_amount if self.side is Side.BUY else self.taker_amount)


@dataclass(frozen=True, slots=True)
class MarketPrice:
    """The price a market order should carry to fill against a book now (venue notes: Amounts, Test vectors)."""

    price: Decimal
    """The price of the level at which the order is covered, or (FAK, book too thin) the worst level."""
    complete: bool
    """True when the book holds enough to cover the whole request."""
    available: Decimal
    """What the walked side holds in total: dollars (BUY) or shares (SELL), for the caller's messages."""


def exact_decimal(value: Decimal | str | int, name: str) -> Decimal:
    """``value`` as an exact, finite, non-negative Decimal; floats, malformed text and magnitudes no
    order can have (:func:`~polyinfra.model.numbers.bounded_decimal`) are refused.

    Unlike :func:`~polyinfra.model.numbers.to_micros` any number of decimals up to
    :data:`~polyinfra.model.numbers.MAX_DECIMAL_PLACES` is accepted, so that sizes can be floored
    (and prices named in errors) rather than refused outright.
    """
    if isinstance(value, float):
        # A float already lost the exact value (0.58 is 0.57999...): show the one-line fix, with
        # the digits the caller typed, which repr gives back.
        raise InvalidNumberError(
            f"{name}={value!r} is a float, which cannot hold most decimal prices and sizes exactly; "
            f'pass Decimal("{value!r}") or "{value!r}"',
            field=name,
            value=value,
        )
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise InvalidNumberError(f"{name} must be a Decimal, str or int (never float)", field=name, value=value)
    try:
        if isinstance(value, str):
            plain_decimal_parts(value)
            value = Decimal(value)
        decimal = bounded_decimal(value)
    except InvalidNumberError as exc:
        raise InvalidNumberError(f"{name}: {exc.message}", field=name, value=value) from None
    if decimal < 0:
        raise InvalidNumberError(f"{name} must be a finite, non-negative decimal", field=name, value=value)
    return decimal


def price_in_range(price: Decimal | str | int, tick: TickSize) -> bool:
    """The official ``price_valid`` (venue notes: Amounts, Test vectors), exactly: ``tick <= price <= 1 - tick``.

    It does not look at the tick grid; :func:`validate_price` does both.
    """
    decimal = exact_decimal(price, "price")
    return tick.decimal <= decimal <= _ONE - tick.decimal


def validate_price(price: Decimal | str | int, tick: TickSize) -> int:
    """The price in micro-units, when it is inside ``[tick, 1 - tick]`` and on the tick grid.

    Never rounds: a price the venue would refuse raises :class:`PriceRangeError` or
    :class:`TickSizeViolationError`, with the valid prices to use instead.
    """
    if type(price) is str:
        return _price_text_micros(price, tick)
    return _price_micros(price, tick)


@lru_cache(maxsize=4096)
def _price_text_micros(price: str, tick: TickSize) -> int:
    # A signer sees a few hundred distinct price strings per tick, each parsed and checked with
    # Decimal arithmetic costing more than the rest of building the order. Only exact str keys:
    # a Decimal or int key would let a float equal to a cached price hit the cache unchecked.
    return _price_micros(price, tick)


def _price_micros(price: Decimal | str | int, tick: TickSize) -> int:
    decimal = exact_decimal(price, "price")
    low, high = tick.decimal, _ONE - tick.decimal
    shown = decimal_text(decimal)
    if not low <= decimal <= high:
        raise PriceRangeError(
            f"price {shown} is outside [{decimal_text(low)}, {decimal_text(high)}], the range of the {tick} tick",
            price=shown,
            tick_size=tick.text,
        )
    ticks = _EXACT.divide(decimal, tick.decimal)
    if ticks != ticks.to_integral_value():
        below = _EXACT.multiply(ticks.to_integral_value(rounding=ROUND_FLOOR), tick.decimal)
        above = _EXACT.add(below, tick.decimal)
        # Both neighbours are inside the range: price > low implies below >= low, and
        # price < high implies above <= high, because low and high are on the grid.
        raise TickSizeViolationError(
            f"price {shown} is not on the {tick} tick; use {decimal_text(below)} or {decimal_text(above)}",
            price=shown,
            tick_size=tick.text,
            nearest=(decimal_text(below), decimal_text(above)),
        )
    return int(_EXACT.multiply(decimal, Decimal(MICROS)))


def limit_order_amounts(
    side: Side,
    price: Decimal | str | int,
    size: Decimal | str | int,
    tick: TickSize,
    *,
    floor: bool = True,
) -> OrderAmounts:
    """Amounts for a limit (GTC/GTD) order of ``size`` shares at ``price``.

    Shares are floored to 2 decimals (or, with ``floor=False``, refused when they have more);
    the collateral is ``price x shares`` exactly.
    """
    price_micros = validate_price(price, tick)
    requested = exact_decimal(size, "size")
    shares = _floor_micros(requested, SIZE_DECIMALS, "size", floor)
    _require_positive(shares, "size", requested)
    # price (<= 4 decimals) x shares (<= 2 decimals) is a whole number of micro-units: exact.
    collateral = price_micros * shares // MICROS
    maker, taker = (collateral, shares) if _is_buy(side) else (shares, collateral)
    return OrderAmounts(side, False, price_micros, maker, taker, requested, micros_to_decimal(shares))


def market_order_amounts(
    side: Side,
    price: Decimal | str | int,
    amount: Decimal | str | int,
    tick: TickSize,
    *,
    floor: bool = True,
) -> OrderAmounts:
    """Amounts for a market (FOK/FAK) order whose worst acceptable price is ``price``.

    ``amount`` is dollars to spend for a BUY, shares to sell for a SELL, floored to 2 decimals
    (or refused with ``floor=False``). A BUY asks for ``dollars / price`` shares floored to 4
    decimals; a SELL asks for ``price x shares`` exactly.
    """
    price_micros = validate_price(price, tick)
    buy = _is_buy(side)
    what = "amount" if buy else "size"
    requested = exact_decimal(amount, what)
    maker = _floor_micros(requested, MARKET_BUY_MAKER_DECIMALS if buy else SIZE_DECIMALS, what, floor)
    _require_positive(maker, what, requested)
    if buy:
        # shares in units of 10**-4 = dollars / price, floored; then back to micro-units.
        step = 10 ** (_UNIT_DECIMALS - MARKET_BUY_TAKER_DECIMALS)
        taker = maker * MICROS // (price_micros * step) * step
    else:
        taker = price_micros * maker // MICROS
    return OrderAmounts(side, True, price_micros, maker, taker, requested, micros_to_decimal(maker))


def amount_rule_violations(
    side: Side,
    tick: TickSize,
    price_micros: int,
    maker_amount: int,
    taker_amount: int,
    *,
    market: bool,
) -> tuple[str, ...]:
    """The venue's amount-precision rules (venue notes: Amounts) this order breaks; empty when none.

    Usable on any amounts, the official client's included: the tests check both with it, and the
    order builder checks every order with it once more before handing it to signing.
    """
    buy = _is_buy(side)
    shares, collateral = (taker_amount, maker_amount) if buy else (maker_amount, taker_amount)
    broken: list[str] = []
    if market and buy:
        if _decimals(maker_amount) > MARKET_BUY_MAKER_DECIMALS:
            broken.append(f"market buy maker amount has more than {MARKET_BUY_MAKER_DECIMALS} decimals")
        if _decimals(taker_amount) > MARKET_BUY_TAKER_DECIMALS:
            broken.append(f"market buy taker amount has more than {MARKET_BUY_TAKER_DECIMALS} decimals")
    else:
        if _decimals(shares) > SIZE_DECIMALS:
            broken.append(f"shares have more than {SIZE_DECIMALS} decimals")
        if _decimals(collateral) > tick.amount_decimals:
            broken.append(f"collateral has more than {tick.amount_decimals} decimals")
        if collateral * MICROS != price_micros * shares:
            # The venue's words: "the taker amount for a $0.22 order of size 19.69 should be
            # '4.3318' but the value submited is '4.33'" (JKorf/Polymarket.Net#5).
            broken.append("collateral is not exactly price x shares")
    if not (maker_amount > 0 and taker_amount > 0):
        broken.append("an amount is zero")
    return tuple(broken)


def discover_market_price(
    book: OrderBook,
    side: Side,
    amount: Decimal | str | int,
    time_in_force: TimeInForce,
) -> MarketPrice:
    """The price a market order of ``amount`` needs to fill against ``book`` now.

    The official semantics (venue notes: Amounts), on exact numbers: walk the opposite side
    best level first, accumulating dollars (``price x size``) for a BUY of ``amount`` dollars or
    shares for a SELL of ``amount`` shares, and answer the price of the level at which the total
    reaches ``amount``. When the whole side is not enough, a FOK order raises
    :class:`InsufficientLiquidityError` (the venue would kill it) and a FAK order gets the worst
    level's price, to take everything there is. An empty side raises it for both.
    """
    if time_in_force.rests:
        raise InvalidOrderError(
            f"{time_in_force} orders rest; only FOK and FAK orders take a price from the book",
            order_type=time_in_force.value,
        )
    buy = _is_buy(side)
    wanted = exact_decimal(amount, "amount")
    levels: Iterable[Level] = book.asks() if buy else book.bids()
    covered = Decimal(0)
    price: Decimal | None = None
    for level in levels:
        covered = _EXACT.add(covered, _EXACT.multiply(level.price, level.size) if buy else level.size)
        price = level.price
        if covered >= wanted:
            return MarketPrice(price, True, covered)
    unit = "dollars" if buy else "shares"
    opposite = "asks" if buy else "bids"
    if price is None:
        raise InsufficientLiquidityError(
            f"no {opposite} in the book of token {book.token_id}: nothing to fill a market order",
            token_id=book.token_id,
            side=side.value,
        )
    if time_in_force is TimeInForce.FOK:
        raise InsufficientLiquidityError(
            f"the {opposite} hold {decimal_text(covered)} {unit}, less than the {decimal_text(wanted)} "
            "this FOK order needs; use FAK to take what there is, or a smaller amount",
            token_id=book.token_id,
            side=side.value,
            amount=decimal_text(wanted),
            available=decimal_text(covered),
        )
    return MarketPrice(price, False, covered)


def _floor_micros(value: Decimal, decimals: int, name: str, floor: bool) -> int:
    """``value`` floored to ``decimals`` decimals, in micro-units; refused instead when ``floor`` is off."""
    floored = value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_FLOOR, context=_EXACT)
    if floored != value and not floor:
        raise AmountPrecisionError(
            f"{name} {decimal_text(value)} has more than {decimals} decimals; use {decimal_text(floored)}",
            field=name,
            value=decimal_text(value),
            allowed_decimals=decimals,
        )
    return int(_EXACT.multiply(floored, Decimal(MICROS)))


def _require_positive(micros: int, name: str, requested: Decimal) -> None:
    if micros <= 0:
        raise AmountPrecisionError(
            f"{name} {decimal_text(requested)} is zero at the venue's precision of 0.01",
            field=name,
            value=decimal_text(requested),
        )


def _decimals(micros: int) -> int:
    """How many decimals an amount of micro-units needs (1_500_000 -> 1, 1 -> 6)."""
    if micros == 0:
        return 0
    decimals = _UNIT_DECIMALS
    while decimals and micros % 10 == 0:
        micros //= 10
        decimals -= 1
    return decimals


def _is_buy(side: Side) -> bool:
    if side is Side.BUY:
        return True
    if side is Side.SELL:
        return False
    raise InvalidValueError("side must be Side.BUY or Side.SELL", side=side)


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain digits without exponent or trailing zeros: 0.55, 100, 0.0001."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
