"""US order entry end to end: the emulator's order engine on a free gRPC port, real sockets, the client, the
order stream and positions; halts, every reject text, a lost insert answer, and a reconnect's differences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from polyinfra.cli.book_view import Rates
from polyinfra.cli.us_watch import us_view, watched_instrument
from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.core.us_order_view import OrderChange, OrderChangeKind
from polyinfra.core.us_orders import UsOrderIntent, UsTimeInForce
from polyinfra.core.us_rejects import REJECT_TEXTS, rule_for
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import (
    InstrumentNotTradingError,
    MissingScopeError,
    OrderOutcomeUnknownError,
    PolyinfraError,
    RateLimitedError,
    UnknownOrderError,
)
from polyinfra.model.events import SyncState
from polyinfra.model.numbers import Side
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.us.order_entry import UsOrderEntry
from polyinfra.us.order_stream import UsOrderStream
from polyinfra.us.position_stream import UsPositionStream
from polyinfra.wire.us.polymarket.v1 import (
    dropcopy_pb2,
    enums_pb2,
    orders_pb2,
    refdata_pb2,
    trading_pb2,
)
from tests.integration.us_auth_steps import EmulatorFactory, Keys, ManualClock, registration, token_manager
from tests.integration.us_market_data_steps import until

MLB = "aec-mlb-nyy-bos-2026-04-10"  # price_scale 1000, tick 0.005, hundredths of a contract
ALICE = "firms/emulator/accounts/alice"
BOB = "firms/emulator/accounts/bob"


class Recorder:
    """Every event the order engine reports, as a DropCopy history would hear them."""

    def __init__(self) -> None:
        self.executions: list[orders_pb2.Execution] = []
        self.trades: list[orders_pb2.Trade] = []
        self.states: list[refdata_pb2.Instrument] = []
        self.positions: list[dropcopy_pb2.PositionChange] = []

    def execution(self, execution: orders_pb2.Execution) -> None:
        self.executions.append(execution)

    def trade(self, trade: orders_pb2.Trade) -> None:
        self.trades.append(trade)

    def instrument_state_change(self, instrument: refdata_pb2.Instrument) -> None:
        self.states.append(instrument)

    def position_change(self, change: dropcopy_pb2.PositionChange) -> None:
        self.positions.append(change)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, seed_books=False) as running:
        yield running


@pytest.fixture
def recorder(emulator: Emulator) -> Recorder:
    found = Recorder()
    emulator.us_orders.add_listener(found)
    return found


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[UsExchangeClient]:
    async with UsExchangeClient(emulator.urls["grpc"], insecure=True) as opened:
        yield opened


@pytest.fixture
async def stream(client: UsExchangeClient) -> AsyncIterator[UsOrderStream]:
    async with UsOrderStream(client, reconnect_initial_s=0.01, reconnect_max_s=0.05) as opened:
        yield opened


def order(
    side: Side, price: str, quantity: str, tif: UsTimeInForce = UsTimeInForce.GTC, account: str = ""
) -> UsOrderIntent:
    return UsOrderIntent(MLB, side, Decimal(price), Decimal(quantity), tif, account=account)


async def test_place_list_cancel(client: UsExchangeClient, stream: UsOrderStream) -> None:
    entry = UsOrderEntry(client, stream=stream)
    placed = await entry.place(order(Side.BUY, "0.455", "3.12"))
    [listed] = await entry.open_orders([MLB])
    assert (listed.order_id, listed.clord_id) == (placed.order_id, placed.clord_id)
    assert (listed.price, listed.quantity, listed.state) == (Decimal("0.455"), Decimal("3.12"), "NEW")
    await until(lambda: stream.view.by_clord_id(placed.clord_id) is not None, "the order on the stream")
    await entry.cancel(order_id=placed.order_id)
    assert await entry.open_orders([MLB]) == []
    with pytest.raises(UnknownOrderError):
        await entry.cancel(order_id=placed.order_id)
    await until(lambda: not stream.view.open_orders, "the cancel on the stream")
    assert stream.view.by_clord_id(placed.clord_id).state == "CANCELED"  # type: ignore[union-attr]


async def test_fok_that_cannot_fill_gives_new_then_expired(
    client: UsExchangeClient, stream: UsOrderStream, recorder: Recorder
) -> None:
    entry = UsOrderEntry(client, stream=stream)
    placed = await entry.place(order(Side.BUY, "0.5", "1", UsTimeInForce.FOK))
    kinds = [e.type for e in recorder.executions if e.order.clord_id == placed.clord_id]
    assert kinds == [enums_pb2.EXECUTION_TYPE_NEW, enums_pb2.EXECUTION_TYPE_EXPIRED]
    await until(
        lambda: (
            len(stream.drain()) == 0
            and stream.view.by_clord_id(placed.clord_id) is not None
            and stream.view.by_clord_id(placed.clord_id).state == "EXPIRED"
        ),
        "EXPIRED on the stream",
    )  # type: ignore[union-attr]
    assert recorder.trades == []


async def test_a_match_gives_fills_trades_positions_and_commissions(
    client: UsExchangeClient, emulator: Emulator, recorder: Recorder
) -> None:
    alice = UsOrderEntry(client, account=ALICE)
    bob = UsOrderEntry(client, account=BOB)
    resting = await alice.place(order(Side.SELL, "0.6", "2"))
    taking = await bob.place(order(Side.BUY, "0.6", "1", UsTimeInForce.IOC))
    by_order = {(e.order.id, e.type) for e in recorder.executions}
    assert (taking.order_id, enums_pb2.EXECUTION_TYPE_FILL) in by_order
    assert (resting.order_id, enums_pb2.EXECUTION_TYPE_PARTIAL_FILL) in by_order
    await until(lambda: len(recorder.trades) == 2, "the trade and its clearing")
    assert [t.state for t in recorder.trades] == [enums_pb2.TRADE_STATE_NEW, enums_pb2.TRADE_STATE_CLEARED]
    assert recorder.trades[0].aggressor.order.id == taking.order_id
    taker_fill = next(e for e in recorder.executions if e.order.id == taking.order_id and e.last_shares)
    # 0.0695 x 1 x 0.6 x 0.4 = 0.01668 -> $0.02, in notional units of 1000 x 100.
    assert taker_fill.commission_notional_collected == 2000
    assert [p.net for p in await bob.positions()] == [Decimal(1)]
    assert [p.net for p in await alice.positions()] == [Decimal(-1)]
    assert {c.position.account for c in recorder.positions} == {ALICE, BOB}
    balance = await bob.balance()
    assert balance.balance == Decimal(100_000) - Decimal("0.6") - Decimal("0.02")


async def test_a_halted_book_refuses_orders_at_the_emulator_and_locally(
    client: UsExchangeClient, emulator: Emulator, recorder: Recorder
) -> None:
    entry = UsOrderEntry(client)
    await entry.instrument(MLB)  # cached while OPEN: the emulator's refusal is what stops the next order
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as http:
        answer = await http.post("/_emulator/us/instruments/state", json={"symbol": MLB, "state": "HALTED"})
    assert answer.json() == {"symbol": MLB, "state": "HALTED"}
    assert recorder.states[-1].state == refdata_pb2.INSTRUMENT_STATE_HALTED
    with pytest.raises(InstrumentNotTradingError, match="Book is HALTED"):
        await entry.place(order(Side.BUY, "0.5", "1"))
    rejected = recorder.executions[-1]
    assert (rejected.type, rejected.order_reject_reason) == (
        enums_pb2.EXECUTION_TYPE_REJECTED,
        enums_pb2.ORD_REJECT_REASON_EXCHANGE_CLOSED,
    )
    fresh = UsOrderEntry(client)  # reads the HALTED state from reference data: refused before sending
    sent = len(recorder.executions)
    with pytest.raises(InstrumentNotTradingError) as local:
        await fresh.place(order(Side.BUY, "0.5", "1"))
    assert local.value.context["state"] == "HALTED" and "venue_message" not in local.value.context
    assert len(recorder.executions) == sent
    emulator.us_orders.set_state(MLB, UsInstrumentState.OPEN)
    entry.set_instrument_state(MLB, UsInstrumentState.OPEN)
    assert (await entry.place(order(Side.BUY, "0.5", "1"))).order_id


async def test_a_halt_seen_on_the_market_data_stream_refuses_orders_locally(
    client: UsExchangeClient, emulator: Emulator, recorder: Recorder
) -> None:
    async with UsLiveBooks(emulator.urls["grpc"], insecure=True, reconnect_initial_s=0.01) as books:
        await books.subscribe([MLB])
        await until(lambda: books.state(MLB) is SyncState.LIVE, "the book live")
        entry = UsOrderEntry(client, books=books)
        assert (await entry.instrument(MLB)).state is UsInstrumentState.OPEN
        emulator.us_orders.set_state(MLB, UsInstrumentState.HALTED)
        await until(lambda: books.instrument(MLB).state is UsInstrumentState.HALTED, "the halt on the stream")
        sent = len(recorder.executions)
        with pytest.raises(InstrumentNotTradingError) as local:
            await entry.place(order(Side.BUY, "0.5", "1"))
        assert local.value.context["state"] == "HALTED" and "venue_message" not in local.value.context
        assert len(recorder.executions) == sent  # refused before anything was sent
        assert "HALTED " + MLB in us_view(books).status(
            [watched_instrument(books.instrument(MLB))], Rates(0.0, None, None)
        )
        emulator.us_orders.set_state(MLB, UsInstrumentState.OPEN)
        await until(lambda: books.instrument(MLB).state is UsInstrumentState.OPEN, "the reopening on the stream")
        assert (await entry.place(order(Side.BUY, "0.5", "1"))).order_id


async def test_every_reject_text_of_the_catalogue_reaches_the_client_as_its_class(
    client: UsExchangeClient, emulator: Emulator
) -> None:
    entry = UsOrderEntry(client)
    for name in REJECT_TEXTS:
        emulator.us_order_faults.update({"inject_reject": name, "inject_reject_count": 1})
        rule = rule_for(
            REJECT_TEXTS[name].format(limit=1, given=0, minimum=1, available=0, requested=1, state="X", detail="d")
        )
        assert rule is not None
        with pytest.raises(rule.error):
            await entry.place(order(Side.BUY, "0.5", "1"))


async def test_a_lost_insert_answer_is_resolved_without_a_second_insert(
    client: UsExchangeClient, emulator: Emulator, stream: UsOrderStream
) -> None:
    entry = UsOrderEntry(client, stream=stream)
    emulator.us_order_faults.drop_insert_replies = 1
    placed = await entry.place(order(Side.BUY, "0.45", "1"))
    assert placed.resolved
    [made] = emulator.us_orders.orders_with_clord_id(placed.clord_id)
    assert made.id == placed.order_id
    # A FOK that expired at once is not open any more: only the order stream knows it.
    emulator.us_order_faults.drop_insert_replies = 1
    expired = await entry.place(order(Side.SELL, "0.9", "1", UsTimeInForce.FOK))
    assert expired.resolved and len(emulator.us_orders.orders_with_clord_id(expired.clord_id)) == 1
    # Without a stream an order gone by then cannot be told from one never made: a typed error, no retry.
    emulator.us_order_faults.drop_insert_replies = 1
    blind = UsOrderEntry(client)
    with pytest.raises(OrderOutcomeUnknownError) as unknown:
        await blind.place(order(Side.SELL, "0.9", "1", UsTimeInForce.FOK), clord_id="lost-fok")
    assert unknown.value.context["clord_id"] == "lost-fok"
    assert len(emulator.us_orders.orders_with_clord_id("lost-fok")) == 1


async def test_the_order_stream_after_a_reconnect_emits_only_differences(
    client: UsExchangeClient, emulator: Emulator, stream: UsOrderStream
) -> None:
    entry = UsOrderEntry(client, stream=stream)
    kept = await entry.place(order(Side.BUY, "0.4", "1"))
    gone = await entry.place(order(Side.BUY, "0.41", "1"))
    await until(lambda: len(stream.view.open_orders) == 2, "both orders on the stream")
    stream.drain()
    sessions = stream.sessions
    # Drop the stream, and change the orders before it can reconnect (no await in between): the old session
    # never tells of these, so only the next snapshot can.
    emulator.us_streams.drop_all()
    emulator.us_orders.cancel(trading_pb2.CancelOrderRequest(order_id=gone.order_id))
    emulator.us_orders.insert(
        trading_pb2.InsertOrderRequest(
            type=enums_pb2.ORDER_TYPE_LIMIT,
            side=enums_pb2.SIDE_BUY,
            order_qty=100,
            symbol=MLB,
            price=420,
            time_in_force=enums_pb2.TIME_IN_FORCE_GOOD_TILL_CANCEL,
            clord_id="while-down",
        )
    )
    await until(
        lambda: (
            stream.sessions > sessions
            and len(stream.view.open_orders) == 2
            and stream.view.by_clord_id("while-down") is not None
        ),
        "the next snapshot",
    )
    changes = stream.drain()
    assert sorted((c.kind, c.order.clord_id) for c in changes) == [
        (OrderChangeKind.CLOSED, gone.clord_id),
        (OrderChangeKind.OPEN, "while-down"),
    ]
    assert kept.order_id in {o.order_id for o in stream.view.open_orders}


async def test_the_ingress_limit_refuses_past_its_budget(client: UsExchangeClient, emulator: Emulator) -> None:
    emulator.us_order_faults.ingress_limit_per_s = 2 / 60  # two messages a minute
    entry = UsOrderEntry(client)
    await entry.place(order(Side.BUY, "0.3", "1"))
    await entry.place(order(Side.BUY, "0.3", "1"))
    with pytest.raises(RateLimitedError):
        await entry.place(order(Side.BUY, "0.3", "1"))


async def test_lists_replace_and_preview(client: UsExchangeClient, emulator: Emulator, recorder: Recorder) -> None:
    entry = UsOrderEntry(client)
    preview = await entry.preview(order(Side.BUY, "0.35", "2"))
    assert (preview.price, preview.quantity, preview.state) == (Decimal("0.35"), Decimal(2), "NEW")
    assert emulator.us_orders.open_orders() == []  # a preview places nothing
    placed = await entry.place_list([order(Side.BUY, "0.3", "1"), order(Side.BUY, "0.5", "1000000")])
    assert placed[0] is not None and placed[1] is None  # the second is past the account's buying power
    assert "99999.7 USD available, requested 500000.0" in [e.text for e in recorder.executions]
    await entry.replace(placed[0].order_id, MLB, price=Decimal("0.32"), quantity=Decimal("1.5"))
    [moved] = await entry.open_orders()
    assert (moved.price, moved.quantity) == (Decimal("0.32"), Decimal("1.5"))
    await entry.replace_list([(moved.order_id, MLB, Decimal("0.33"), Decimal("1.5"))])
    assert (await entry.open_orders())[0].price == Decimal("0.33")
    await entry.cancel_list([moved.order_id, "no-such-order"])
    assert await entry.open_orders() == []


async def test_a_scheduled_halt_applies_on_the_engine_clock(client: UsExchangeClient, emulator: Emulator) -> None:
    now = emulator.us_orders.clock_s()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as http:
        answer = await http.post(
            "/_emulator/us/instruments/state", json={"symbol": MLB, "state": "HALTED", "at_s": now - 1}
        )
        assert answer.status_code == 200
        refused = await http.post("/_emulator/us/instruments/state", json={"symbol": MLB, "state": "LIMBO"})
        assert refused.status_code == 400
    entry = UsOrderEntry(client)
    await entry.instrument(MLB)  # still OPEN in reference data until the engine next runs its schedule
    with pytest.raises(InstrumentNotTradingError):
        await entry.place(order(Side.BUY, "0.5", "1"))


async def test_the_position_stream_sends_a_snapshot_then_changes(client: UsExchangeClient, emulator: Emulator) -> None:
    async with UsPositionStream(client, accounts=[BOB], reconnect_initial_s=0.01, reconnect_max_s=0.05) as held:
        assert held.drain() == [] and held.positions == {}
        await UsOrderEntry(client, account=ALICE).place(order(Side.SELL, "0.6", "1"))
        await UsOrderEntry(client, account=BOB).place(order(Side.BUY, "0.6", "1", UsTimeInForce.FOK))
        await until(lambda: (BOB, MLB) in held.positions, "Bob's position")
        assert [(p.account, p.net) for p in held.drain()] == [(BOB, Decimal(1))]
        # A reconnect's snapshot shows nothing new: no change is emitted again.
        emulator.us_streams.drop_all()
        await until(lambda: held.snapshots == 2, "the next session's snapshot")
        assert held.drain() == []
        assert held.sessions == 2 and held.last_failure is not None


async def test_each_rpc_needs_its_own_scope(emulator_factory: EmulatorFactory) -> None:
    keys = Keys()
    base = ManualClock()
    secured = await emulator_factory(
        seed_books=False,
        us_require_auth=True,
        us_clients=[registration(keys, ["read:instruments", "read:orders"])],
        us_clock_s=base,
    )
    async with (
        token_manager(secured, base, keys.client) as tokens,
        UsExchangeClient(secured.urls["grpc"], insecure=True, tokens=tokens) as exchange,
    ):
        entry = UsOrderEntry(exchange)
        assert await entry.open_orders() == []  # read:orders
        with pytest.raises(MissingScopeError) as insert:
            await entry.place(order(Side.BUY, "0.5", "1"))
        with pytest.raises(MissingScopeError) as positions:
            await entry.positions()
    assert (insert.value.context["scope"], positions.value.context["scope"]) == ("write:orders", "read:positions")
    assert secured.us_orders.open_orders() == []


async def test_an_order_stream_that_cannot_start_says_why(emulator: Emulator) -> None:
    async with UsExchangeClient(f"127.0.0.1:{emulator.port}", insecure=True) as wrong:  # REST, not gRPC
        with pytest.raises(PolyinfraError):
            await UsOrderStream(wrong).start()


async def test_a_refused_cancel_reaches_the_order_stream(
    client: UsExchangeClient, emulator: Emulator, stream: UsOrderStream
) -> None:
    entry = UsOrderEntry(client, stream=stream)
    placed = await entry.place(order(Side.BUY, "0.4", "1"))
    emulator.us_orders.set_state(MLB, UsInstrumentState.HALTED)  # a halted book refuses cancels too
    with pytest.raises(InstrumentNotTradingError):
        await entry.cancel(order_id=placed.order_id)

    seen: list[OrderChange] = []

    def refused() -> bool:
        seen.extend(stream.drain())
        return any(change.kind is OrderChangeKind.CANCEL_REJECTED for change in seen)

    await until(refused, "the cancel reject on the stream")
    [reject] = [c for c in seen if c.kind is OrderChangeKind.CANCEL_REJECTED]
    assert (reject.order.order_id, reject.text) == (placed.order_id, "Book is HALTED")
