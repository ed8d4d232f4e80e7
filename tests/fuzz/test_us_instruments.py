"""Hostile US exchange instruments: every ``Instrument`` message, from any field values or any bytes, becomes a
valid :class:`UsInstrument` or a :class:`MalformedMessageError`; every price or quantity a caller passes
becomes the exact wire int or a typed error, and a valid one survives the round trip."""

from __future__ import annotations

from decimal import Decimal

from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_instruments import MAX_SCALE, UsInstrument, instrument_from_wire
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import InvalidNumberError, MalformedMessageError, MinimumSizeError, TickSizeViolationError
from polyinfra.wire.us.polymarket.v1 import refdata_pb2, types_pb2

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
INT32 = st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)
SCALES = st.one_of(st.sampled_from([0, 1, 100, 1000, MAX_SCALE, MAX_SCALE + 1]), INT64)
TICKS = st.one_of(st.sampled_from([0.01, 0.005, 0.001, 0.0025, 1.0, 5.0, 10.0, 0.0]), st.floats())

instruments = st.builds(
    refdata_pb2.Instrument,
    symbol=st.one_of(st.text(max_size=300), st.just("tec-nfl-sbw-2026-02-08-kc")),
    tick_size=TICKS,
    price_scale=SCALES,
    fractional_qty_scale=SCALES,
    minimum_trade_qty=INT64,
    state=INT32,
    settlement_price_scale=SCALES,
    expiration_date=st.builds(types_pb2.Date, year=INT32, month=INT32, day=INT32),
    metadata=st.dictionaries(st.text(max_size=50), st.text(max_size=50), max_size=20),
    description=st.text(max_size=100),
)


def _check(instrument: UsInstrument) -> None:
    assert 1 <= instrument.price_scale <= MAX_SCALE and 1 <= instrument.quantity_scale <= MAX_SCALE
    assert instrument.tick_units >= 1
    assert instrument.tick_size * instrument.price_scale == instrument.tick_units
    assert instrument.minimum_quantity_units >= 1
    top = instrument.tick_units * 7
    assert instrument.price_units(instrument.price(top)) == top


@given(instruments)
def test_any_instrument_message_is_valid_or_malformed(message: refdata_pb2.Instrument) -> None:
    try:
        decoded = instrument_from_wire(message)
    except MalformedMessageError:
        return
    _check(decoded)


@given(st.binary(max_size=400))
def test_any_bytes_that_parse_are_valid_or_malformed(data: bytes) -> None:
    try:
        message = refdata_pb2.Instrument.FromString(data)
    except DecodeError:
        return  # the gRPC runtime refuses these before any polyinfra code sees them
    try:
        decoded = instrument_from_wire(message)
    except MalformedMessageError:
        return
    _check(decoded)


NUMBERS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=0, max_value=2, places=4),
    st.integers(min_value=-5, max_value=10**30),
    st.text(max_size=40),
    st.floats(),
)


@given(st.sampled_from(US_INSTRUMENTS), NUMBERS)
def test_a_callers_price_or_quantity_is_exact_or_refused(instrument: UsInstrument, value: object) -> None:
    try:
        units = instrument.price_units(value)  # type: ignore[arg-type]
    except (InvalidNumberError, TickSizeViolationError):
        pass
    else:
        assert units % instrument.tick_units == 0
        assert instrument.price(units) == Decimal(str(value))
    try:
        quantity = instrument.quantity_units(value)  # type: ignore[arg-type]
    except (InvalidNumberError, MinimumSizeError):
        pass
    else:
        assert quantity >= instrument.minimum_quantity_units
        assert instrument.quantity(quantity) == Decimal(str(value))
