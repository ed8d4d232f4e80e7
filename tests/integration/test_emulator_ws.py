"""The emulator's market and user channels over real sockets (venue notes: Market channel): subscription, initial
dump, routing, dynamic subscribe/unsubscribe, PING/PONG, idle closes and slow consumers.

Absence of a frame is checked without sleeping: frames of the exchange's actions are queued when
the action runs, so every frame an action produced arrives before the ``PONG`` of a later ``PING``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec
import pytest
import websockets

from polyinfra.clob.trading import TradingClient
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.matching import Order
from polyinfra.emulator.runner import Emulator
from polyinfra.model.ids import TokenId
from polyinfra.model.market import MarketInfo, OutcomeToken
from polyinfra.model.numbers import Side
from polyinfra.net.http import HttpTransport
from polyinfra.wire.clob_ws import BookMessage
from tests.integration.conftest import EmulatorFactory
from tests.integration.market_channel_steps import (
    WAIT_S,
    add_to_best_bid,
    eventually,
    frames_until_pong,
    next_order_id,
    recv,
    subscribe,
)


def _improve_best_bid(emulator: Emulator, market: MarketInfo) -> None:
    """An action that moves the best bid (so ``best_bid_ask`` fires), without trading."""
    token = market.tokens[0].token_id
    bid, ask = emulator.exchange.best_bid(token), emulator.exchange.best_ask(token)
    tick = market.tick_size.micros_per_tick
    assert bid is not None and ask is not None and ask - bid > tick, "the seeded spread is wider than one tick"
    emulator.exchange.place(
        Order(
            order_id=next_order_id(),
            owner="test",
            token_id=token,
            side=Side.BUY,
            price_micros=bid + tick,
            size_micros=7_000_000,
        )
    )


def _markets(emulator: Emulator) -> list[MarketInfo]:
    return list(emulator.exchange.markets.values())


def _wide_market(emulator: Emulator) -> MarketInfo:
    for market in _markets(emulator):
        token = market.tokens[0].token_id
        bid, ask = emulator.exchange.best_bid(token), emulator.exchange.best_ask(token)
        if bid is not None and ask is not None and ask - bid > market.tick_size.micros_per_tick:
            return market
    raise AssertionError("no seeded market has a spread wider than one tick")


def _event_types(frames: list[Any]) -> list[str]:
    return [event["event_type"] for frame in frames for event in (frame if isinstance(frame, list) else [frame])]


async def test_initial_dump_is_one_array_of_books(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    tokens = emulator.exchange.tokens()[:3]
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        await subscribe(ws, [*tokens, "1" * 77], custom_feature_enabled=False)
        dump = json.loads(await recv(ws))
        assert isinstance(dump, list)
        # One book per subscribed token the exchange knows, with every summary field (venue notes: Market channel).
        expected = []
        for token in tokens:
            summary = emulator.exchange.book_summary(token)
            expected.append(msgspec.to_builtins(BookMessage(**msgspec.structs.asdict(summary))))
        assert dump == expected


async def test_initial_dump_can_be_turned_off(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        await subscribe(ws, [token], initial_dump=False)
        assert await frames_until_pong(ws) == []
        add_to_best_bid(emulator, token, 7_000_000)
        assert _event_types(await frames_until_pong(ws)) == ["price_change"]


async def test_events_are_routed_by_asset(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    first, second = _markets(emulator)[:2]
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        # Subscribed to the "No" token only: a price_change carrying both tokens still comes whole.
        await subscribe(ws, [first.tokens[1].token_id], initial_dump=False)
        await frames_until_pong(ws)
        add_to_best_bid(emulator, second.tokens[0].token_id, 7_000_000)
        add_to_best_bid(emulator, first.tokens[0].token_id, 7_000_000)
        frames = await frames_until_pong(ws)
        assert _event_types(frames) == ["price_change"]
        change = frames[0]
        assert change["market"] == first.condition_id
        assert {entry["asset_id"] for entry in change["price_changes"]} == {token.token_id for token in first.tokens}


async def test_dynamic_subscribe_and_unsubscribe(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    first, second = _markets(emulator)[:2]
    first_token, second_token = first.tokens[0].token_id, second.tokens[0].token_id
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        await subscribe(ws, [first_token])
        assert [book["asset_id"] for book in json.loads(await recv(ws))] == [first_token]

        await ws.send(json.dumps({"operation": "subscribe", "assets_ids": [second_token, first_token]}))
        # The dump covers only the newly added asset.
        assert [[book["asset_id"] for book in frame] for frame in await frames_until_pong(ws)] == [[second_token]]

        await ws.send(json.dumps({"operation": "unsubscribe", "assets_ids": [first_token]}))
        await frames_until_pong(ws)
        add_to_best_bid(emulator, first_token, 7_000_000)
        add_to_best_bid(emulator, second_token, 7_000_000)
        frames = await frames_until_pong(ws)
        assert [frame["market"] for frame in frames] == [second.condition_id]


async def test_ping_pong(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        await subscribe(ws, [], initial_dump=False)
        for _ in range(3):
            await ws.send("PING")
            assert await recv(ws) == "PONG"
        # Protocol-level pings are answered too.
        await asyncio.wait_for(await ws.ping(), WAIT_S)


async def test_custom_feature_events_only_when_enabled(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=4)
    market = _wide_market(emulator)
    assets = [token.token_id for token in market.tokens]
    async with (
        websockets.connect(emulator.urls["ws_market"]) as custom,
        websockets.connect(emulator.urls["ws_market"]) as plain,
    ):
        await subscribe(custom, assets, initial_dump=False, custom_feature_enabled=True)
        await subscribe(plain, assets, initial_dump=False, custom_feature_enabled=False)
        await frames_until_pong(custom)
        await frames_until_pong(plain)

        _improve_best_bid(emulator, market)
        assert _event_types(await frames_until_pong(custom)) == ["price_change", "best_bid_ask", "best_bid_ask"]
        assert _event_types(await frames_until_pong(plain)) == ["price_change"]

        new_market = MarketInfo(
            condition_id=market.condition_id[:-4] + "beef",
            question="Will the emulator list a market?",
            tokens=(
                OutcomeToken(TokenId("12345678901234567890"), "Yes"),
                OutcomeToken(TokenId("98765432109876543210"), "No"),
            ),
            tick_size=market.tick_size,
            min_order_size=market.min_order_size,
        )
        emulator.exchange.add_market(new_market)
        emulator.exchange.resolve_market(market.condition_id, market.tokens[0].token_id)
        custom_types = _event_types(await frames_until_pong(custom))
        plain_types = _event_types(await frames_until_pong(plain))
        assert "new_market" in custom_types
        assert "market_resolved" in custom_types
        assert not {"new_market", "market_resolved", "best_bid_ask"} & set(plain_types)

        # Re-subscribing an active asset toggles the flag (the venue applies it first, venue notes: WebSockets).
        await plain.send(json.dumps({"operation": "subscribe", "assets_ids": assets, "custom_feature_enabled": True}))
        await frames_until_pong(plain)
        emulator.exchange.add_market(
            MarketInfo(
                condition_id=market.condition_id[:-4] + "cafe",
                question="Will the emulator list another market?",
                tokens=(
                    OutcomeToken(TokenId("11111111112222222222"), "Yes"),
                    OutcomeToken(TokenId("33333333334444444444"), "No"),
                ),
                tick_size=market.tick_size,
                min_order_size=market.min_order_size,
            )
        )
        assert _event_types(await frames_until_pong(plain)) == ["new_market"]


async def test_never_subscribing_socket_is_closed(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(subscribe_timeout_s=0.3)
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    await eventually(lambda: emulator.stats.market_channel.closed_no_subscription == 1)
    await eventually(lambda: emulator.stats.market_channel.connections_open == 0)


async def test_socket_without_ping_is_closed(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(ping_timeout_s=0.3)
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [], initial_dump=False)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert emulator.stats.market_channel.closed_no_ping == 1


async def test_pinging_socket_stays_open(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(ping_timeout_s=2.0)
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        await subscribe(ws, [], initial_dump=False)
        started = asyncio.get_running_loop().time()
        while asyncio.get_running_loop().time() - started < 3.0:
            await ws.send("PING")
            assert await recv(ws) == "PONG"
            await asyncio.sleep(0.1)
    assert emulator.stats.market_channel.closed_no_ping == 0


async def test_invalid_client_messages_are_ignored(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"]) as ws:
        for invalid in ("hello", '{"assets_ids": "not a list", "type": "market"}', '{"operation": "dance"}', "[]"):
            await ws.send(invalid)
        await subscribe(ws, [token])
        assert _event_types(await frames_until_pong(ws)) == ["book"]
    assert emulator.stats.market_channel.invalid_client_messages == 4


async def test_slow_consumer_is_cut_off_without_stalling_others(
    emulator_factory: EmulatorFactory,
) -> None:
    # Filling the socket buffers takes a while on a busy machine, and neither client sends PINGs
    # meanwhile: the keepalive limit must not be what ends them.
    emulator = await emulator_factory(markets=10, send_queue_limit=64, ping_timeout_s=3_600.0)
    tokens = emulator.exchange.tokens()
    async with (
        # max_queue=1: the client stops reading the socket once one message waits, and it never reads.
        websockets.connect(emulator.urls["ws_market"], max_queue=1) as slow,
        websockets.connect(emulator.urls["ws_market"]) as healthy,
    ):
        await subscribe(slow, tokens)
        await subscribe(healthy, tokens[:2], initial_dump=False)
        await frames_until_pong(healthy)
        received = 0

        async def read_healthy() -> None:
            nonlocal received
            async for _ in healthy:
                received += 1

        reader = asyncio.create_task(read_healthy())
        # Simulated activity until the socket buffers towards the slow client are full and its
        # send queue overflows (a few MB of frames).
        for _ in range(500_000):
            if emulator.stats.market_channel.closed_slow_consumer:
                break
            emulator.simulator.step()
            await asyncio.sleep(0)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        assert emulator.stats.market_channel.closed_slow_consumer == 1
        assert emulator.stats.market_channel.messages_overflowed >= 1
        assert received > 0
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await slow.recv()
        # The healthy client was never held up: it still gets its events and PONGs.
        add_to_best_bid(emulator, tokens[0], 7_000_000)
        assert "price_change" in _event_types(await frames_until_pong(healthy))


async def test_user_channel_accepts_auth_and_answers_ping(
    emulator_factory: EmulatorFactory, known_secrets: Any
) -> None:
    emulator = await emulator_factory(subscribe_timeout_s=0.3)
    condition = next(iter(emulator.exchange.markets))
    async with HttpTransport(emulator.urls["rest"]) as transport:
        credentials = await TradingClient(transport, SigningKey(known_secrets.private_key)).create_api_key()
    auth = {
        "apiKey": credentials.api_key,
        "secret": credentials.secret.reveal(),
        "passphrase": credentials.passphrase.reveal(),
    }
    async with websockets.connect(emulator.urls["ws_user"]) as ws:
        await ws.send(json.dumps({"auth": auth, "type": "user", "markets": [condition], "initial_dump": True}))
        await ws.send(json.dumps({"operation": "subscribe", "markets": [condition]}))
        await ws.send(json.dumps({"operation": "unsubscribe", "markets": [condition]}))
        await ws.send("PING")
        assert await recv(ws) == "PONG"
        await asyncio.sleep(0.6)  # past the subscribe timeout: subscribed sockets stay open
        await ws.send("PING")
        assert await recv(ws) == "PONG"
    assert emulator.stats.user_channel.invalid_client_messages == 0
    async with websockets.connect(emulator.urls["ws_user"]) as unauthenticated:
        await unauthenticated.send(json.dumps({"type": "user", "markets": []}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await recv(unauthenticated)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert emulator.stats.user_channel.invalid_client_messages == 1
    assert emulator.stats.user_channel.closed_no_subscription == 1


async def test_sockets_are_closed_going_away_on_stop() -> None:
    emulator = Emulator(markets=1, seed=3, rate=0)
    await emulator.start()
    try:
        ws = await websockets.connect(emulator.urls["ws_market"])
        await subscribe(ws, [], initial_dump=False)
        await frames_until_pong(ws)
    finally:
        await emulator.stop()
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await recv(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
