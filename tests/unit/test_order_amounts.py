"""Exact order amounts: the official vectors that are right, price discovery,
price validity (venue notes: Test vectors), the flooring policy, and properties over every tick size."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.core.order_amounts import (
    MarketPrice,
    amount_rule_violations,
    discover_market_price,
    exact_decimal,
    limit_order_amounts,
    market_order_amounts,
    price_in_range,
    validate_price,
)
from polyinfra.errors import (
    AmountPrecisionError,
    InsufficientLiquidityError,
    InvalidNumberError,
    InvalidOrderError,
    PriceRangeError,
    TickSizeViolationError,
)
from polyinfra.model.book import OrderBook
from polyinfra.model.numbers import MICROS, Side, TickSize, parse_micros
from polyinfra.model.orders import TimeInForce

BUY, SELL = Side.BUY, Side.SELL
D = Decimal

# (side, price, size, tick, maker, taker): V1 builder limit rows (neg-risk rows repeat them; neg-risk
# changes only the exchange, not the amounts), V1 wire rows, V2 builder rows, and the right edge cases.
LIMIT_VECTORS = [
    (BUY, "0.24", "15", "0.01", 3600000, 15000000),
    (SELL, "0.24", "15", "0.01", 15000000, 3600000),
    (BUY, "0.82", "101", "0.01", 82820000, 101000000),
    (SELL, "0.82", "101", "0.01", 101000000, 82820000),
    (BUY, "0.78", "12.8205", "0.01", 9999600, 12820000),
    (SELL, "0.78", "12.8205", "0.01", 12820000, 9999600),
    (SELL, "0.39", "2435.89", "0.01", 2435890000, 949997100),
    (SELL, "0.43", "19.1", "0.01", 19100000, 8213000),
    (BUY, "0.58", "18233.33", "0.01", 10575331400, 18233330000),
    (BUY, "0.5", "21.04", "0.1", 10520000, 21040000),
    (BUY, "0.56", "21.04", "0.01", 11782400, 21040000),
    (BUY, "0.056", "21.04", "0.001", 1178240, 21040000),
    (BUY, "0.0056", "21.04", "0.0001", 117824, 21040000),
    (SELL, "0.5", "21.04", "0.1", 21040000, 10520000),
    (SELL, "0.56", "21.04", "0.01", 21040000, 11782400),
    (SELL, "0.056", "21.04", "0.001", 21040000, 1178240),
    (SELL, "0.0056", "21.04", "0.0001", 21040000, 117824),
    # V1 wire rows
    (BUY, "0.5", "100", "0.1", 50000000, 100000000),
    (SELL, "0.5", "100", "0.1", 100000000, 50000000),
    (BUY, "0.05", "100", "0.01", 5000000, 100000000),
    (SELL, "0.05", "100", "0.01", 100000000, 5000000),
    (BUY, "0.005", "100", "0.001", 500000, 100000000),
    (SELL, "0.005", "100", "0.001", 100000000, 500000),
    (BUY, "0.0005", "100", "0.0001", 50000, 100000000),
    (SELL, "0.0005", "100", "0.0001", 100000000, 50000),
    # V2 builder rows (the rest repeat rows above)
    (BUY, "0.82", "20.0", "0.01", 16400000, 20000000),
    # edge cases, right rows
    (BUY, "0.555", "10", "0.005", 5550000, 10000000),
    (SELL, "0.555", "10", "0.005", 10000000, 5550000),
    (BUY, "0.5525", "10", "0.0025", 5525000, 10000000),
    (SELL, "0.5525", "10", "0.0025", 10000000, 5525000),
    (BUY, "0.962", "1", "0.001", 962000, 1000000),
    (BUY, "0.51", "94.437", "0.01", 48159300, 94430000),
]

# Market rows of the V1 builder and edge cases whose official values satisfy the venue's rules. (The market
# BUYs on the 0.001/0.0001/0.005/0.0025 ticks are not: test_amounts_vs_official shows both.)
MARKET_VECTORS = [
    (BUY, "0.5", "100", "0.1", 100000000, 200000000),
    (BUY, "0.56", "100", "0.01", 100000000, 178571400),
    (SELL, "0.5", "100", "0.1", 100000000, 50000000),
    (SELL, "0.56", "100", "0.01", 100000000, 56000000),
    (SELL, "0.056", "100", "0.001", 100000000, 5600000),
    (SELL, "0.0056", "100", "0.0001", 100000000, 560000),
    (BUY, "0.4", "100", "0.1", 100000000, 250000000),
    (BUY, "0.99", "2.02", "0.01", 2020000, 2040400),
    (SELL, "0.3", "33.333", "0.01", 33330000, 9999000),
    (SELL, "0.555", "10", "0.005", 10000000, 5550000),
]


@pytest.mark.parametrize(("side", "price", "size", "tick", "maker", "taker"), LIMIT_VECTORS)
def test_limit_vectors(side: Side, price: str, size: str, tick: str, maker: int, taker: int) -> None:
    tick_size = TickSize.parse(tick)
    amounts = limit_order_amounts(side, price, size, tick_size)
    assert (amounts.maker_amount, amounts.taker_amount) == (maker, taker)
    assert amount_rule_violations(side, tick_size, amounts.price_micros, maker, taker, market=False) == ()


@pytest.mark.parametrize(("side", "price", "amount", "tick", "maker", "taker"), MARKET_VECTORS)
def test_market_vectors(side: Side, price: str, amount: str, tick: str, maker: int, taker: int) -> None:
    tick_size = TickSize.parse(tick)
    amounts = market_order_amounts(side, price, amount, tick_size)
    assert (amounts.maker_amount, amounts.taker_amount) == (maker, taker)
    assert amount_rule_violations(side, tick_size, amounts.price_micros, maker, taker, market=True) == ()


def test_amounts_report_what_they_encode() -> None:
    buy = limit_order_amounts(BUY, "0.56", D("21.04"), TickSize.TICK_0_01)
    assert (buy.price, buy.shares, buy.collateral, buy.market) == (D("0.56"), D("21.04"), D("11.7824"), False)
    sell = market_order_amounts(SELL, "0.56", 100, TickSize.TICK_0_01)
    assert (sell.shares, sell.collateral, sell.market) == (D(100), D(56), True)


def test_size_with_more_than_two_decimals_is_floored_and_reported() -> None:
    amounts = limit_order_amounts(BUY, "0.78", "12.8205", TickSize.TICK_0_01)
    assert amounts.floored
    assert (amounts.requested, amounts.used) == (D("12.8205"), D("12.82"))
    exact = limit_order_amounts(BUY, "0.78", "12.82", TickSize.TICK_0_01)
    assert not exact.floored


def test_floor_false_refuses_instead() -> None:
    with pytest.raises(AmountPrecisionError, match=r"size 12\.8205 has more than 2 decimals; use 12\.82"):
        limit_order_amounts(BUY, "0.78", "12.8205", TickSize.TICK_0_01, floor=False)
    with pytest.raises(AmountPrecisionError, match=r"amount 10\.005 has more than 2 decimals; use 10"):
        market_order_amounts(BUY, "0.5", "10.005", TickSize.TICK_0_01, floor=False)


def test_size_that_floors_to_zero_is_refused() -> None:
    with pytest.raises(AmountPrecisionError, match="zero"):
        limit_order_amounts(BUY, "0.5", "0.009", TickSize.TICK_0_01)


def test_price_is_never_rounded() -> None:
    with pytest.raises(
        TickSizeViolationError, match=r"^price 0\.555 is not on the 0\.01 tick; use 0\.55 or 0\.56"
    ) as info:
        limit_order_amounts(BUY, "0.555", "10", TickSize.TICK_0_01)
    assert info.value.context["nearest"] == ("0.55", "0.56")
    with pytest.raises(TickSizeViolationError, match=r"use 0\.5525 or 0\.555"):
        validate_price("0.554", TickSize.TICK_0_0025)
    with pytest.raises(TickSizeViolationError, match=r"use 0\.98 or 0\.99"):
        validate_price("0.9855555555", TickSize.TICK_0_01)


def test_price_range() -> None:
    with pytest.raises(PriceRangeError, match=r"price 0\.995 is outside \[0\.01, 0\.99\]"):
        validate_price("0.995", TickSize.TICK_0_01)
    with pytest.raises(PriceRangeError, match=r"outside \[0\.1, 0\.9\]"):
        validate_price(0, TickSize.TICK_0_1)
    assert validate_price("0.0025", TickSize.TICK_0_0025) == 2500
    assert validate_price(D("0.9975"), TickSize.TICK_0_0025) == 997500


@pytest.mark.parametrize("value", [0.5, True, "1e-2", " 0.5", "-0.5", "NaN", D("Infinity"), D("-1"), None])
def test_inexact_or_malformed_numbers_are_refused(value: object) -> None:
    with pytest.raises(InvalidNumberError):
        exact_decimal(value, "price")  # type: ignore[arg-type]


# price_valid (V1), plus V2 sdist's 0.0 / 1.0 at tick 0.1.
PRICE_VALID = [
    ("0.0001", "0.00001", False),
    ("0.0001", "0.0001", True),
    ("0.0001", "0.5", True),
    ("0.0001", "0.9999", True),
    ("0.0001", "0.99999", False),
    ("0.001", "0.0001", False),
    ("0.001", "0.001", True),
    ("0.001", "0.999", True),
    ("0.001", "0.9999", False),
    ("0.01", "0.001", False),
    ("0.01", "0.01", True),
    ("0.01", "0.99", True),
    ("0.01", "0.999", False),
    ("0.1", "0.01", False),
    ("0.1", "0.1", True),
    ("0.1", "0.9", True),
    ("0.1", "0.99", False),
    ("0.1", "0.0", False),
    ("0.1", "1.0", False),
]


@pytest.mark.parametrize(("tick", "price", "valid"), PRICE_VALID)
def test_price_valid_vectors(tick: str, price: str, valid: bool) -> None:
    assert price_in_range(price, TickSize.parse(tick)) is valid


# --- market-price discovery ---------------------------------------------------------------------


def _book(*, asks: list[tuple[str, str]] = (), bids: list[tuple[str, str]] = ()) -> OrderBook:  # type: ignore[assignment]
    book = OrderBook("123")
    book.apply_snapshot(
        [(parse_micros(p), parse_micros(s)) for p, s in bids], [(parse_micros(p), parse_micros(s)) for p, s in asks]
    )
    return book


FOK, FAK = TimeInForce.FOK, TimeInForce.FAK
# (side, levels in the venue's server order as the vectors list them, amount, type, expected price)
DISCOVERY = [
    (BUY, [("0.5", "100"), ("0.4", "100")], "100", FAK, "0.5"),
    (BUY, [("0.5", "100"), ("0.4", "100"), ("0.3", "100")], "100", FOK, "0.5"),
    (BUY, [("0.5", "100"), ("0.4", "100"), ("0.3", "100")], "100", FAK, "0.5"),
    (BUY, [("0.5", "100"), ("0.4", "200"), ("0.3", "100")], "100", FOK, "0.4"),
    (BUY, [("0.5", "100"), ("0.4", "200"), ("0.3", "100")], "100", FAK, "0.4"),
    (BUY, [("0.5", "120"), ("0.4", "100"), ("0.3", "100")], "100", FOK, "0.5"),
    (BUY, [("0.5", "200"), ("0.4", "100"), ("0.3", "100")], "100", FAK, "0.5"),
    (SELL, [("0.4", "10"), ("0.5", "10")], "100", FAK, "0.4"),
    (SELL, [("0.3", "100"), ("0.4", "100"), ("0.5", "100")], "100", FOK, "0.5"),
    (SELL, [("0.3", "100"), ("0.4", "100"), ("0.5", "100")], "100", FAK, "0.5"),
    (SELL, [("0.3", "100"), ("0.4", "300"), ("0.5", "10")], "100", FOK, "0.4"),
    (SELL, [("0.3", "100"), ("0.4", "200"), ("0.5", "10")], "100", FAK, "0.4"),
    (SELL, [("0.3", "300"), ("0.4", "100"), ("0.5", "100")], "200", FOK, "0.4"),
    (SELL, [("0.3", "334"), ("0.4", "100"), ("0.5", "100")], "300", FAK, "0.3"),
    (SELL, [("0.3", "10"), ("0.4", "10")], "100", FAK, "0.3"),  # V2GH
]


@pytest.mark.parametrize(("side", "levels", "amount", "tif", "expected"), DISCOVERY)
def test_market_price_discovery_vectors(
    side: Side, levels: list[tuple[str, str]], amount: str, tif: TimeInForce, expected: str
) -> None:
    book = _book(asks=levels) if side is BUY else _book(bids=levels)
    assert discover_market_price(book, side, amount, tif).price == D(expected)


def test_discovery_reports_completeness() -> None:
    book = _book(asks=[("0.5", "100"), ("0.4", "100")])
    assert discover_market_price(book, BUY, "100", FAK) == MarketPrice(D("0.5"), False, D(90))
    assert discover_market_price(book, BUY, "90", FOK) == MarketPrice(D("0.5"), True, D(90))


@pytest.mark.parametrize("tif", [FOK, FAK])
@pytest.mark.parametrize("side", [BUY, SELL])
def test_discovery_on_an_empty_side_raises(side: Side, tif: TimeInForce) -> None:
    with pytest.raises(InsufficientLiquidityError, match=r"no (asks|bids)"):
        discover_market_price(_book(), side, "100", tif)


def test_fok_that_the_book_cannot_fill_raises_with_the_numbers() -> None:
    with pytest.raises(
        InsufficientLiquidityError, match=r"asks hold 90 dollars, less than the 100 this FOK order needs"
    ):
        discover_market_price(_book(asks=[("0.5", "100"), ("0.4", "100")]), BUY, "100", FOK)
    with pytest.raises(InsufficientLiquidityError, match=r"bids hold 20 shares"):
        discover_market_price(_book(bids=[("0.4", "10"), ("0.5", "10")]), SELL, "100", FOK)


def test_discovery_is_for_market_orders_only() -> None:
    with pytest.raises(InvalidOrderError, match="GTC orders rest"):
        discover_market_price(_book(asks=[("0.5", "100")]), BUY, "1", TimeInForce.GTC)


def test_rule_checker_names_each_broken_rule() -> None:
    tick = TickSize.TICK_0_01
    assert amount_rule_violations(BUY, tick, 220000, 4330000, 19690000, market=False) == (
        "collateral is not exactly price x shares",
    )
    assert amount_rule_violations(BUY, tick, 560000, 100000000, 1785714280, market=True) == (
        "market buy taker amount has more than 4 decimals",
    )
    assert amount_rule_violations(SELL, tick, 500000, 1234567, 617283, market=False) == (
        "shares have more than 2 decimals",
        "collateral has more than 4 decimals",
        "collateral is not exactly price x shares",
    )
    assert "an amount is zero" in amount_rule_violations(BUY, tick, 500000, 0, 0, market=True)


# --- properties over every tick ------------------------------------------------------------------


@st.composite
def _priced(draw: st.DrawFn) -> tuple[TickSize, int]:
    tick = draw(st.sampled_from(list(TickSize)))
    steps = MICROS // tick.micros_per_tick
    return tick, draw(st.integers(1, steps - 1)) * tick.micros_per_tick


def _decimal(micros: int) -> Decimal:
    return D(micros) / MICROS


@settings(max_examples=600, deadline=None)
@given(_priced(), st.integers(10_000, 10**12), st.sampled_from([BUY, SELL]))
def test_limit_amounts_satisfy_the_venue_and_keep_the_price(
    priced: tuple[TickSize, int], size_micros: int, side: Side
) -> None:
    tick, price = priced
    amounts = limit_order_amounts(side, _decimal(price), _decimal(size_micros), tick)
    maker, taker = amounts.maker_amount, amounts.taker_amount
    assert amount_rule_violations(side, tick, price, maker, taker, market=False) == ()
    shares, collateral = (taker, maker) if side is BUY else (maker, taker)
    assert collateral * MICROS == price * shares  # collateral / shares == price, exactly
    assert 0 <= size_micros - shares < 10_000  # floored to 2 decimals, never rounded up
    assert amounts.price_micros == price


@settings(max_examples=600, deadline=None)
@given(_priced(), st.integers(10_000, 10**12), st.sampled_from([BUY, SELL]))
def test_market_amounts_satisfy_the_venue(priced: tuple[TickSize, int], amount_micros: int, side: Side) -> None:
    tick, price = priced
    amounts = market_order_amounts(side, _decimal(price), _decimal(amount_micros), tick)
    maker, taker = amounts.maker_amount, amounts.taker_amount
    assert amount_rule_violations(side, tick, price, maker, taker, market=True) == ()
    assert 0 <= amount_micros - maker < 10_000
    if side is BUY:
        # The implied price maker/taker is at or above the limit (the order still crosses it), and
        # the taker is the largest 4-decimal share count that keeps it so.
        assert maker * MICROS >= price * taker
        assert maker * MICROS < price * (taker + 100)
    else:
        assert taker * MICROS == price * maker
