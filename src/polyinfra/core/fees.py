"""The 2026 trading fees, exactly: per fill, per order preview, per round trip. Pure, all Decimal.

The model (venue notes: Fees): fees are set by the venue at match time, not signed into
V2 orders, and a taker pays on each fill

    fee = shares x rate x (p x (1 - p)) ** exponent

with ``rate``/``exponent`` from the market's own fee schedule (``/clob-markets`` ``fd {r, e, to}``,
:class:`~polyinfra.model.market.FeeSchedule`); makers pay nothing when the schedule is
``taker_only`` (every schedule on record is). With exponent 1 this is the documented
``C x feeRate x p x (1 - p)``; the exponent form is what the SDK computes and what the legacy
exponent-2 crypto markets use (venue notes: Fees; the SDK's vectors pin it).

Rounding (venue notes: Fees): "Fees are rounded to 5 decimal places. The smallest fee charged is
0.00001 USDC. Anything smaller rounds to zero." The mode is not stated. Rounding *down* is the only
mode under which every fee below 0.00001 becomes zero (half-up would charge 0.00001 for 0.000006),
so :func:`fill_fee` truncates to 5 decimals. :func:`unrounded_fee` is the formula itself, which is
what the SDK's fee helpers (and their vectors) use.

Fees are taken in collateral on both sides here, as the V2 SDK's buy helper charges them
(venue notes: Fees; V1 took buy fees in shares; for V2 that is the SDK's behaviour, inferred).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal
from typing import Final

from polyinfra.core.order_amounts import exact_decimal
from polyinfra.errors import InvalidValueError
from polyinfra.model.book import OrderBook
from polyinfra.model.market import FeeSchedule
from polyinfra.model.numbers import Side, TickSize

__all__ = [
    "FEE_DECIMALS",
    "CostPreview",
    "RoundTrip",
    "buy_amount_after_fees",
    "fill_fee",
    "maker_rebate",
    "min_exit_price",
    "preview_order_cost",
    "round_trip",
    "unrounded_fee",
]

FEE_DECIMALS: Final = 5
"""Fees are charged in whole 0.00001 pUSD (venue notes: Fees)."""

_FEE_QUANTUM: Final = Decimal(1).scaleb(-FEE_DECIMALS)
_REBATE_QUANTUM: Final = Decimal("0.000001")  # rebates are paid in pUSD, which has 6 decimals
_EXACT: Final = Context(prec=60)
_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
_HUNDRED: Final = Decimal(100)


def unrounded_fee(shares: Decimal | str | int, price: Decimal | str | int, schedule: FeeSchedule) -> Decimal:
    """``shares x rate x (p(1 - p)) ** exponent``, exact: the fee before the venue's rounding."""
    return _EXACT.multiply(exact_decimal(shares, "shares"), _platform_rate(_price(price), schedule))


def fill_fee(
    shares: Decimal | str | int,
    price: Decimal | str | int,
    schedule: FeeSchedule,
    *,
    taker: bool,
) -> Decimal:
    """The fee one fill of ``shares`` at ``price`` pays: the taker's, truncated to 5 decimals
    (see the module notes); the maker's is zero when the schedule is ``taker_only`` and otherwise
    the same formula."""
    if not taker and schedule.taker_only:
        return _ZERO
    return unrounded_fee(shares, price, schedule).quantize(_FEE_QUANTUM, rounding=ROUND_DOWN, context=_EXACT)


def maker_rebate(
    own_fee_equivalent: Decimal | str | int,
    total_fee_equivalent: Decimal | str | int,
    rebate_pool: Decimal | str | int,
) -> Decimal:
    """A maker's share of a market's daily rebate pool (venue notes: Fees).

    ``rebate = own_fee_equivalent / total_fee_equivalent x rebate_pool``, where a fee equivalent is
    :func:`unrounded_fee` of each filled maker order (``C x feeRate x p x (1 - p)``) summed over the
    day. Floored to whole micro-pUSD, the unit it is paid in (the docs give no rounding). The venue
    pays out only once the accrued total reaches $1; that threshold is the caller's to apply.
    """
    own = exact_decimal(own_fee_equivalent, "own_fee_equivalent")
    total = exact_decimal(total_fee_equivalent, "total_fee_equivalent")
    pool = exact_decimal(rebate_pool, "rebate_pool")
    if own > total:
        raise InvalidValueError("own fee equivalent exceeds the market's total", own=own, total=total)
    if total == 0:
        return _ZERO
    share = _EXACT.divide(_EXACT.multiply(own, pool), total)
    return share.quantize(_REBATE_QUANTUM, rounding=ROUND_DOWN, context=_EXACT)


def buy_amount_after_fees(
    amount: Decimal | str | int,
    price: Decimal | str | int,
    balance: Decimal | str | int,
    schedule: FeeSchedule,
    *,
    builder_taker_fee_rate: Decimal | str | int = 0,
    fee_slippage_pct: Decimal | str | int = 0,
) -> Decimal:
    """How much of ``amount`` dollars a BUY can spend so that spend plus fees fit in ``balance``.

    The V2 SDK 1.2.1 ``adjust_buy_amount_for_fees`` rule (venue notes: Fees), exactly: the platform fee
    on ``min(amount, balance)`` at the schedule's rate for ``price``, raised by ``fee_slippage_pct``
    percent (0, or 1 to 100, as a margin for the rate moving), plus the builder's taker fee on the
    same base; when ``amount`` plus those fees exceed ``balance``, the answer is ``balance`` minus
    the fees (never below zero), otherwise ``amount`` unchanged. The result is exact; the order
    amounts then floor it to the venue's precision.
    """
    spend = exact_decimal(amount, "amount")
    price_value = _price(price)
    if not 0 < price_value < 1:
        raise InvalidValueError("price must be strictly between 0 and 1", price=price_value)
    funds = exact_decimal(balance, "balance")
    builder_rate = exact_decimal(builder_taker_fee_rate, "builder_taker_fee_rate")
    slippage = exact_decimal(fee_slippage_pct, "fee_slippage_pct")
    if slippage != 0 and not 1 <= slippage <= _HUNDRED:
        raise InvalidValueError("fee_slippage_pct must be 0 or a percentage between 1 and 100", value=slippage)
    rate = _EXACT.multiply(_platform_rate(price_value, schedule), _EXACT.add(_ONE, _EXACT.divide(slippage, _HUNDRED)))
    base = min(spend, funds)
    # Multiply before dividing: base x rate / price is exact whenever the answer terminates.
    platform_fee = _EXACT.divide(_EXACT.multiply(base, rate), price_value)
    builder_fee = _EXACT.multiply(base, builder_rate)
    fees = _EXACT.add(platform_fee, builder_fee)
    if funds <= _EXACT.add(spend, fees):
        return max(_EXACT.subtract(funds, fees), _ZERO)
    return spend


@dataclass(frozen=True, slots=True)
class CostPreview:
    """What an order would cost (BUY) or raise (SELL) against the book as it stands.

    The part that crosses the book now fills as a taker at the resting levels' prices (price
    improvement, venue notes: Matching) and pays the taker fee per level; the rest would rest at the limit
    price as a maker. ``spread_cost`` is what the taking part gives up against the mid: dollars
    paid above it (BUY) or received below it (SELL); None without a two-sided book.
    """

    side: Side
    price: Decimal
    shares: Decimal
    taker_shares: Decimal
    taker_notional: Decimal
    taker_fee: Decimal
    resting_shares: Decimal
    resting_notional: Decimal
    maker_fee: Decimal
    """The fee the resting part pays if it fills later at the limit (zero when taker-only)."""
    mid: Decimal | None
    spread_cost: Decimal | None

    @property
    def crosses(self) -> bool:
        """True when part of the order would take now (a post-only order would be rejected)."""
        return self.taker_shares > 0

    @property
    def average_taker_price(self) -> Decimal | None:
        if not self.taker_shares:
            return None
        return _EXACT.divide(self.taker_notional, self.taker_shares)

    @property
    def fees(self) -> Decimal:
        return _EXACT.add(self.taker_fee, self.maker_fee)

    @property
    def total(self) -> Decimal:
        """Cash out for a BUY (notional plus fees), cash in for a SELL (notional minus fees)."""
        notional = _EXACT.add(self.taker_notional, self.resting_notional)
        return _EXACT.add(notional, self.fees) if self.side is Side.BUY else _EXACT.subtract(notional, self.fees)


def preview_order_cost(
    book: OrderBook,
    side: Side,
    price: Decimal | str | int,
    size: Decimal | str | int,
    schedule: FeeSchedule,
) -> CostPreview:
    """Preview a limit order of ``size`` shares at ``price`` against ``book``.

    The fee is charged per fill and rounded per fill; each crossed level is counted as one fill,
    so when a level holds several resting orders the venue's total can be lower by the rounding
    of the extra fills (under 0.00001 each).
    """
    limit = _price(price)
    wanted = exact_decimal(size, "size")
    if side is Side.BUY:
        levels = [level for level in book.asks() if level.price <= limit]
    elif side is Side.SELL:
        levels = [level for level in book.bids() if level.price >= limit]
    else:
        raise InvalidValueError("side must be Side.BUY or Side.SELL", side=side)
    remaining = wanted
    notional = _ZERO
    taker_fee = _ZERO
    for level in levels:
        if not remaining:
            break
        take = min(remaining, level.size)
        remaining = _EXACT.subtract(remaining, take)
        notional = _EXACT.add(notional, _EXACT.multiply(take, level.price))
        taker_fee = _EXACT.add(taker_fee, fill_fee(take, level.price, schedule, taker=True))
    taken = _EXACT.subtract(wanted, remaining)
    mid = book.mid()
    spread_cost = None
    if mid is not None:
        at_mid = _EXACT.multiply(mid, taken)
        spread_cost = _EXACT.subtract(notional, at_mid) if side is Side.BUY else _EXACT.subtract(at_mid, notional)
    return CostPreview(
        side=side,
        price=limit,
        shares=wanted,
        taker_shares=taken,
        taker_notional=notional,
        taker_fee=taker_fee,
        resting_shares=remaining,
        resting_notional=_EXACT.multiply(remaining, limit),
        maker_fee=fill_fee(remaining, limit, schedule, taker=False) if remaining else _ZERO,
        mid=mid,
        spread_cost=spread_cost,
    )


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """Buying ``shares`` at ``entry_price`` and selling them at ``exit_price``, after fees.

    An exit price of 1 (or 0) is holding to resolution: redemption pays no trading fee, and the
    formula gives zero there anyway since ``p x (1 - p) = 0``.
    """

    shares: Decimal
    entry_price: Decimal
    exit_price: Decimal
    entry_fee: Decimal
    exit_fee: Decimal

    @property
    def gross(self) -> Decimal:
        return _EXACT.multiply(self.shares, _EXACT.subtract(self.exit_price, self.entry_price))

    @property
    def net(self) -> Decimal:
        """Profit after both fees (negative for a loss)."""
        return _EXACT.subtract(_EXACT.subtract(self.gross, self.entry_fee), self.exit_fee)

    def clears(self, min_profit: Decimal | str | int = 0) -> bool:
        """True when the net profit is at least ``min_profit`` dollars."""
        return self.net >= exact_decimal(min_profit, "min_profit")


def round_trip(
    shares: Decimal | str | int,
    entry_price: Decimal | str | int,
    exit_price: Decimal | str | int,
    schedule: FeeSchedule,
    *,
    entry_taker: bool = True,
    exit_taker: bool = True,
) -> RoundTrip:
    """The fees and profit of a long round trip; each leg pays as a taker unless told it rests."""
    amount = exact_decimal(shares, "shares")
    entry = _price(entry_price)
    exit_ = _price(exit_price)
    return RoundTrip(
        shares=amount,
        entry_price=entry,
        exit_price=exit_,
        entry_fee=fill_fee(amount, entry, schedule, taker=entry_taker),
        exit_fee=fill_fee(amount, exit_, schedule, taker=exit_taker),
    )


def min_exit_price(
    shares: Decimal | str | int,
    entry_price: Decimal | str | int,
    schedule: FeeSchedule,
    tick: TickSize,
    *,
    min_profit: Decimal | str | int = 0,
    entry_taker: bool = True,
    exit_taker: bool = True,
) -> Decimal | None:
    """The lowest exit price on the tick grid at which the round trip nets at least ``min_profit``
    after fees; None when no tradable price (up to ``1 - tick``) does.

    Scans the grid upwards, checking the rounded fees at each price: with rounding the net profit
    is not strictly monotonic for tiny sizes, so a search that assumed it could skip the answer.
    The grid has at most 9,999 prices.
    """
    target = exact_decimal(min_profit, "min_profit")
    amount = exact_decimal(shares, "shares")
    entry = _price(entry_price)
    entry_fee = fill_fee(amount, entry, schedule, taker=entry_taker)
    cost = _EXACT.add(_EXACT.multiply(amount, entry), entry_fee)
    steps = int(_ONE / tick.decimal)
    for step in range(1, steps):
        exit_ = _EXACT.multiply(tick.decimal, Decimal(step))
        proceeds = _EXACT.subtract(_EXACT.multiply(amount, exit_), fill_fee(amount, exit_, schedule, taker=exit_taker))
        if _EXACT.subtract(proceeds, cost) >= target:
            return exit_
    return None


def _platform_rate(price: Decimal, schedule: FeeSchedule) -> Decimal:
    """``rate x (p(1 - p)) ** exponent``: the fee per share at ``price``."""
    # FeeSchedule bounds both on construction.
    rate = schedule.rate
    exponent = schedule.exponent
    if exponent == 0:
        # A market without a fee curve reads as rate 0, exponent 0 (venue notes: Market info); 0 ** 0 is undefined
        # in Decimal, and the factor is 1 for any price.
        return rate
    variance = _EXACT.multiply(price, _EXACT.subtract(_ONE, price))
    return _EXACT.multiply(rate, _EXACT.power(variance, exponent))


def _price(value: Decimal | str | int) -> Decimal:
    price = exact_decimal(value, "price")
    if price > 1:
        raise InvalidValueError("a price is a probability between 0 and 1", price=price)
    return price
