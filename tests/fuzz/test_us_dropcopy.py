"""Hostile DropCopy responses: any bytes of any of the four streams' responses, and any field values of an
execution, become a batch whose amounts are exact or a :class:`MalformedMessageError`, never another error;
and the token chain never reports a gap for a chain built link after link."""

from __future__ import annotations

from decimal import Decimal

from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_dropcopy import (
    ChainLink,
    DecodedBatch,
    DropCopyStream,
    TokenChain,
    UsExecution,
    chain_gaps,
    decode_batch,
    execution_from_wire,
)
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import MalformedMessageError
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, orders_pb2

REFERENCE = {instrument.symbol: instrument for instrument in US_INSTRUMENTS}
INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
INT32 = st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)
RESPONSES = {
    DropCopyStream.EXECUTIONS: dropcopy_pb2.CreateDropCopySubscriptionResponse,
    DropCopyStream.TRADES: dropcopy_pb2.CreateTradeCaptureReportSubscriptionResponse,
    DropCopyStream.INSTRUMENTS: dropcopy_pb2.CreateInstrumentStateChangeSubscriptionResponse,
    DropCopyStream.POSITIONS: dropcopy_pb2.CreatePositionChangeSubscriptionResponse,
}


def _decoded(stream: DropCopyStream, data: bytes) -> DecodedBatch | None:
    try:
        response = RESPONSES[stream].FromString(data)
    except DecodeError:
        return None
    try:
        return decode_batch(stream, response, REFERENCE)
    except MalformedMessageError:
        return None


@given(st.sampled_from(list(DropCopyStream)), st.binary(max_size=600))
def test_any_bytes_of_any_stream_decode_or_are_malformed(stream: DropCopyStream, data: bytes) -> None:
    batch = _decoded(stream, data)
    if batch is not None:
        assert len(batch.token) <= 4096
        assert (batch.newest_time_ns is None) == (not batch.events)


executions = st.builds(
    orders_pb2.Execution,
    id=st.text(max_size=250),
    order=st.builds(
        orders_pb2.Order,
        symbol=st.one_of(st.text(max_size=30), st.sampled_from(sorted(REFERENCE))),
        side=st.integers(min_value=0, max_value=5),
        price_scale=st.one_of(st.sampled_from([0, 1, 100, 1000]), INT64),
        fractional_quantity_scale=st.one_of(st.sampled_from([0, 1, 100]), INT64),
    ),
    last_px=INT64,
    last_shares=INT64,
    type=st.integers(min_value=0, max_value=9),
    commission_notional_collected=INT64,
)


@given(executions, INT64, st.integers(min_value=-5, max_value=10**9 + 5))
def test_any_execution_fields_decode_exactly_or_are_malformed(
    message: orders_pb2.Execution, seconds: int, nanos: int
) -> None:
    message.transact_time.seconds, message.transact_time.nanos = seconds, nanos
    try:
        execution = execution_from_wire(message, REFERENCE)
    except MalformedMessageError:
        return
    assert isinstance(execution, UsExecution)
    scale = message.order.price_scale or REFERENCE[execution.symbol].price_scale
    assert execution.last_price * scale == Decimal(message.last_px)
    assert execution.transact_time_ns >= 0


@given(st.lists(st.binary(max_size=8), max_size=20))
def test_a_chain_built_link_after_link_has_no_gap(tokens: list[bytes]) -> None:
    chain = TokenChain(None)
    links: list[ChainLink] = []
    for token in tokens:
        link = chain.link(token, 0, 0)
        chain.applied(link)
        links.append(link)
    assert chain_gaps(links) == []
