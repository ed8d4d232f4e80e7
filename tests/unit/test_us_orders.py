"""US order entry's pure core: exact requests, local refusals, decoders, unique ids, the open-orders view."""

from __future__ import annotations

import multiprocessing
import threading
from dataclasses import replace
from decimal import Decimal

import pytest

from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.core.us_order_view import OpenOrdersView, OrderChangeKind
from polyinfra.core.us_orders import (
    ClientOrderIds,
    Outcome,
    UsOrderIntent,
    UsTimeInForce,
    execution_from_wire,
    insert_request,
    order_from_wire,
)
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import (
    InstrumentNotTradingError,
    InvalidNumberError,
    MalformedMessageError,
    MinimumSizeError,
    TickSizeViolationError,
)
from polyinfra.model.numbers import Side
from polyinfra.wire.us.polymarket.v1 import enums_pb2, orders_pb2

MLB = next(i for i in US_INSTRUMENTS if i.symbol == "aec-mlb-nyy-bos-2026-04-10")  # 1000, tick 0.005, qty 100


def intent(**fields: object) -> UsOrderIntent:
    base: dict[str, object] = {
        "symbol": MLB.symbol,
        "side": Side.BUY,
        "price": Decimal("0.655"),
        "quantity": Decimal("3.12"),
    }
    return UsOrderIntent(**(base | fields))  # type: ignore[arg-type]


def test_decimal_in_exact_int64_out() -> None:
    request = insert_request(MLB, intent(time_in_force=UsTimeInForce.FOK), "c-1")
    assert (request.price, request.order_qty, request.side) == (655, 312, enums_pb2.SIDE_BUY)
    assert request.time_in_force == enums_pb2.TIME_IN_FORCE_FILL_OR_KILL
    assert request.type == enums_pb2.ORDER_TYPE_LIMIT


def test_a_no_order_is_the_mirrored_yes_order() -> None:
    request = insert_request(MLB, intent(outcome=Outcome.NO, price=Decimal("0.345")), "c-1")
    assert (request.side, request.price) == (enums_pb2.SIDE_SELL, 655)


def test_tick_minimum_and_scale_are_checked_never_rounded() -> None:
    with pytest.raises(TickSizeViolationError):
        insert_request(MLB, intent(price=Decimal("0.653")), "c-1")
    with pytest.raises(MinimumSizeError):
        insert_request(MLB, intent(quantity=Decimal(0)), "c-1")
    with pytest.raises(InvalidNumberError, match="more decimals"):
        insert_request(MLB, intent(quantity=Decimal("0.001")), "c-1")


@pytest.mark.parametrize(
    "state", [s for s in UsInstrumentState if s not in (UsInstrumentState.OPEN, UsInstrumentState.PREOPEN)]
)
def test_an_instrument_that_takes_no_orders_is_refused_locally(state: UsInstrumentState) -> None:
    with pytest.raises(InstrumentNotTradingError) as refused:
        insert_request(replace(MLB, state=state), intent(), "c-1")
    assert refused.value.context["state"] == state.name


def test_client_order_ids_are_unique_across_threads() -> None:
    ids = ClientOrderIds("t")
    found: list[str] = []

    def take() -> None:
        found.extend(ids.next() for _ in range(2000))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 8000
    assert all(len(clord_id) <= 64 for clord_id in found)


def _first_id(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(SHARED.next())


SHARED = ClientOrderIds("p")


def test_client_order_ids_differ_in_a_forked_child() -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_first_id, args=(queue,))
    child.start()
    theirs = queue.get(timeout=30)
    child.join()
    assert theirs != SHARED.next()
    assert theirs.split("-")[1] != SHARED.next().split("-")[1]  # the child's pid part


def wire_order(**fields: object) -> orders_pb2.Order:
    base: dict[str, object] = {
        "id": "o-1",
        "clord_id": "c-1",
        "symbol": MLB.symbol,
        "side": enums_pb2.SIDE_BUY,
        "price": 655,
        "order_qty": 312,
        "leaves_qty": 312,
        "price_scale": 1000,
        "fractional_quantity_scale": 100,
        "time_in_force": enums_pb2.TIME_IN_FORCE_GOOD_TILL_CANCEL,
    }
    return orders_pb2.Order(**(base | fields))  # type: ignore[arg-type]


def test_orders_and_executions_decode_exactly() -> None:
    order = order_from_wire(wire_order(cum_qty=12, commission_notional_total_collected=-2500))
    assert (order.price, order.quantity, order.filled, order.state) == (
        Decimal("0.655"),
        Decimal("3.12"),
        Decimal("0.12"),
        "NEW",
    )
    assert order.commission == Decimal("-0.025")  # notional units / (1000 x 100)
    execution = execution_from_wire(
        orders_pb2.Execution(
            id="e-1", order=wire_order(), type=enums_pb2.EXECUTION_TYPE_FILL, last_shares=12, last_px=650
        )
    )
    assert (execution.kind, execution.last_quantity, execution.last_price) == ("FILL", Decimal("0.12"), Decimal("0.65"))
    with pytest.raises(MalformedMessageError):
        execution_from_wire(orders_pb2.Execution(id="e-1"))
    with pytest.raises(MalformedMessageError):
        order_from_wire(wire_order(price_scale=-5))


def _execution(kind: int, state: int, order_id: str = "o-1", cum: int = 0) -> object:
    return execution_from_wire(
        orders_pb2.Execution(
            id=f"e-{kind}-{state}",
            type=kind,
            order=wire_order(id=order_id, clord_id=f"c-{order_id}", state=state, cum_qty=cum),
        )
    )


def test_the_view_reports_each_change_once_and_differences_after_a_reconnect() -> None:
    view = OpenOrdersView()
    a = order_from_wire(wire_order(id="a", clord_id="ca"))
    b = order_from_wire(wire_order(id="b", clord_id="cb"))
    assert [c.kind for c in view.snapshot([a, b])] == [OrderChangeKind.OPEN, OrderChangeKind.OPEN]
    fill = _execution(enums_pb2.EXECUTION_TYPE_PARTIAL_FILL, enums_pb2.ORDER_STATE_PARTIALLY_FILLED, "a", 10)
    assert view.execution(fill).kind is OrderChangeKind.CHANGED  # type: ignore[arg-type, union-attr]
    assert view.execution(fill) is None  # a duplicate delivery
    # While disconnected: a filled further, b closed, c opened. The fresh snapshot shows only those differences.
    a2 = order_from_wire(wire_order(id="a", clord_id="ca", cum_qty=20, state=enums_pb2.ORDER_STATE_PARTIALLY_FILLED))
    c = order_from_wire(wire_order(id="c", clord_id="cc"))
    changes = view.snapshot([a2, c])
    assert {(ch.kind, ch.order.order_id) for ch in changes} == {
        (OrderChangeKind.CHANGED, "a"),
        (OrderChangeKind.OPEN, "c"),
        (OrderChangeKind.CLOSED, "b"),
    }
    assert view.snapshot([a2, c]) == []
    assert view.by_clord_id("cb") is not None


def test_fok_new_then_expired_closes_once() -> None:
    view = OpenOrdersView()
    new = _execution(enums_pb2.EXECUTION_TYPE_NEW, enums_pb2.ORDER_STATE_NEW, "f")
    expired = _execution(enums_pb2.EXECUTION_TYPE_EXPIRED, enums_pb2.ORDER_STATE_EXPIRED, "f")
    assert view.execution(new).kind is OrderChangeKind.OPEN  # type: ignore[arg-type, union-attr]
    assert view.execution(expired).kind is OrderChangeKind.CLOSED  # type: ignore[arg-type, union-attr]
    assert view.execution(expired) is None
    assert view.open_orders == []
    assert view.by_clord_id("c-f").state == "EXPIRED"  # type: ignore[union-attr]
