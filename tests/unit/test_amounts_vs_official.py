"""Where the official client's float arithmetic signs a wrong amount (venue notes: Amounts, Test vectors),
show both values: the official one, computed by py-clob-client-v2 1.2.1's own helpers (the
test-only oracle; floats appear only in these oracle calls), and polyinfra's. polyinfra's satisfy
the venue's precision rules and encode exactly the user's price and size; the official ones
break a rule, or encode another price or size than the user asked for."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_clob_client_v2.order_builder.builder import ROUNDING_CONFIG, OrderBuilder
from py_clob_client_v2.order_builder.helpers import round_down

from polyinfra.core.order_amounts import (
    amount_rule_violations,
    discover_market_price,
    limit_order_amounts,
    market_order_amounts,
)
from polyinfra.errors import TickSizeViolationError
from polyinfra.model.book import OrderBook
from polyinfra.model.numbers import MICROS, Side, TickSize, parse_micros
from polyinfra.model.orders import TimeInForce

BUY, SELL = Side.BUY, Side.SELL
D = Decimal
_OFFICIAL = OrderBuilder(None)  # amounts only: no signer needed


def official_limit(side: Side, price: str, size: str, tick: TickSize) -> tuple[int, int]:
    _, maker, taker = _OFFICIAL.get_order_amounts(side.value, float(size), float(price), ROUNDING_CONFIG[tick.text])
    return maker, taker


def official_market(side: Side, price: str, amount: str, tick: TickSize) -> tuple[int, int]:
    _, maker, taker = _OFFICIAL.get_market_order_amounts(
        side.value, float(amount), float(price), ROUNDING_CONFIG[tick.text]
    )
    return maker, taker


# Market BUYs whose official taker amount has more decimals than the venue's flat 4 (venue notes: Amounts):
# the venue answers "invalid amounts, the market buy orders ... taker amount a max of 4 decimals".
# (price, dollars, tick, official (maker, taker) as the vectors give them, polyinfra (maker, taker))
MARKET_BUY_PRECISION = [
    ("0.056", "100", "0.001", (100000000, 1785714280), (100000000, 1785714200)),  # V1 builder row
    ("0.0056", "100", "0.0001", (100000000, 17857142857), (100000000, 17857142800)),  # V1 builder row
    ("0.985", "9.98", "0.001", (9980000, 10131970), (9980000, 10131900)),  # edge case, py-clob-client-v2#99
    ("0.555", "10", "0.005", (10000000, 18018010), (10000000, 18018000)),  # edge case
    ("0.5525", "10", "0.0025", (10000000, 18099547), (10000000, 18099500)),  # edge case
]


@pytest.mark.parametrize(("price", "dollars", "tick", "official", "ours"), MARKET_BUY_PRECISION)
def test_market_buy_taker_precision(
    price: str, dollars: str, tick: str, official: tuple[int, int], ours: tuple[int, int]
) -> None:
    tick_size = TickSize.parse(tick)
    price_micros = parse_micros(price)
    assert official_market(BUY, price, dollars, tick_size) == official
    amounts = market_order_amounts(BUY, price, dollars, tick_size)
    assert (amounts.maker_amount, amounts.taker_amount) == ours
    assert amount_rule_violations(BUY, tick_size, price_micros, *official, market=True) == (
        "market buy taker amount has more than 4 decimals",
    )
    assert amount_rule_violations(BUY, tick_size, price_micros, *ours, market=True) == ()


def test_round_down_058_is_057_and_the_market_buy_no_longer_reaches_the_ask() -> None:
    """V2's market orders truncate the price with floats, and floor(0.58 * 100) == 57. A market
    BUY priced from an ask at 0.58 is signed at 0.57, below the ask (first edge case, venue notes: Amounts)."""
    assert round_down(0.58, 2) == 0.57
    book = OrderBook("123")
    book.apply_snapshot([], [(580000, 1_000_000_000)])
    price = discover_market_price(book, BUY, "100", TimeInForce.FOK).price
    assert price == D("0.58")

    official_maker, official_taker = official_market(BUY, "0.58", "100", TickSize.TICK_0_01)
    assert (official_maker, official_taker) == (100000000, 175438500)
    assert official_maker * MICROS < 580000 * official_taker  # implied price below the ask: no fill

    ours = market_order_amounts(BUY, price, "100", TickSize.TICK_0_01)
    assert (ours.maker_amount, ours.taker_amount) == (100000000, 172413700)
    assert ours.maker_amount * MICROS >= 580000 * ours.taker_amount  # reaches the ask


def test_market_buy_058_203_both_floats_wrong() -> None:
    """First edge case: round_down(2.03, 2) == 2.02 spends a cent less, and round_down(0.58, 2) == 0.57
    prices the order below what the user asked."""
    official = official_market(BUY, "0.58", "2.03", TickSize.TICK_0_01)
    assert official == (2020000, 3543800)
    ours = market_order_amounts(BUY, "0.58", "2.03", TickSize.TICK_0_01)
    assert (ours.maker_amount, ours.taker_amount) == (2030000, 3500000)
    assert not ours.floored
    assert official[0] * MICROS < 580000 * official[1]
    assert amount_rule_violations(BUY, TickSize.TICK_0_01, 580000, *official, market=True) == ()


@pytest.mark.parametrize("side", [BUY, SELL])
def test_limit_size_203_is_not_202(side: Side) -> None:
    """floor(2.03 * 100) == 202 in floats: the official client signs 2.02 shares for 2.03."""
    official = official_limit(side, "0.5", "2.03", TickSize.TICK_0_01)
    shares_official = official[1] if side is BUY else official[0]
    assert shares_official == 2020000
    ours = limit_order_amounts(side, "0.5", "2.03", TickSize.TICK_0_01)
    assert ours.shares == D("2.03")
    assert not ours.floored


def test_market_sell_of_058_shares() -> None:
    official = official_market(SELL, "0.5", "0.58", TickSize.TICK_0_01)
    assert official == (570000, 285000)
    ours = market_order_amounts(SELL, "0.5", "0.58", TickSize.TICK_0_01)
    assert (ours.maker_amount, ours.taker_amount) == (580000, 290000)


def test_limit_price_0555_at_tick_001_is_refused_not_rounded() -> None:
    """Edge case: 0.555 * 100 == 55.50000000000001 in floats, round() makes it 56: the official client
    signs a BUY at 0.56 when the user asked 0.555. polyinfra names both valid prices instead."""
    assert official_limit(BUY, "0.555", "10", TickSize.TICK_0_01) == (5600000, 10000000)
    with pytest.raises(TickSizeViolationError, match=r"price 0\.555 is not on the 0\.01 tick; use 0\.55 or 0\.56"):
        limit_order_amounts(BUY, "0.555", "10", TickSize.TICK_0_01)


@pytest.mark.parametrize(("side", "official"), [(BUY, (10000000, 18181800)), (SELL, (10000000, 5500000))])
def test_market_price_0556_is_refused_not_truncated(side: Side, official: tuple[int, int]) -> None:
    """Edge case: V2 truncates 0.556 to 0.55 (V1 rounded it to 0.56); either way not the user's price."""
    assert official_market(side, "0.556", "10", TickSize.TICK_0_01) == official
    with pytest.raises(TickSizeViolationError, match=r"use 0\.55 or 0\.56"):
        market_order_amounts(side, "0.556", "10", TickSize.TICK_0_01)


def test_limit_0962_is_on_the_0001_tick_only() -> None:
    """Edge case (py-clob-client#305): the official client signs 0.962 on a 0.01 market, which the
    venue rejects; polyinfra refuses before signing."""
    assert official_limit(BUY, "0.962", "1", TickSize.TICK_0_01) == (960000, 1000000)
    with pytest.raises(TickSizeViolationError, match=r"use 0\.96 or 0\.97"):
        limit_order_amounts(BUY, "0.962", "1", TickSize.TICK_0_01)


@st.composite
def _order(draw: st.DrawFn) -> tuple[Side, bool, TickSize, str, str]:
    tick = draw(st.sampled_from(list(TickSize)))
    steps = MICROS // tick.micros_per_tick
    price = D(draw(st.integers(1, steps - 1)) * tick.micros_per_tick) / MICROS
    cents = draw(st.integers(1, 10**7))
    return draw(st.sampled_from([BUY, SELL])), draw(st.booleans()), tick, str(price), str(D(cents) / 100)


@settings(max_examples=1500, deadline=None)
@given(_order())
def test_differential_against_the_official_client(order: tuple[Side, bool, TickSize, str, str]) -> None:
    """On-tick prices and 2-decimal sizes: where the official amounts differ from polyinfra's, the
    official ones break a venue rule, encode another size or price, or (0.1 tick market BUYs) ask
    for fewer shares than the dollars buy; polyinfra's always satisfy the rules."""
    side, market, tick, price, quantity = order
    price_micros = parse_micros(price)
    compute = market_order_amounts if market else limit_order_amounts
    ours = compute(side, price, quantity, tick)
    assert amount_rule_violations(side, tick, price_micros, ours.maker_amount, ours.taker_amount, market=market) == ()
    assert ours.used == D(quantity)
    official = (official_market if market else official_limit)(side, price, quantity, tick)
    if official == (ours.maker_amount, ours.taker_amount):
        return
    broken = amount_rule_violations(side, tick, price_micros, *official, market=market)
    spent_or_sold = official[0]  # maker: dollars of a market BUY, collateral of a limit BUY, shares of a SELL
    wrong_quantity = spent_or_sold != ours.maker_amount
    wrong_price = market and side is BUY and official[0] * MICROS < price_micros * official[1]
    # On the 0.1 tick the official client floors a market BUY's shares to 3 decimals (its "amount"
    # precision) where the venue takes 4: valid, but fewer shares than the dollars buy at the price.
    fewer_shares = market and side is BUY and tick is TickSize.TICK_0_1 and official[1] < ours.taker_amount
    assert broken or wrong_quantity or wrong_price or fewer_shares, (official, ours)
