"""A user's resting order taken by the emulator's market simulator over real sockets:
it settles as when another user takes it, the maker's balances moving at its own price
with no fee, its order row and user-channel ``order`` events following the fills, and a trade the
maker sees as MAKER walking MATCHED -> MINED -> CONFIRMED, or RETRYING -> FAILED with its balances
restored. The simulator's orders are placed straight on the exchange, as the simulator places them,
so every cross is deterministic; one test lets the seeded simulator itself do it."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest

from polyinfra.clob.trading import AssetType, TradingClient
from polyinfra.core.matching import Order
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import MICROS, Side, TickSize
from polyinfra.model.orders import TimeInForce
from polyinfra.model.trading_events import OrderEventKind, OrderStatus, TradeStatus
from polyinfra.net.http import HttpTransport
from polyinfra.wire.clob_user import TradeRecord
from tests.integration.conftest import SETTLEMENT_PENDING_2_S
from tests.integration.test_user_channel import (
    WAIT_S,
    _assert_matches_rest,
    _channel,
    _Recorder,
    _settled,
)
from tests.integration.trading_steps import empty_market, signed_order, trading_client

SIMULATOR_TAKER = "sim-taker-1"
SIMULATOR_MAKER = "sim-maker-1"
ZERO_ADDRESS = "0x" + "00" * 20
_simulator_ids = itertools.count(1)


def _simulator_places(
    emulator: Emulator,
    token_id: str,
    side: Side,
    price: str,
    size: int,
    *,
    owner: str = SIMULATOR_TAKER,
    time_in_force: TimeInForce = TimeInForce.FAK,
) -> Order:
    """An order from inside the emulator, placed the way the simulator places its own."""
    order = Order(
        order_id=f"0x{next(_simulator_ids):064x}",
        owner=owner,
        token_id=token_id,
        side=side,
        price_micros=int(Decimal(price) * MICROS),
        size_micros=size * MICROS,
        time_in_force=time_in_force,
    )
    emulator.exchange.place(order)
    return order


async def _holdings(client: TradingClient, token: str) -> tuple[int, int]:
    """(pUSD, shares of ``token``) as ``GET /balance-allowance`` reports them, in micro-units."""
    collateral = await client.get_balance_allowance()
    shares = await client.get_balance_allowance(AssetType.CONDITIONAL, token_id=token)
    return int(collateral.balance), int(shares.balance)


def _api_key(client: TradingClient) -> str:
    assert client.credentials is not None
    return client.credentials.api_key


async def _trades(client: TradingClient) -> dict[str, TradeRecord]:
    return {trade.id: trade async for trade in client.iter_trades()}


async def test_a_simulator_taking_a_users_order_settles_it_as_a_user_taking_it_would(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    token = market.tokens[0].token_id
    maker_key = known_secrets.private_key
    maker = await trading_client(transport, maker_key)
    before = await _holdings(maker, token)
    recorder = _Recorder()
    async with _channel(emulator, maker, market) as channel:
        channel.add_listener(recorder)
        assert await channel.wait_in_sync(WAIT_S)
        resting = signed_order(maker_key, market, Side.SELL, "0.60", "12")
        await maker.post_order(resting)

        # Crosses at 0.65 and fills 7 at the resting 0.60: the order stays LIVE with 5 left.
        first = _simulator_places(emulator, token, Side.BUY, "0.65", 7)
        row = await maker.get_order(resting.order_hash)
        assert (row.status, row.original_size, row.size_matched) == ("ORDER_STATUS_LIVE", "12", "7")
        assert [(o.id, o.size_matched) async for o in maker.iter_open_orders()] == [(resting.order_hash, "7")]
        assert [order.remaining_micros for order in emulator.exchange.open_orders(_api_key(maker))] == [5 * MICROS]
        # The maker is paid its own price and, the market being taker-only, pays no fee.
        assert await _holdings(maker, token) == (before[0] + 7 * 600_000, before[1] - 7 * MICROS)

        second = _simulator_places(emulator, token, Side.BUY, "0.60", 5, time_in_force=TimeInForce.GTC)
        row = await maker.get_order(resting.order_hash)
        assert (row.status, row.size_matched) == ("ORDER_STATUS_MATCHED", "12")
        assert [o async for o in maker.iter_open_orders()] == []
        assert emulator.exchange.open_orders(_api_key(maker)) == []
        assert await _holdings(maker, token) == (before[0] + 12 * 600_000, before[1] - 12 * MICROS)

        trade_ids = list(row.associate_trades)
        assert len(trade_ids) == 2
        await recorder.wait_for(_settled(trade_ids))

    assert [(u.kind, u.status, u.size_matched) for u in recorder.orders(resting.order_hash)] == [
        (OrderEventKind.PLACEMENT, OrderStatus.LIVE, Decimal(0)),
        (OrderEventKind.UPDATE, OrderStatus.LIVE, Decimal(7)),
        (OrderEventKind.UPDATE, OrderStatus.MATCHED, Decimal(12)),
    ]
    assert recorder.trade_statuses() == {
        trade_id: [TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED] for trade_id in trade_ids
    }
    rows = await _trades(maker)
    assert list(rows) == trade_ids
    for trade_id, taking, size in zip(trade_ids, (first, second), ("7", "5"), strict=True):
        trade = rows[trade_id]
        # The user's side of the trade; the simulator's order is the taker, charged nothing.
        assert (trade.trader_side, trade.owner, trade.maker_address) == ("MAKER", _api_key(maker), maker.address)
        assert (trade.taker_order_id, trade.side, trade.asset_id) == (taking.order_id, "BUY", token)
        assert (trade.price, trade.size, trade.fee_rate_bps, trade.status) == ("0.6", size, "0", "CONFIRMED")
        assert trade.transaction_hash.startswith("0x")
        (mine,) = trade.maker_orders
        assert (mine.order_id, mine.owner, mine.maker_address) == (resting.order_hash, _api_key(maker), maker.address)
        assert (mine.side, mine.price, mine.matched_amount, mine.fee_rate_bps) == ("SELL", "0.6", size, "0")
    await _assert_matches_rest(recorder, maker, [resting.order_hash])


async def test_a_simulator_order_on_the_other_token_mints_with_a_users_and_the_simulators_makers(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    yes, no = (token.token_id for token in market.tokens)
    maker = await trading_client(transport, known_secrets.private_key)
    before = await _holdings(maker, yes)
    resting = signed_order(known_secrets.private_key, market, Side.BUY, "0.60", "10")
    await maker.post_order(resting)
    better = _simulator_places(emulator, yes, Side.BUY, "0.61", 5, owner=SIMULATOR_MAKER, time_in_force=TimeInForce.GTC)

    # A No bid at 0.40 meets Yes bids at 0.60 and up: both mint, the better-priced simulator quote first.
    taking = _simulator_places(emulator, no, Side.BUY, "0.40", 15)

    assert await _holdings(maker, yes) == (before[0] - 10 * 600_000, before[1] + 10 * MICROS)
    row = await maker.get_order(resting.order_hash)
    assert (row.status, row.size_matched) == ("ORDER_STATUS_MATCHED", "10")
    (trade,) = (await _trades(maker)).values()
    assert (trade.trader_side, trade.taker_order_id, trade.asset_id, trade.side) == (
        "MAKER",
        taking.order_id,
        no,
        "BUY",
    )
    assert (trade.size, trade.price, trade.fee_rate_bps, trade.outcome) == ("15", "0.39", "0", "No")
    assert [
        (m.order_id, m.owner, m.maker_address, m.matched_amount, m.price, m.asset_id) for m in trade.maker_orders
    ] == [
        (better.order_id, SIMULATOR_MAKER, ZERO_ADDRESS, "5", "0.61", yes),
        (resting.order_hash, _api_key(maker), maker.address, "10", "0.6", yes),
    ]


@pytest.mark.parametrize("emulator", [SETTLEMENT_PENDING_2_S], indirect=True, ids=["settling 2 s"])
async def test_a_failed_simulator_trade_restores_the_makers_balances(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    token = market.tokens[0].token_id
    maker = await trading_client(transport, known_secrets.private_key)
    before = await _holdings(maker, token)
    emulator.faults.update({"trade_retry_rate": 1.0, "trade_failure_rate": 1.0})
    recorder = _Recorder()
    async with _channel(emulator, maker, market) as channel:
        channel.add_listener(recorder)
        assert await channel.wait_in_sync(WAIT_S)
        resting = signed_order(known_secrets.private_key, market, Side.SELL, "0.60", "10")
        await maker.post_order(resting)
        _simulator_places(emulator, token, Side.BUY, "0.60", 10)
        assert await _holdings(maker, token) == (before[0] + 6 * MICROS, before[1] - 10 * MICROS)
        (trade_id,) = (await maker.get_order(resting.order_hash)).associate_trades
        await recorder.wait_for(lambda _: TradeStatus.FAILED in recorder.trade_statuses().get(trade_id, []))

    assert recorder.trade_statuses() == {trade_id: [TradeStatus.MATCHED, TradeStatus.RETRYING, TradeStatus.FAILED]}
    # The match never reached the chain: every balance change is undone; the order stays matched.
    assert await _holdings(maker, token) == before
    assert (await maker.get_order(resting.order_hash)).status == "ORDER_STATUS_MATCHED"
    trade = (await _trades(maker))[trade_id]
    assert (trade.status, trade.transaction_hash, trade.trader_side) == ("FAILED", "", "MAKER")
    await _assert_matches_rest(recorder, maker, [resting.order_hash])


async def test_the_seeded_simulator_takes_a_users_quote_and_the_user_hears_of_it(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    # A book as the simulator seeded it, with a user's bid joining its best bid.
    market = next(info for info in emulator.exchange.markets.values() if info.tick_size is TickSize.TICK_0_01)
    token = market.tokens[0].token_id
    best_bid = emulator.exchange.best_bid(token)
    assert best_bid is not None
    maker = await trading_client(transport, known_secrets.private_key)
    resting = signed_order(known_secrets.private_key, market, Side.BUY, str(Decimal(best_bid) / MICROS), "5")
    recorder = _Recorder()
    async with _channel(emulator, maker, market) as channel:
        channel.add_listener(recorder)
        assert await channel.wait_in_sync(WAIT_S)
        await maker.post_order(resting)
        # The simulator is seeded: the same steps take the quote on every run.
        for _ in range(2000):
            if not emulator.exchange.open_orders(_api_key(maker)):
                break
            emulator.simulator.step()
        row = await maker.get_order(resting.order_hash)
        assert (row.status, row.size_matched) == ("ORDER_STATUS_MATCHED", "5")
        await recorder.wait_for(_settled(list(row.associate_trades)))

    assert recorder.orders(resting.order_hash)[-1].status is OrderStatus.MATCHED
    trades = (await _trades(maker)).values()
    assert [trade.id for trade in trades] == list(row.associate_trades)
    assert {(trade.trader_side, trade.status, trade.fee_rate_bps) for trade in trades} == {("MAKER", "CONFIRMED", "0")}
    assert all(resting.order_hash in [m.order_id for m in trade.maker_orders] for trade in trades)
    await _assert_matches_rest(recorder, maker, [resting.order_hash])
