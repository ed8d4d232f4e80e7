"""Hostile order entry at the emulated US exchange: any InsertOrder, CancelOrder or CancelReplaceOrder request
is accepted or refused with a gRPC status and a sentence of the catalogue's kind; never another exception, and
the books stay consistent (no order open on the engine without its resting quantity on the book)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.emulator.us.market import UsMarket
from polyinfra.emulator.us.order_engine import Refusal, UsOrderEngine
from polyinfra.wire.us.polymarket.v1 import trading_pb2

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
INT32 = st.integers(min_value=-(1 << 31), max_value=(1 << 31) - 1)
SYMBOLS = st.one_of(st.sampled_from([i.symbol for i in US_INSTRUMENTS]), st.text(max_size=300))
STATUS_CODES = {"NOT_FOUND", "FAILED_PRECONDITION", "INVALID_ARGUMENT", "ALREADY_EXISTS"}

inserts = st.builds(
    trading_pb2.InsertOrderRequest,
    type=st.one_of(st.just(2), INT32),
    side=st.one_of(st.sampled_from([1, 2]), INT32),
    order_qty=st.one_of(st.integers(1, 10_000), INT64),
    symbol=SYMBOLS,
    price=st.one_of(st.integers(0, 1000), INT64),
    time_in_force=st.one_of(st.sampled_from([1, 2, 3, 5]), INT32),
    clord_id=st.one_of(st.text(max_size=5), st.text(max_size=300)),
    account=st.text(max_size=300),
)
cancels = st.builds(trading_pb2.CancelOrderRequest, order_id=st.text(max_size=10), clord_id=st.text(max_size=5))
replaces = st.builds(
    trading_pb2.CancelReplaceOrderRequest,
    order_id=st.sampled_from(["ord-1", "ord-2", "ord-3", ""]),
    price=st.one_of(st.integers(0, 1000), INT64),
    order_qty=st.one_of(st.integers(0, 10_000), INT64),
)


@given(st.lists(st.one_of(inserts, cancels, replaces), max_size=12))
def test_any_order_entry_is_accepted_or_refused_with_a_status(requests: list[object]) -> None:
    market = UsMarket(US_INSTRUMENTS, seed=1)
    market.seed_books()
    engine = UsOrderEngine(market, clock_s=lambda: 1_800_000_000.0)
    for request in requests:
        try:
            if isinstance(request, trading_pb2.InsertOrderRequest):
                engine.insert(request)
            elif isinstance(request, trading_pb2.CancelOrderRequest):
                engine.cancel(request)
            else:
                engine.replace(request)  # type: ignore[arg-type]
        except Refusal as refusal:
            assert refusal.code in STATUS_CODES and refusal.text
        engine.clear_trades()
    for order in engine.open_orders():
        assert 0 < order.leaves_qty <= order.order_qty
        resting = market.orders(order.symbol, 1000)
        assert any(entry for side in resting for entry in side)
