"""US exchange instruments: exact int64 <-> Decimal conversions, ticks never rounded, the wire decoder's checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from polyinfra.core.us_instruments import (
    UsInstrument,
    UsInstrumentState,
    instrument_from_wire,
    instrument_to_wire,
)
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import InvalidNumberError, MalformedMessageError, MinimumSizeError, TickSizeViolationError
from polyinfra.wire.us.polymarket.v1 import refdata_pb2, types_pb2


def wire(**fields: object) -> refdata_pb2.Instrument:
    base: dict[str, object] = {
        "symbol": "tec-nfl-sbw-2026-02-08-kc",
        "tick_size": 0.005,
        "price_scale": 1000,
        "fractional_qty_scale": 100,
        "minimum_trade_qty": 1,
        "state": "INSTRUMENT_STATE_OPEN",
    }
    return refdata_pb2.Instrument(**(base | fields))  # type: ignore[arg-type]


MLB = instrument_from_wire(wire())  # price_scale 1000, tick 0.005, hundredths of a contract


def test_the_scales_are_divisors() -> None:
    assert MLB.price(655) == Decimal("0.655")
    assert MLB.price(1000) == Decimal(1)
    assert MLB.quantity(312) == Decimal("3.12")
    cents = instrument_from_wire(wire(price_scale=100, tick_size=0.01))
    assert cents.price(97) == Decimal("0.97")
    assert (cents.tick_units, MLB.tick_units) == (1, 5)


def test_prices_and_quantities_go_back_to_the_wire_exactly() -> None:
    assert MLB.price_units(Decimal("0.655")) == 655
    assert MLB.price_units("0.65") == 650
    assert MLB.price_units(1) == 1000
    assert MLB.quantity_units(Decimal("3.12")) == 312
    assert MLB.quantity_units("0.01") == 1
    for px in range(0, 1001, 5):
        assert MLB.price_units(MLB.price(px)) == px


def test_a_price_off_the_tick_is_refused_never_rounded() -> None:
    with pytest.raises(TickSizeViolationError) as refused:
        MLB.price_units(Decimal("0.653"))
    assert refused.value.context["tick_size"] == Decimal("0.005")
    with pytest.raises(InvalidNumberError, match="more decimals than"):
        MLB.price_units("0.6551")


def test_a_quantity_below_the_minimum_or_finer_than_the_scale_is_refused() -> None:
    whole = instrument_from_wire(wire(fractional_qty_scale=0, minimum_trade_qty=2))
    assert (whole.quantity_scale, whole.minimum_quantity) == (1, Decimal(2))
    with pytest.raises(MinimumSizeError):
        whole.quantity_units(1)
    with pytest.raises(InvalidNumberError, match="more decimals than"):
        whole.quantity_units("2.5")
    with pytest.raises(MinimumSizeError):
        MLB.quantity_units(0)


@pytest.mark.parametrize("bad", [0.655, -1, "-0.5", "1e3", " 0.5", "NaN", True, 10**40])
def test_floats_negatives_and_odd_text_are_refused(bad: object) -> None:
    with pytest.raises(InvalidNumberError):
        MLB.price_units(bad)  # type: ignore[arg-type]


def test_the_tick_double_is_read_through_its_shortest_repr() -> None:
    assert MLB.tick_size == Decimal("0.005")
    assert instrument_from_wire(wire(price_scale=1000, tick_size=0.001)).tick_size == Decimal("0.001")
    # Some of the venue's data gives the tick in price units: 5 at price_scale 1000 is 0.005.
    assert instrument_from_wire(wire(tick_size=5.0)).tick_size == Decimal("0.005")


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"symbol": ""}, "symbol"),
        ({"symbol": "x" * 201}, "symbol"),
        ({"price_scale": 0}, "price_scale"),
        ({"price_scale": 10**12}, "price_scale"),
        ({"fractional_qty_scale": -1}, "fractional_qty_scale"),
        ({"tick_size": 0.0}, "tick_size"),
        ({"tick_size": float("nan")}, "tick_size"),
        ({"tick_size": 0.0001}, "whole number of price units"),
        ({"minimum_trade_qty": -1}, "minimum_trade_qty"),
        ({"state": 42}, "state"),
        ({"settlement_price_scale": -5}, "settlement_price_scale"),
        ({"expiration_date": types_pb2.Date(year=2026, month=2, day=30)}, "date"),
        ({"metadata": {f"k{i}": "v" for i in range(300)}}, "metadata"),
    ],
)
def test_an_impossible_instrument_is_a_malformed_message(fields: dict[str, object], complaint: str) -> None:
    with pytest.raises(MalformedMessageError, match=complaint):
        instrument_from_wire(wire(**fields))


def test_settlement_fields_and_dates_are_kept() -> None:
    decoded = instrument_from_wire(
        wire(
            settlement_currency="USD",
            settlement_price_scale=1000,
            expiration_date=types_pb2.Date(year=2026, month=2, day=8),
            metadata={"league": "NFL"},
            description="Kansas City wins",
        )
    )
    assert decoded.expiration_date == date(2026, 2, 8)
    assert (decoded.settlement_currency, decoded.settlement_price_scale) == ("USD", 1000)
    assert dict(decoded.metadata) == {"league": "NFL"}
    assert instrument_from_wire(wire()).expiration_date is None


@pytest.mark.parametrize("instrument", US_INSTRUMENTS, ids=lambda i: i.symbol)
def test_every_emulator_instrument_survives_the_wire(instrument: UsInstrument) -> None:
    sent = instrument_to_wire(instrument).SerializeToString()
    assert instrument_from_wire(refdata_pb2.Instrument.FromString(sent)) == instrument


def test_the_emulator_lists_every_shape_the_venue_uses() -> None:
    shapes = {(i.price_scale, i.tick_size, i.quantity_scale) for i in US_INSTRUMENTS}
    assert {(100, Decimal("0.01")), (1000, Decimal("0.005")), (1000, Decimal("0.001"))} <= {s[:2] for s in shapes}
    assert {1, 100} == {s[2] for s in shapes}
    assert {UsInstrumentState.OPEN, UsInstrumentState.PREOPEN, UsInstrumentState.SUSPENDED} <= {
        i.state for i in US_INSTRUMENTS
    }
    assert replace(US_INSTRUMENTS[0], symbol="x") != US_INSTRUMENTS[0]
