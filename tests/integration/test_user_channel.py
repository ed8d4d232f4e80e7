""":class:`~polyinfra.clob.user_channel.UserChannel` against the emulator over real sockets:
an order's lifecycle and its trades' settlement arrive as domain events, and what a
dropped or frozen socket missed comes back from REST reconciliation, so the states seen equal REST's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
import websockets

from polyinfra.clob.trading import TradingClient
from polyinfra.clob.user_channel import UserChannel
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.order_signing import SignedOrder
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError, L2AuthError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side
from polyinfra.model.trading_events import (
    OrderEventKind,
    OrderStatus,
    OrderUpdate,
    TradeStatus,
    TradeUpdate,
    UserChannelEvent,
    parse_order_status,
)
from polyinfra.net.http import HttpTransport
from tests.integration.trading_steps import empty_market, empty_markets, signed_order, trading_client

# Hardhat account #1 (a public test key): the counterparty of the wallet under test.
TAKER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
WAIT_S = 30.0


class _Recorder:
    """Every event a listener got, and a way to wait for a condition on them."""

    def __init__(self) -> None:
        self.events: list[UserChannelEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: UserChannelEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait_for(self, condition: Callable[[list[UserChannelEvent]], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition(self.events):
                self._changed.clear()
                await self._changed.wait()

    def orders(self, order_id: str) -> list[OrderUpdate]:
        return [e for e in self.events if isinstance(e, OrderUpdate) and e.order_id == order_id]

    def trade_statuses(self) -> dict[str, list[TradeStatus]]:
        statuses: dict[str, list[TradeStatus]] = {}
        for event in self.events:
            if isinstance(event, TradeUpdate):
                statuses.setdefault(event.trade_id, []).append(event.status)
        return statuses


def _settled(trade_ids: list[str]) -> Callable[[list[UserChannelEvent]], bool]:
    def condition(events: list[UserChannelEvent]) -> bool:
        confirmed = {e.trade_id for e in events if isinstance(e, TradeUpdate) and e.status is TradeStatus.CONFIRMED}
        return set(trade_ids) <= confirmed

    return condition


def _channel(emulator: Emulator, client: TradingClient, market: MarketInfo, **options: Any) -> UserChannel:
    settings: dict[str, Any] = {"reconnect_initial_s": 0.05, "reconnect_max_s": 0.5} | options
    return UserChannel(emulator.urls["ws_user"], client, markets=[market.condition_id], **settings)


async def _assert_matches_rest(recorder: _Recorder, client: TradingClient, order_ids: list[str]) -> None:
    """The last state seen of every order and trade equals what REST says now."""
    for order_id in order_ids:
        rest = await client.get_order(order_id)
        last = recorder.orders(order_id)[-1]
        assert (last.status, last.size_matched) == (parse_order_status(rest.status)[0], Decimal(rest.size_matched))
    rest_trades = {trade.id: TradeStatus(trade.status) async for trade in client.iter_trades()}
    assert {trade_id: statuses[-1] for trade_id, statuses in recorder.trade_statuses().items()} == rest_trades


async def test_order_lifecycle_and_trade_settlement(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    maker_key = known_secrets.private_key
    maker = await trading_client(transport, maker_key)
    taker = await trading_client(transport, TAKER_KEY)
    recorder = _Recorder()
    async with _channel(emulator, maker, market) as channel:
        channel.add_listener(recorder)
        iterator = channel.events()
        assert await channel.wait_in_sync(WAIT_S)

        resting = signed_order(maker_key, market, Side.SELL, "0.60", "12")
        await maker.post_order(resting)
        first = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.60", "6"))
        second = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.60", "6"))
        trade_ids = [*first.trade_ids, *second.trade_ids]
        await recorder.wait_for(_settled(trade_ids))

        to_cancel = signed_order(maker_key, market, Side.SELL, "0.70", "5")
        await maker.post_order(to_cancel)
        await maker.cancel(to_cancel.order_hash)
        await recorder.wait_for(
            lambda events: any(isinstance(e, OrderUpdate) and e.kind is OrderEventKind.CANCELLATION for e in events)
        )
        stats = channel.stats

    updates = recorder.orders(resting.order_hash)
    assert [(u.kind, u.status, u.size_matched) for u in updates] == [
        (OrderEventKind.PLACEMENT, OrderStatus.LIVE, Decimal(0)),
        (OrderEventKind.UPDATE, OrderStatus.LIVE, Decimal(6)),
        (OrderEventKind.UPDATE, OrderStatus.MATCHED, Decimal(12)),
    ]
    assert updates[0].price == Decimal("0.6") and updates[0].side is Side.SELL
    assert all(u.venue_timestamp_ms is not None and u.received_ns > 0 for u in updates)
    assert [(u.kind, u.status) for u in recorder.orders(to_cancel.order_hash)] == [
        (OrderEventKind.PLACEMENT, OrderStatus.LIVE),
        (OrderEventKind.CANCELLATION, OrderStatus.CANCELED),
    ]
    statuses = recorder.trade_statuses()
    assert statuses == {
        trade_id: [TradeStatus.MATCHED, TradeStatus.MINED, TradeStatus.CONFIRMED] for trade_id in trade_ids
    }
    trade = next(e for e in recorder.events if isinstance(e, TradeUpdate))
    assert trade.trader_side == "MAKER" and [f.order_id for f in trade.maker_orders] == [resting.order_hash]
    assert not any(e.reconciled for e in recorder.events)
    # The iterator saw what the listener saw, in the same order.
    streamed = [iterator.__anext__ for _ in recorder.events]
    assert [await next_event() for next_event in streamed] == recorder.events
    assert stats.reconciliations >= 1 and stats.reconciled_events == 0 and stats.reconnects == 0
    assert stats.events_by_type == {"order": 5, "trade": 6}
    await _assert_matches_rest(recorder, maker, [resting.order_hash, to_cancel.order_hash])


async def _confirmed_at_the_venue(client: TradingClient, trade_ids: list[str]) -> None:
    """Wait until REST says every one of ``trade_ids`` is CONFIRMED (the user channel may not have)."""

    async def confirmed() -> set[str]:
        return {trade.id async for trade in client.iter_trades() if trade.status == "CONFIRMED"}

    async with asyncio.timeout(WAIT_S):
        while not set(trade_ids) <= await confirmed():
            await asyncio.sleep(0.01)


async def lose_fills_on_the_socket(
    emulator: Emulator,
    maker: TradingClient,
    maker_key: str,
    taker: TradingClient,
    market: MarketInfo,
    resting: SignedOrder,
) -> tuple[str, list[str]]:
    """With every user-channel frame lost: 6 of ``resting`` (a SELL at 0.60) filled, the rest
    cancelled, and a second order placed and filled whole, all with their trades settled at the
    venue. Returns the second order's id and the trades' ids."""
    emulator.faults.update({"drop_rate": 1.0})
    fill = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.60", "6"))
    await maker.cancel(resting.order_hash)
    unseen = signed_order(maker_key, market, Side.SELL, "0.55", "5")
    await maker.post_order(unseen)
    whole = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.55", "5"))
    trade_ids = [*fill.trade_ids, *whole.trade_ids]
    await _confirmed_at_the_venue(maker, trade_ids)
    assert emulator.stats.user_channel.messages_dropped > 0
    emulator.faults.update({"drop_rate": 0.0})
    return unseen.order_hash, trade_ids


async def _wait_dropped(emulator: Emulator) -> None:
    """Cut the user socket once (``drop_every_seconds`` applies to ``/ws/user`` too), then stop cutting."""
    dropped = emulator.stats.user_channel.connections_dropped_by_fault
    emulator.faults.update({"drop_every_seconds": 0.01})
    try:
        async with asyncio.timeout(WAIT_S):
            while emulator.stats.user_channel.connections_dropped_by_fault == dropped:
                await asyncio.sleep(0.01)
    finally:
        emulator.faults.update({"drop_every_seconds": 0.0})


async def test_dropped_socket_is_reconciled_from_rest(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    maker_key = known_secrets.private_key
    maker = await trading_client(transport, maker_key)
    taker = await trading_client(transport, TAKER_KEY)
    recorder = _Recorder()
    # The watchdog stays out of it: this is the reconnect path.
    async with _channel(emulator, maker, market, silence_timeout_s=600.0) as channel:
        channel.add_listener(recorder)
        assert await channel.wait_in_sync(WAIT_S)
        resting = signed_order(maker_key, market, Side.SELL, "0.60", "10")
        await maker.post_order(resting)
        await recorder.wait_for(lambda events: len(recorder.orders(resting.order_hash)) == 1)

        unseen, trade_ids = await lose_fills_on_the_socket(emulator, maker, maker_key, taker, market, resting)
        assert recorder.events[1:] == []

        await _wait_dropped(emulator)
        await recorder.wait_for(_settled(trade_ids))
        await recorder.wait_for(lambda events: len(recorder.orders(unseen)) == 1)
        stats = channel.stats

    missed = recorder.events[1:]
    assert missed and all(event.reconciled for event in missed)
    assert [(u.kind, u.status, u.size_matched) for u in recorder.orders(resting.order_hash)] == [
        (OrderEventKind.PLACEMENT, OrderStatus.LIVE, Decimal(0)),
        (OrderEventKind.CANCELLATION, OrderStatus.CANCELED, Decimal(6)),
    ]
    # Placed and filled during the gap: found through its trade, reported with its final state.
    assert [(u.kind, u.status, u.size_matched) for u in recorder.orders(unseen)] == [
        (OrderEventKind.UPDATE, OrderStatus.MATCHED, Decimal(5)),
    ]
    assert recorder.trade_statuses() == {trade_id: [TradeStatus.CONFIRMED] for trade_id in trade_ids}
    assert stats.reconnects >= 1 and stats.reconciled_events == len(missed)
    await _assert_matches_rest(recorder, maker, [resting.order_hash, unseen])


async def test_silent_zombie_socket_is_probed_reconciled_and_replaced(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    maker_key = known_secrets.private_key
    maker = await trading_client(transport, maker_key)
    taker = await trading_client(transport, TAKER_KEY)
    recorder = _Recorder()
    async with _channel(emulator, maker, market, silence_timeout_s=0.5, probe_timeout_s=2.0) as channel:
        channel.add_listener(recorder)
        assert await channel.wait_in_sync(WAIT_S)
        # The venue's zombie (venue notes: Failure modes): PING answered, no data.
        emulator.faults.update({"freeze": True, "freeze_answers_ping": True})
        resting = signed_order(maker_key, market, Side.SELL, "0.60", "10")
        await maker.post_order(resting)
        fill = await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.60", "10"))
        await recorder.wait_for(_settled(fill.trade_ids))
        emulator.faults.update({"freeze": False})
        stats = channel.stats

    assert all(event.reconciled for event in recorder.events)
    assert [(u.kind, u.status, u.size_matched) for u in recorder.orders(resting.order_hash)] == [
        (OrderEventKind.UPDATE, OrderStatus.MATCHED, Decimal(10)),
    ]
    assert stats.probes_sent >= 1 and stats.silences_detected >= 1
    await _assert_matches_rest(recorder, maker, [resting.order_hash])


async def test_markets_change_on_the_open_socket(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market_a, market_b = empty_markets(emulator, 2)
    maker_key = known_secrets.private_key
    maker = await trading_client(transport, maker_key)
    recorder = _Recorder()

    async def place(market: MarketInfo, price: str) -> str:
        order = signed_order(maker_key, market, Side.SELL, price, "5")
        await maker.post_order(order)
        return order.order_hash

    def seen(order_id: str) -> Callable[[list[UserChannelEvent]], bool]:
        return lambda events: bool(recorder.orders(order_id))

    async with _channel(emulator, maker, market_a, silence_timeout_s=600.0) as channel:
        channel.add_listener(recorder)
        assert await channel.wait_in_sync(WAIT_S)
        before_b = await place(market_b, "0.70")
        in_a = await place(market_a, "0.70")
        await recorder.wait_for(seen(in_a))
        # B's placement went out first: on one socket, had it been sent, it would have arrived first.
        assert recorder.orders(before_b) == []

        reconciliations = channel.stats.reconciliations
        await channel.subscribe_markets([market_b.condition_id, market_a.condition_id])
        # What B did before its subscription comes from REST, once the venue has applied it.
        await recorder.wait_for(seen(before_b))
        assert [(u.kind, u.reconciled) for u in recorder.orders(before_b)] == [(OrderEventKind.PLACEMENT, True)]
        async with asyncio.timeout(WAIT_S):
            while channel.stats.reconciliations == reconciliations:
                await asyncio.sleep(0.01)
        in_b = await place(market_b, "0.71")
        await recorder.wait_for(seen(in_b))
        assert [u.reconciled for u in recorder.orders(in_b)] == [False]

        # Returns once the venue has read it: nothing of A is sent from here on.
        await channel.unsubscribe_markets([market_a.condition_id])
        after_a = await place(market_a, "0.72")
        after_b = await place(market_b, "0.72")
        await recorder.wait_for(seen(after_b))
        assert recorder.orders(after_a) == []
        assert channel.markets == [market_b.condition_id]
        stats = channel.stats

    # One socket throughout, and the venue itself filtered: no event of another market reached it.
    assert stats.sessions == 1 and stats.reconnects == 0 and stats.unsubscribed_skipped == 0
    assert emulator.stats.user_channel.connections_opened == 1
    assert emulator.stats.user_channel.invalid_client_messages == 0


async def test_market_changes_are_validated_before_sending(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    maker = await trading_client(transport, known_secrets.private_key)
    with pytest.raises(InvalidValueError):
        UserChannel(emulator.urls["ws_user"], maker, markets=["0x12"])
    async with _channel(emulator, maker, market) as channel:
        assert await channel.wait_in_sync(WAIT_S)
        with pytest.raises(InvalidValueError):
            await channel.subscribe_markets([market.condition_id, "not-a-condition-id"])
        # The last named market: an empty set would mean every market of the key.
        with pytest.raises(InvalidValueError):
            await channel.unsubscribe_markets([market.condition_id])
        assert channel.markets == [market.condition_id]
        await channel.unsubscribe_markets(["0x" + "ab" * 32])  # not subscribed: nothing to do
        stats = channel.stats
    assert stats.reconnects == 0 and emulator.stats.user_channel.invalid_client_messages == 0


async def _client_with_a_wrong_secret(transport: HttpTransport, known_secrets: Any) -> TradingClient:
    """A live key's id and passphrase with another secret: the venue cannot tell it from a stolen key id."""
    client = await trading_client(transport, known_secrets.private_key)
    assert client.credentials is not None
    client.credentials = ApiCredentials(
        client.credentials.api_key, known_secrets.random_api_secret, client.credentials.passphrase.reveal()
    )
    return client


async def test_refused_credentials_drop_the_socket_and_stop_the_channel_after_the_grace(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    maker = await _client_with_a_wrong_secret(transport, known_secrets)
    async with _channel(emulator, maker, empty_market(emulator), auth_grace_s=0.3) as channel:
        events = channel.events()
        with pytest.raises(L2AuthError) as refused:
            await channel.wait_in_sync(WAIT_S)
        assert channel.failure is refused.value
        with pytest.raises(L2AuthError):
            await anext(events)
        # An iterator asked for afterwards learns the same at once.
        with pytest.raises(L2AuthError):
            await anext(channel.events())
        stats = channel.stats
    assert not stats.in_sync and stats.credential_refusals >= 2
    # Every session was dropped right after its subscription, before any PONG.
    assert emulator.stats.user_channel.connections_opened == stats.sessions >= 1
    assert known_secrets.random_api_secret not in str(refused.value)


async def test_refused_credentials_are_retried_within_the_grace(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    """Newly created keys can be refused for a while (venue notes: API keys): no giving up inside the grace."""
    maker = await _client_with_a_wrong_secret(transport, known_secrets)
    async with _channel(emulator, maker, empty_market(emulator), auth_grace_s=600.0) as channel:
        async with asyncio.timeout(WAIT_S):
            while channel.stats.credential_refusals < 3:
                await asyncio.sleep(0.01)
        assert channel.failure is None
        assert channel.stats.sessions >= 3
        assert not await channel.wait_in_sync(0.05)


async def test_the_emulator_drops_a_user_socket_with_bad_credentials(
    emulator: Emulator, transport: HttpTransport, known_secrets: Any
) -> None:
    maker = await trading_client(transport, known_secrets.private_key)
    assert maker.credentials is not None
    subscription = {
        "auth": {
            "apiKey": maker.credentials.api_key,
            "secret": known_secrets.random_api_secret,
            "passphrase": maker.credentials.passphrase.reveal(),
        },
        "type": "user",
        "markets": [],
    }
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        await socket.send(json.dumps(subscription))
        await socket.send("PING")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), WAIT_S)
    # Dropped, not closed: no close frame came (what users of the venue report).
    assert closed.value.rcvd is None
