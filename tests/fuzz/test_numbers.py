"""Hostile numbers into the whole number surface: exact results or :class:`InvalidNumberError`-typed
refusals, never ``ValueError`` from ``int()``, ``decimal`` signals or minutes of arithmetic.

The surface: venue strings (``parse_micros``, ``parse_timestamp``), public values (``to_micros``,
``TickSize.parse``, ``exact_decimal``), the amount and order builders, the fee functions and the
market model, plus ``polyinfra order sign`` lines. The CPU bound is checked by what is refused and
why (its length, its exponent), never by timing.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.cli.orders import sign_order_lines
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.fees import buy_amount_after_fees, fill_fee, maker_rebate, round_trip, unrounded_fee
from polyinfra.core.order_amounts import exact_decimal, limit_order_amounts, market_order_amounts
from polyinfra.core.order_builder import OrderStamper, build_order
from polyinfra.errors import InvalidNumberError, PolyinfraError
from polyinfra.model.ids import condition_id, token_id
from polyinfra.model.market import FeeSchedule, MarketInfo, OutcomeToken
from polyinfra.model.numbers import (
    MAX_NUMBER_CHARS,
    MICROS,
    Side,
    TickSize,
    parse_micros,
    parse_timestamp,
    to_micros,
)
from polyinfra.model.orders import TimeInForce
from tests.conftest import KNOWN_TEST_SECRETS
from tests.fuzz.hostile import hostile_bytes, hostile_numbers, wrong_json_values

TOKEN = "1234"


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal("NaN")


def plain_numbers() -> st.SearchStrategy[str]:
    """Valid-looking venue numbers, so that the accepted path is exercised as well."""
    return st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False).map(lambda value: f"{value:f}")


def number_texts() -> st.SearchStrategy[str]:
    return st.one_of(hostile_numbers(), plain_numbers(), st.text(max_size=30))


def public_values() -> st.SearchStrategy[Any]:
    """What a caller may pass where a Decimal | str | int is wanted, hostile included."""
    return st.one_of(
        number_texts(),
        number_texts().map(_decimal),
        st.decimals(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.integers(min_value=4_000, max_value=20_000).map(lambda digits: 10**digits),
        wrong_json_values(),
    )


@given(text=number_texts())
def test_parse_micros_is_exact_or_refuses(text: str) -> None:
    try:
        micros = parse_micros(text)
    except InvalidNumberError:
        return
    assert Decimal(micros) == Decimal(text) * MICROS


@given(value=public_values())
def test_to_micros_is_exact_or_refuses(value: Any) -> None:
    try:
        micros = to_micros(value)
    except InvalidNumberError:
        return
    assert Decimal(micros) == Decimal(value) * MICROS


@given(value=public_values())
def test_tick_size_parse_gives_a_tick_or_refuses(value: Any) -> None:
    try:
        TickSize.parse(value)
    except InvalidNumberError:
        pytest.fail("TickSize.parse raises InvalidTickSizeError")
    except PolyinfraError:
        pass


@given(text=st.one_of(number_texts(), st.integers(min_value=0, max_value=10**40).map(str)))
def test_parse_timestamp_reads_digits_or_gives_none(text: str) -> None:
    parsed = parse_timestamp(text)
    assert parsed is None or parsed == int(text)


@given(value=public_values())
def test_exact_decimal_is_bounded_or_refuses(value: Any) -> None:
    try:
        decimal = exact_decimal(value, "size")
    except InvalidNumberError:
        return
    assert decimal.is_finite() and 0 <= decimal < 10**15


@given(price=public_values(), size=public_values(), side=st.sampled_from(Side), tick=st.sampled_from(TickSize))
def test_order_amounts_are_computed_or_refused(price: Any, size: Any, side: Side, tick: TickSize) -> None:
    for amounts in (limit_order_amounts, market_order_amounts):
        with contextlib.suppress(PolyinfraError):
            amounts(side, price, size, tick)


@given(
    token=st.one_of(st.just(TOKEN), number_texts(), public_values()),
    price=public_values(),
    size=public_values(),
    minimum=public_values(),
    balance=st.one_of(st.none(), public_values()),
    expiration=st.one_of(st.just(0), st.integers(), st.just(10**5000)),
    time_in_force=st.sampled_from(TimeInForce),
)
def test_build_order_builds_or_refuses(
    token: Any, price: Any, size: Any, minimum: Any, balance: Any, expiration: Any, time_in_force: TimeInForce
) -> None:
    try:
        build_order(
            token_id=token,
            side=Side.BUY,
            price=price,
            size=size if time_in_force.rests else None,
            amount=None if time_in_force.rests else size,
            maker=KEY.address,
            stamper=STAMPER,
            time_in_force=time_in_force,
            expiration_s=expiration,
            tick_size=TickSize.TICK_0_01,
            min_order_size=minimum,
            neg_risk=False,
            balance=balance,
        )
    except PolyinfraError as error:
        str(error)


@given(rate=public_values(), exponent=st.one_of(st.integers(), st.just(10**5000), wrong_json_values()))
def test_fee_schedules_are_bounded_or_refused(rate: Any, exponent: Any) -> None:
    try:
        schedule = FeeSchedule(rate=rate, exponent=exponent)
    except InvalidNumberError:
        return
    assert 0 <= schedule.rate <= 1


@given(shares=public_values(), price=public_values(), other=public_values())
def test_fee_functions_compute_or_refuse(shares: Any, price: Any, other: Any) -> None:
    schedule = FeeSchedule(rate=Decimal("0.25"), exponent=2)
    calls = (
        lambda: unrounded_fee(shares, price, schedule),
        lambda: fill_fee(shares, price, schedule, taker=True),
        lambda: buy_amount_after_fees(shares, price, other, schedule, fee_slippage_pct=1),
        lambda: round_trip(shares, price, other, schedule).net,
        lambda: maker_rebate(shares, other, price),
    )
    for call in calls:
        with contextlib.suppress(PolyinfraError):
            call()


@given(minimum=public_values())
def test_market_minimum_sizes_are_bounded_or_refused(minimum: Any) -> None:
    tokens = (OutcomeToken(token_id("1"), "Yes"), OutcomeToken(token_id("2"), "No"))
    try:
        market = MarketInfo(condition_id("0x" + "ab" * 32), "?", tokens, TickSize.TICK_0_01, minimum)
    except InvalidNumberError:
        return
    assert market.min_order_size.is_finite() and 0 <= market.min_order_size < 10**15


# --- polyinfra order sign --------------------------------------------------------------------------

KEY = SigningKey(KNOWN_TEST_SECRETS.private_key)
STAMPER = OrderStamper(lambda: 1_710_000_000_000, salt_key=1)
GOOD_LINE = {"token_id": TOKEN, "price": "0.5", "size": "10", "side": "BUY", "tick_size": "0.1", "neg_risk": False}


@given(line=hostile_bytes(GOOD_LINE, GOOD_LINE | {"order_type": "GTD", "expiration": "1900000000", "salt": "5"}))
def test_order_sign_lines_are_signed_or_refused_one_by_one(line: bytes) -> None:
    lines = [line.replace(b"\n", b" "), line.decode("utf-8", "surrogateescape").replace("\n", " ")]
    results = list(sign_order_lines(lines, KEY, stamper=STAMPER))
    for result in results:
        assert (result.output is None) != (result.error is None)
        if result.error is not None:
            str(result.error)


@pytest.mark.parametrize(
    "line",
    [
        "[" * 5000,
        json.dumps(GOOD_LINE | {"salt": "1" * 5000}),
        json.dumps(GOOD_LINE | {"token_id": "1" * 5000}),
        json.dumps(GOOD_LINE | {"timestamp": "9" * 5000}),
        json.dumps(GOOD_LINE).replace('"10"', "1e999999"),
        json.dumps(GOOD_LINE).replace('"10"', "1e60"),
        b'{"token_id": "\xff"}',
        json.dumps(GOOD_LINE | {"order_type": []}),  # found by the property above: a TypeError before
    ],
)
def test_an_order_sign_line_of_each_hostile_class_is_a_one_line_error(line: str | bytes) -> None:
    [result] = sign_order_lines([line], KEY, stamper=STAMPER)
    assert isinstance(result.error, PolyinfraError)


# --- section 4: refused by length or exponent, before any expensive work ---------------------------


def test_a_long_digit_string_is_refused_by_its_length() -> None:
    with pytest.raises(InvalidNumberError, match=f"longer than the {MAX_NUMBER_CHARS} characters"):
        parse_micros("1" * 5000)
    with pytest.raises(InvalidNumberError, match="longer than"):
        exact_decimal("9" * 20_000 + ".5", "size")
    assert parse_timestamp("1" * 5000) is None


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1e999990"),
        Decimal("-9.99e999999"),
        Decimal("1e60"),
        Decimal("0e999999"),
        pytest.param(10**5000, id="10**5000"),
    ],
)
def test_a_huge_magnitude_is_refused_by_its_exponent(value: Decimal | int) -> None:
    # Before: to_micros(Decimal("1e999990")) ran exact arithmetic for about a minute.
    with pytest.raises(InvalidNumberError, match="more than 15 digits before the point"):
        to_micros(value)
    with pytest.raises(InvalidNumberError, match="more than 15 digits before the point"):
        exact_decimal(value, "size")


@pytest.mark.parametrize("value", [Decimal("1e-999990"), Decimal("0e-999999"), Decimal("1e-41")])
def test_a_tiny_exponent_is_refused_by_its_exponent(value: Decimal) -> None:
    with pytest.raises(InvalidNumberError, match="more than 40 decimals"):
        to_micros(value)
    with pytest.raises(InvalidNumberError, match="more than 40 decimals"):
        exact_decimal(value, "size")


@pytest.mark.parametrize("size", ["1e60", Decimal("1e60"), Decimal("1e999990"), 10**60])
def test_order_amounts_refuse_a_size_no_order_can_have(size: str | Decimal | int) -> None:
    # Before: Decimal("1e60") raised decimal.InvalidOperation from the quantize.
    with pytest.raises(InvalidNumberError):
        limit_order_amounts(Side.BUY, "0.5", size, TickSize.TICK_0_01)


def test_a_fee_exponent_past_the_bound_is_refused_before_any_power() -> None:
    with pytest.raises(InvalidNumberError, match="exponent"):
        FeeSchedule(rate=Decimal("0.02"), exponent=10**6)
