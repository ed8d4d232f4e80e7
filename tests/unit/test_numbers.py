"""Exact numbers: venue strings parse strictly into micro-units, public values refuse floats."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest

from polyinfra.errors import InvalidNumberError, InvalidTickSizeError, InvalidValueError
from polyinfra.model.numbers import (
    MICROS,
    PICOS,
    Side,
    TickSize,
    format_micros,
    micros_to_decimal,
    parse_micros,
    picos_to_decimal,
    to_micros,
)


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("0.48", 480_000),
        (".48", 480_000),  # the venue drops the leading zero in some book events (venue notes: Market channel)
        ("100", 100_000_000),
        ("0", 0),
        ("0.5000000", 500_000),  # a 7th decimal that is zero is still exact
        ("219.217767", 219_217_767),
        ("0.000001", 1),
        ("10500100", 10_500_100_000_000),
        ("00.5", 500_000),
        ("1.", 1_000_000),
    ],
)
def test_parse_micros_accepts_exact_decimals(text: str, micros: int) -> None:
    assert parse_micros(text) == micros


@pytest.mark.parametrize(
    "text",
    [
        "-1",
        "+1",
        "1e3",
        "1E3",
        "1_0",
        " 1",
        "1 ",
        "",
        ".",
        "1.2.3",
        "0x10",
        "NaN",
        "inf",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: int() would read it, the venue never sends it
        "\u00b2",  # SUPERSCRIPT TWO: str.isdigit() is true for it
        "0.\uff15",  # FULLWIDTH DIGIT FIVE in the fraction
        "0.1234567",  # 7 significant decimals: not a whole number of micro-units
        "0.12345670",
        "0.0000001",
    ],
)
def test_parse_micros_refuses_everything_else(text: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        parse_micros(text)
    assert caught.value.context["value"] == text
    assert isinstance(caught.value, InvalidValueError)
    assert isinstance(caught.value, ValueError)


def test_parse_micros_cache_returns_the_same_answer_twice() -> None:
    assert parse_micros("0.123456") == parse_micros("0.123456") == 123_456


def test_parse_micros_refuses_a_bad_string_every_time() -> None:
    # A failed parse must not be cached as a value.
    for _ in range(2):
        with pytest.raises(InvalidNumberError):
            parse_micros("1e3")


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (Decimal("0.48"), 480_000),
        (Decimal("0.480000000"), 480_000),
        (Decimal("1.5E+2"), 150_000_000),
        (Decimal("0.000001"), 1),
        (Decimal("-0"), 0),
        ("0.58", 580_000),
        (5, 5_000_000),
        (0, 0),
    ],
)
def test_to_micros_accepts_decimal_str_and_int(value: Decimal | str | int, micros: int) -> None:
    assert to_micros(value) == micros


@pytest.mark.parametrize("value", [0.58, 1.0, 0.0, True, False, None, b"0.5", [1]])
def test_to_micros_refuses_float_bool_and_other_types(value: object) -> None:
    with pytest.raises(InvalidNumberError):
        to_micros(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (Decimal("-0.5"), "negative"),
        (-5, "negative"),
        (Decimal("0.0000001"), "more than 6 decimals"),
        (Decimal("1E-7"), "more than 6 decimals"),
        (Decimal("NaN"), "not a finite decimal"),
        (Decimal("sNaN"), "not a finite decimal"),
        (Decimal("Infinity"), "not a finite decimal"),
    ],
)
def test_to_micros_refuses_negative_too_precise_and_non_finite(value: Decimal | int, reason: str) -> None:
    with pytest.raises(InvalidNumberError) as raised:
        to_micros(value)
    assert raised.value.message == reason


def test_to_micros_does_not_depend_on_the_callers_decimal_context() -> None:
    with localcontext() as context:
        context.prec = 2
        assert to_micros(Decimal("123456.789012")) == 123_456_789_012


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "0"),
        (480_000, "0.48"),
        (500_000, "0.5"),
        (100_000_000, "100"),
        (219_217_767, "219.217767"),
        (1, "0.000001"),
        (10, "0.00001"),
        (1_000_001, "1.000001"),
    ],
)
def test_format_micros_writes_the_venue_form(micros: int, text: str) -> None:
    assert format_micros(micros) == text
    assert parse_micros(text) == micros


def test_decimal_conversions_are_exact() -> None:
    assert micros_to_decimal(480_000) == Decimal("0.48")
    assert str(micros_to_decimal(480_000)) == "0.48"
    assert micros_to_decimal(1) == Decimal("0.000001")
    # 0.48 x 30.5 = 14.64, as pico-dollars.
    assert picos_to_decimal(480_000 * 30_500_000) == Decimal("14.64")
    assert picos_to_decimal(1) == Decimal("1E-12")
    assert MICROS == 10**6 and PICOS == 10**12


@pytest.mark.parametrize(
    ("value", "tick", "micros_per_tick"),
    [
        ("0.1", TickSize.TICK_0_1, 100_000),
        ("0.01", TickSize.TICK_0_01, 10_000),
        ("0.001", TickSize.TICK_0_001, 1_000),
        ("0.0001", TickSize.TICK_0_0001, 100),
        ("0.005", TickSize.TICK_0_005, 5_000),
        ("0.0025", TickSize.TICK_0_0025, 2_500),
        (".01", TickSize.TICK_0_01, 10_000),
        ("0.010", TickSize.TICK_0_01, 10_000),
        (Decimal("0.001"), TickSize.TICK_0_001, 1_000),
    ],
)
def test_tick_size_parse_knows_every_venue_tick(value: str | Decimal, tick: TickSize, micros_per_tick: int) -> None:
    parsed = TickSize.parse(value)
    assert parsed is tick
    assert parsed.micros_per_tick == micros_per_tick
    assert parsed.decimal == Decimal(tick.text)
    assert str(parsed) == tick.text


@pytest.mark.parametrize("value", ["0.02", "0.00001", "1", "0", "-0.01", "abc", 0.01])
def test_tick_size_parse_refuses_other_values(value: object) -> None:
    with pytest.raises(InvalidTickSizeError):
        TickSize.parse(value)  # type: ignore[arg-type]


def test_tick_grid() -> None:
    assert TickSize.TICK_0_01.is_on_grid(480_000)
    assert not TickSize.TICK_0_01.is_on_grid(485_000)
    assert TickSize.TICK_0_005.is_on_grid(485_000)
    assert not TickSize.TICK_0_005.is_on_grid(486_000)
    assert TickSize.TICK_0_0025.is_on_grid(2_500)
    assert not TickSize.TICK_0_0025.is_on_grid(1_000)
    assert not TickSize.TICK_0_01.is_on_grid(0)
    assert not TickSize.TICK_0_01.is_on_grid(MICROS)


def test_side_is_the_wire_spelling() -> None:
    assert Side("BUY") is Side.BUY
    assert Side.BUY == "BUY"
    assert Side.BUY.opposite is Side.SELL
    assert Side.SELL.opposite is Side.BUY
