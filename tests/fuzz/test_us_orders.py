"""Hostile US orders and executions: any field values or any bytes become a valid :class:`UsOrder` /
:class:`UsExecution` or a :class:`MalformedMessageError`; any reject text becomes a typed error; any order a
caller builds becomes the exact request or a typed error."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_order_view import OpenOrdersView
from polyinfra.core.us_orders import (
    UsOrderIntent,
    execution_from_wire,
    insert_request,
    order_from_wire,
    position_from_wire,
)
from polyinfra.core.us_rejects import reject_error
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import InvalidValueError, MalformedMessageError, OrderRejectedError, PolyinfraError
from polyinfra.model.numbers import Side
from polyinfra.wire.us.polymarket.v1 import orders_pb2, positions_pb2

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
INT32 = st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)

orders = st.builds(
    orders_pb2.Order,
    id=st.text(max_size=250),
    clord_id=st.text(max_size=250),
    symbol=st.text(max_size=250),
    side=INT32,
    state=INT32,
    time_in_force=INT32,
    price=INT64,
    order_qty=INT64,
    cum_qty=INT64,
    leaves_qty=INT64,
    avg_px=INT64,
    price_scale=st.one_of(st.sampled_from([0, 1, 100, 1000]), INT64),
    fractional_quantity_scale=st.one_of(st.sampled_from([0, 1, 100]), INT64),
    commission_notional_total_collected=INT64,
)
executions = st.builds(
    orders_pb2.Execution,
    id=st.text(max_size=250),
    order=st.one_of(st.none(), orders),
    type=INT32,
    last_shares=INT64,
    last_px=INT64,
    text=st.text(max_size=500),
    order_reject_reason=INT32,
    commission_notional_collected=INT64,
)


@given(executions)
def test_any_execution_decodes_or_is_malformed(message: orders_pb2.Execution) -> None:
    try:
        execution = execution_from_wire(message)
    except MalformedMessageError:
        return
    assert execution.order.quantity >= 0 and execution.last_price >= 0
    assert OpenOrdersView().execution(execution) is not None or not execution.order.is_open


@given(st.binary(max_size=512))
def test_any_bytes_decode_or_are_malformed(data: bytes) -> None:
    try:
        message = orders_pb2.Order.FromString(data)
    except DecodeError:
        return
    with contextlib.suppress(MalformedMessageError):
        order_from_wire(message)


@given(st.text(max_size=2000))
def test_any_reject_text_is_a_typed_error(text: str) -> None:
    assert isinstance(reject_error(text), PolyinfraError)
    assert isinstance(reject_error(text), OrderRejectedError | PolyinfraError)


@given(
    st.sampled_from(US_INSTRUMENTS),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
)
def test_any_order_is_exact_or_a_typed_error(instrument: object, price: Decimal, quantity: Decimal) -> None:
    chosen = US_INSTRUMENTS[US_INSTRUMENTS.index(instrument)]  # type: ignore[arg-type]
    try:
        request = insert_request(chosen, UsOrderIntent(chosen.symbol, Side.BUY, price, quantity), "c-1")
    except (InvalidValueError, OrderRejectedError):
        return
    assert chosen.price(request.price) == price
    assert chosen.quantity(request.order_qty) == quantity


@given(
    st.builds(
        positions_pb2.Position,
        account=st.text(max_size=250),
        symbol=st.sampled_from([US_INSTRUMENTS[0].symbol, "other"]),
        net_position=INT64,
        qty_bought=INT64,
        qty_sold=INT64,
    )
)
def test_any_position_decodes_or_is_malformed(message: positions_pb2.Position) -> None:
    try:
        position = position_from_wire(message, US_INSTRUMENTS[0])
    except MalformedMessageError:
        return
    assert position.bought >= 0 and position.sold >= 0
