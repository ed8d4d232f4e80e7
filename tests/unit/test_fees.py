"""The 2026 fee model: the SDK 1.2.1 vectors and balance-capped BUYs,
the docs' vectors (venue notes: Test vectors, Fees), the rounding choice, rebates, cost previews and round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyinfra.core.fees import (
    CostPreview,
    buy_amount_after_fees,
    fill_fee,
    maker_rebate,
    min_exit_price,
    preview_order_cost,
    round_trip,
    unrounded_fee,
)
from polyinfra.core.order_amounts import limit_order_amounts, market_order_amounts
from polyinfra.errors import InvalidValueError
from polyinfra.model.book import OrderBook
from polyinfra.model.market import FeeSchedule
from polyinfra.model.numbers import Side, TickSize, parse_micros

D = Decimal
CRYPTO_15_MIN = FeeSchedule(rate=D("0.25"), exponent=2)
NO_FEES = FeeSchedule(rate=D(0), exponent=0)


# --- SDK vectors: the SDK's formula, unrounded ---------------------------------------------------


@pytest.mark.parametrize(
    ("price", "fee"),
    [
        ("0.5", "1.5625"),
        ("0.3", "1.1025"),
        ("0.1", "0.2025"),
        ("0.05", "0.05640625"),
        ("0.01", "0.00245025"),
        ("0.7", "1.1025"),
        ("0.9", "0.2025"),
        ("0.95", "0.05640625"),
        ("0.99", "0.00245025"),
    ],
)
def test_sdk_platform_fee_vectors(price: str, fee: str) -> None:
    assert unrounded_fee(100, price, CRYPTO_15_MIN) == D(fee)


def test_sdk_fractional_contracts() -> None:
    assert unrounded_fee("125.5", "0.5", CRYPTO_15_MIN) == D("1.9609375")


# --- docs vectors: the venue's charged fee, 5 decimals -------------------------------------------


@pytest.mark.parametrize(
    ("rate", "shares", "price", "fee"),
    [
        ("0.07", "100", "0.50", "1.75"),
        ("0.07", "100", "0.30", "1.47"),
        ("0.07", "100", "0.70", "1.47"),
        ("0.07", "100", "0.01", "0.0693"),
        ("0.05", "100", "0.50", "1.25"),
        ("0.04", "100", "0.50", "1.00"),
        ("0.05", "0.001", "0.01", "0"),  # 4.95e-7: below 0.00001, rounds to zero
    ],
)
def test_docs_fee_vectors(rate: str, shares: str, price: str, fee: str) -> None:
    assert fill_fee(shares, price, FeeSchedule(rate=D(rate)), taker=True) == D(fee)


def test_fees_are_truncated_to_5_decimals() -> None:
    """The docs: "smallest fee charged is 0.00001 ... anything smaller rounds to zero" — only
    rounding down sends every sub-0.00001 fee to zero; half-up would charge 0.00003 here."""
    schedule = FeeSchedule(rate=D("0.0001"))
    assert unrounded_fee(1, "0.5", schedule) == D("0.000025")
    assert fill_fee(1, "0.5", schedule, taker=True) == D("0.00002")
    assert fill_fee("0.24", "0.5", schedule, taker=True) == 0  # 0.000006


def test_makers_pay_nothing_on_taker_only_schedules() -> None:
    assert fill_fee(100, "0.5", FeeSchedule(rate=D("0.07")), taker=False) == 0
    both_sides = FeeSchedule(rate=D("0.07"), taker_only=False)
    assert fill_fee(100, "0.5", both_sides, taker=False) == D("1.75")


def test_a_market_without_fee_curve_charges_nothing() -> None:
    assert fill_fee(100, "0.5", NO_FEES, taker=True) == 0


def test_fee_inputs_are_checked() -> None:
    with pytest.raises(InvalidValueError, match="probability"):
        fill_fee(100, "1.5", CRYPTO_15_MIN, taker=True)
    with pytest.raises(InvalidValueError, match="exponent"):
        fill_fee(100, "0.5", FeeSchedule(rate=D("0.1"), exponent=-1), taker=True)


# --- SDK vectors: adjust_buy_amount_for_fees, exactly ---------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "price", "balance", "schedule", "builder_rate", "slippage", "expected"),
    [
        ("50", "0.5", "50", NO_FEES, "0", "0", "50"),
        ("50", "0.5", "51.5625", CRYPTO_15_MIN, "0", "0", "50"),
        ("50", "0.5", "50", CRYPTO_15_MIN, "0", "0", "48.4375"),
        ("50", "0.5", "50", NO_FEES, "0.01", "0", "49.5"),
        ("50", "0.5", "50", CRYPTO_15_MIN, "0.01", "0", "47.9375"),
        ("30", "0.3", "30", CRYPTO_15_MIN, "0.02", "0", "28.2975"),
        ("100", "0.3", "1", FeeSchedule(rate=D("0.072")), "0", "0", "0.9496"),
        ("50", "0.5", "50", CRYPTO_15_MIN, "0.01", "20", "47.625"),
        ("50", "0.5", "51.71875", CRYPTO_15_MIN, "0", "20", "49.84375"),
        ("50", "0.5", "50", CRYPTO_15_MIN, "0", "1.5", "48.4140625"),
        ("50", "0.5", "60", CRYPTO_15_MIN, "0", "0", "50"),  # enough balance: unchanged
    ],
)
def test_buy_amount_after_fees_vectors(
    amount: str, price: str, balance: str, schedule: FeeSchedule, builder_rate: str, slippage: str, expected: str
) -> None:
    result = buy_amount_after_fees(
        amount, price, balance, schedule, builder_taker_fee_rate=builder_rate, fee_slippage_pct=slippage
    )
    assert result == D(expected)


@pytest.mark.parametrize(
    ("rate", "price", "fee", "adjusted"),
    [
        ("0.03", "0.5", "1.5", "98.5"),
        ("0.03", "0.3", "2.1", "97.9"),
        ("0.03", "0.7", "0.9", "99.1"),
        ("0.04", "0.5", "2.0", "98.0"),
        ("0.04", "0.3", "2.8", "97.2"),
        ("0.04", "0.7", "1.2", "98.8"),
        ("0.05", "0.5", "2.5", "97.5"),
        ("0.05", "0.3", "3.5", "96.5"),
        ("0.05", "0.7", "1.5", "98.5"),
        ("0.072", "0.5", "3.6", "96.4"),
        ("0.072", "0.3", "5.04", "94.96"),
        ("0.072", "0.7", "2.16", "97.84"),
    ],
)
def test_production_rate_vectors(rate: str, price: str, fee: str, adjusted: str) -> None:
    """SDK vector: the fee on $100 of shares, and $100 with a $100 balance adjusted for it."""
    result = buy_amount_after_fees(100, price, 100, FeeSchedule(rate=D(rate)))
    assert result == D(adjusted)
    assert 100 - result == D(fee)


@pytest.mark.parametrize("slippage", ["0", "1.0", "12.5", "99.9", "100"])
def test_fee_slippage_accepted(slippage: str) -> None:
    buy_amount_after_fees(50, "0.5", 50, CRYPTO_15_MIN, fee_slippage_pct=slippage)


@pytest.mark.parametrize("slippage", ["0.5", "101", "-1", D("NaN"), D("Infinity")])
def test_fee_slippage_refused(slippage: str | Decimal) -> None:
    with pytest.raises(InvalidValueError):
        buy_amount_after_fees(50, "0.5", 50, CRYPTO_15_MIN, fee_slippage_pct=slippage)


SLIPPAGE_20 = {"fee_slippage_pct": 20}


@pytest.mark.parametrize(
    ("price", "slippage", "maker", "taker"),
    [
        ("0.5", SLIPPAGE_20, 48125000, 96250000),
        ("0.51", SLIPPAGE_20, 48159300, 94430000),  # the vector passes 0.506, which polyinfra refuses
        ("0.5", {}, 48435000, 96870000),  # test_position_orders.py, slippage 0
    ],
)
def test_balance_capped_limit_buy_vectors(price: str, slippage: dict[str, int], maker: int, taker: int) -> None:
    """SDK vector: a $50 balance, 100 shares wanted: the size shrinks to what the balance pays with fees."""
    spend = buy_amount_after_fees(D(price) * 100, price, 50, CRYPTO_15_MIN, **slippage)
    amounts = limit_order_amounts(Side.BUY, price, spend / D(price), TickSize.TICK_0_01)
    assert (amounts.maker_amount, amounts.taker_amount) == (maker, taker)


@pytest.mark.parametrize(("slippage", "maker", "taker"), [(SLIPPAGE_20, 48120000, 96240000), ({}, 48430000, 96860000)])
def test_balance_capped_market_buy_vectors(slippage: dict[str, int], maker: int, taker: int) -> None:
    spend = buy_amount_after_fees(50, "0.5", 50, CRYPTO_15_MIN, **slippage)
    amounts = market_order_amounts(Side.BUY, "0.5", spend, TickSize.TICK_0_01)
    assert (amounts.maker_amount, amounts.taker_amount) == (maker, taker)


# --- rebates ------------------------------------------------------------------------------------------------


def test_maker_rebate_share_of_the_pool() -> None:
    assert maker_rebate(2, 8, 10) == D("2.5")
    assert maker_rebate(1, 3, 1) == D("0.333333")  # floored to the micro-pUSD it is paid in
    assert maker_rebate(0, 0, 10) == 0
    with pytest.raises(InvalidValueError):
        maker_rebate(9, 8, 10)


# --- cost preview --------------------------------------------------------------------------------------


@pytest.fixture
def book() -> OrderBook:
    """bids 0.48x30 0.49x20 0.50x15 | asks 0.52x25 0.53x60 0.54x10; mid 0.51."""
    book = OrderBook("123")
    book.apply_snapshot(
        [(parse_micros(p), parse_micros(s)) for p, s in [("0.48", "30"), ("0.49", "20"), ("0.50", "15")]],
        [(parse_micros(p), parse_micros(s)) for p, s in [("0.52", "25"), ("0.53", "60"), ("0.54", "10")]],
    )
    return book


SPORTS = FeeSchedule(rate=D("0.05"))


def test_preview_of_a_buy_that_crosses_two_levels(book: OrderBook) -> None:
    preview = preview_order_cost(book, Side.BUY, "0.53", 50, SPORTS)
    assert preview == CostPreview(
        side=Side.BUY,
        price=D("0.53"),
        shares=D(50),
        taker_shares=D(50),
        taker_notional=D("26.25"),
        taker_fee=D("0.312") + D("0.31137"),  # 0.311375 truncated on the second level
        resting_shares=D(0),
        resting_notional=D(0),
        maker_fee=D(0),
        mid=D("0.51"),
        spread_cost=D("0.75"),
    )
    assert preview.crosses
    assert preview.average_taker_price == D("0.525")
    assert preview.total == D("26.87337")


def test_preview_of_a_buy_that_partly_rests(book: OrderBook) -> None:
    preview = preview_order_cost(book, Side.BUY, "0.53", 100, SPORTS)
    assert (preview.taker_shares, preview.taker_notional, preview.taker_fee) == (D(85), D("44.8"), D("1.0593"))
    assert (preview.resting_shares, preview.resting_notional, preview.maker_fee) == (D(15), D("7.95"), D(0))
    assert preview.total == D("53.8093")


def test_preview_of_a_sell(book: OrderBook) -> None:
    preview = preview_order_cost(book, Side.SELL, "0.49", 20, SPORTS)
    assert (preview.taker_shares, preview.taker_notional) == (D(20), D("9.95"))
    assert preview.taker_fee == D("0.1875") + D("0.06247")
    assert preview.spread_cost == D("0.25")
    assert preview.total == D("9.70003")


def test_preview_of_an_order_that_rests(book: OrderBook) -> None:
    preview = preview_order_cost(book, Side.BUY, "0.50", 10, SPORTS)
    assert not preview.crosses
    assert preview.average_taker_price is None
    assert (preview.fees, preview.spread_cost, preview.total) == (D(0), D(0), D("5.00"))


def test_preview_without_a_mid() -> None:
    book = OrderBook("123")
    book.apply_snapshot([], [(520000, 25_000_000)])
    preview = preview_order_cost(book, Side.BUY, "0.52", 10, SPORTS)
    assert (preview.mid, preview.spread_cost, preview.taker_shares) == (None, None, D(10))


# --- profitability --------------------------------------------------------------------------------------


def test_round_trip_after_fees() -> None:
    trip = round_trip(100, "0.40", "0.50", SPORTS)
    assert (trip.entry_fee, trip.exit_fee, trip.gross, trip.net) == (D("1.2"), D("1.25"), D(10), D("7.55"))
    assert trip.clears("7.55")
    assert not trip.clears("7.56")
    resting_exit = round_trip(100, "0.40", "0.50", SPORTS, exit_taker=False)
    assert resting_exit.net == D("8.8")


def test_holding_to_resolution_pays_no_exit_fee() -> None:
    trip = round_trip(100, "0.40", 1, SPORTS)
    assert (trip.exit_fee, trip.net) == (D(0), D("58.8"))


def test_min_exit_price() -> None:
    assert min_exit_price(100, "0.40", SPORTS, TickSize.TICK_0_01) == D("0.43")
    assert min_exit_price(100, "0.40", SPORTS, TickSize.TICK_0_01, min_profit=1) == D("0.44")
    assert min_exit_price(100, "0.40", SPORTS, TickSize.TICK_0_01, exit_taker=False) == D("0.42")
    assert min_exit_price(100, "0.40", SPORTS, TickSize.TICK_0_01, min_profit=100) is None
    assert min_exit_price(100, "0.4", NO_FEES, TickSize.TICK_0_0001) == D("0.4")
