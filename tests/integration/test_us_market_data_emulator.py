"""The emulator's MarketDataSubscriptionAPI over real sockets, with the generated stubs alone (no polyinfra
client): both RPCs, the venue's limits and status codes, and each fault knob."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from polyinfra.emulator.runner import Emulator
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2_grpc as md_grpc
from polyinfra.wire.us.polymarket.v1 import refdata_pb2
from tests.integration.us_market_data_steps import until

KC = "tec-nfl-sbw-2026-02-08-kc"
NYY = "aec-mlb-nyy-bos-2026-04-10"
SUSPENDED = "aec-nba-lal-bos-2026-01-15"
WAIT_S = 30.0


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, us_markets=1001) as running:
        running.us_market_data_faults.heartbeat_interval_s = 0.05
        yield running


@pytest.fixture
async def small_emulator() -> AsyncIterator[Emulator]:
    """The six fixed instruments only, so that stepping the market moves KC often."""
    async with Emulator(markets=1, rate=0) as running:
        running.us_market_data_faults.heartbeat_interval_s = 0.05
        yield running


@pytest.fixture
async def stub(emulator: Emulator) -> AsyncIterator[md_grpc.MarketDataSubscriptionAPIStub]:
    async with grpc.aio.insecure_channel(emulator.urls["grpc"]) as channel:
        yield md_grpc.MarketDataSubscriptionAPIStub(channel)


def _book(update: md.MarketDataUpdate) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return [(e.px, e.qty) for e in update.bids], [(e.px, e.qty) for e in update.offers]


async def _next(call: AsyncIterator[md.CreateMarketDataSubscriptionResponse], event: str) -> md.MarketDataUpdate:
    async with asyncio.timeout(WAIT_S):
        async for response in call:
            if response.WhichOneof("event") == event:
                return response.update
    raise AssertionError(f"the stream ended before a {event}")


async def test_server_stream_sends_snapshots_then_whole_books_on_change(
    emulator: Emulator, stub: md_grpc.MarketDataSubscriptionAPIStub
) -> None:
    call = stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC, SUSPENDED], depth=3))
    first = await _next(call, "update")
    second = await _next(call, "update")
    assert {first.symbol, second.symbol} == {KC, SUSPENDED}
    kc = first if first.symbol == KC else second
    assert _book(kc) == emulator.us_market.levels(KC, 3)
    assert (kc.price_scale, kc.quantity_scale, kc.state) == (1000, 100, refdata_pb2.INSTRUMENT_STATE_OPEN)
    assert kc.bids and kc.offers and len(kc.bids) == 3 and kc.HasField("transact_time")
    await _next(call, "heartbeat")  # nothing changed: the stream proves it is alive
    for _ in range(200):
        emulator.us_market.step()
    # Whatever changed, updates carry whole books: the last one of each symbol is its book now.
    latest = {KC: _book(kc), SUSPENDED: _book(first if first.symbol == SUSPENDED else second)}
    while latest[KC] != emulator.us_market.levels(KC, 3):
        update = await _next(call, "update")
        latest[update.symbol] = _book(update)
    assert latest[SUSPENDED] == ([], [])
    call.cancel()


async def test_snapshot_only_ends_after_the_snapshots_and_unaggregated_lists_orders(
    emulator: Emulator, stub: md_grpc.MarketDataSubscriptionAPIStub
) -> None:
    call = stub.CreateMarketDataSubscription(
        md.CreateMarketDataSubscriptionRequest(symbols=[KC, NYY], snapshot_only=True, unaggregated=True, depth=50)
    )
    updates = [response.update async for response in call]
    assert [update.symbol for update in updates] == [KC, NYY]
    for update in updates:
        orders = emulator.us_market.orders(update.symbol, 50)
        assert _book(update) == orders
        levels = emulator.us_market.levels(update.symbol, 50)
        assert sum(qty for _, qty in orders[0]) == sum(qty for _, qty in levels[0])
    assert await call.code() == grpc.StatusCode.OK


async def test_limits_answer_with_the_venue_codes(
    emulator: Emulator, stub: md_grpc.MarketDataSubscriptionAPIStub
) -> None:
    symbols = [instrument.symbol for instrument in emulator.us_market.instruments][:1001]
    too_many = stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=symbols))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _next(too_many, "update")
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == "at most 1000 symbols per subscription"
    for request in (
        md.CreateMarketDataSubscriptionRequest(symbols=["no-such-symbol"]),
        md.CreateMarketDataSubscriptionRequest(symbols=[KC], depth=-1),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await _next(stub.CreateMarketDataSubscription(request), "update")
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # 20 streams per firm, pooled; another firm has its own 20.
    calls = [stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC])) for _ in range(20)]
    for call in calls:
        await _next(call, "update")
    with pytest.raises(grpc.aio.AioRpcError) as exhausted:
        await _next(stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC])), "update")
    assert exhausted.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    other_firm = stub.CreateMarketDataSubscription(
        md.CreateMarketDataSubscriptionRequest(symbols=[KC]), metadata=(("x-participant-id", "firm-2"),)
    )
    await _next(other_firm, "update")
    for call in [*calls, other_firm]:
        call.cancel()
    await until(lambda: emulator.us_market_data.open_streams == 0, "streams closed")


async def test_bidirectional_stream_subscribes_and_unsubscribes_at_run_time(
    emulator: Emulator, stub: md_grpc.MarketDataSubscriptionAPIStub
) -> None:
    requests: asyncio.Queue[md.BiDirectionalStreamMarketDataRequest] = asyncio.Queue()

    async def commands() -> AsyncIterator[md.BiDirectionalStreamMarketDataRequest]:
        while True:
            yield await requests.get()

    call = stub.BiDirectionalStreamMarketData(commands())
    responses = aiter(call)

    async def answer(event: str) -> md.BiDirectionalStreamMarketDataResponse:
        async with asyncio.timeout(WAIT_S):
            while True:
                response = await anext(responses)
                if response.WhichOneof("event") == event:
                    return response

    requests.put_nowait(
        md.BiDirectionalStreamMarketDataRequest(subscribe=md.SubscribeCommand(symbols=[KC, "nope"]), depth=2)
    )
    error = (await answer("subscription_error")).subscription_error
    assert (error.error_code, list(error.symbols)) == ("INVALID_SYMBOL", ["nope"])
    ack = (await answer("subscription_ack")).subscription_ack
    assert list(ack.symbols_added) == [KC] and ack.active_symbol_count == 1
    assert [(s.symbol, s.price_scale, s.quantity_scale) for s in ack.symbol_scales] == [(KC, 1000, 100)]
    update = (await answer("update")).update
    assert update.symbol == KC and _book(update) == emulator.us_market.levels(KC, 2)
    requests.put_nowait(md.BiDirectionalStreamMarketDataRequest(keepalive=md.KeepAliveCommand()))
    requests.put_nowait(md.BiDirectionalStreamMarketDataRequest(subscribe=md.SubscribeCommand(symbols=[KC, NYY])))
    assert (await answer("subscription_error")).subscription_error.error_code == "ALREADY_SUBSCRIBED"
    ack = (await answer("subscription_ack")).subscription_ack
    assert list(ack.symbols_added) == [NYY] and list(ack.active_symbols) == [KC, NYY]
    requests.put_nowait(md.BiDirectionalStreamMarketDataRequest(unsubscribe=md.UnsubscribeCommand(symbols=[KC])))
    ack = (await answer("subscription_ack")).subscription_ack
    assert list(ack.symbols_removed) == [KC] and list(ack.active_symbols) == [NYY]
    others = [instrument.symbol for instrument in emulator.us_market.instruments if instrument.symbol != NYY]
    # NYY and 1,000 more: one over the limit.
    requests.put_nowait(md.BiDirectionalStreamMarketDataRequest(subscribe=md.SubscribeCommand(symbols=others[:1000])))
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await answer("never")
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_fault_knobs_drop_silence_idle_kill_and_slow_consumers(small_emulator: Emulator) -> None:
    emulator = small_emulator
    async with grpc.aio.insecure_channel(emulator.urls["grpc"]) as channel:
        await _faults(emulator, md_grpc.MarketDataSubscriptionAPIStub(channel))


async def _faults(emulator: Emulator, stub: md_grpc.MarketDataSubscriptionAPIStub) -> None:
    faults = emulator.us_market_data_faults
    # Dropped after N updates.
    faults.drop_every_updates = 2
    call = stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC, NYY, SUSPENDED]))
    with pytest.raises(grpc.aio.AioRpcError) as dropped:
        async for _ in call:
            pass
    assert dropped.value.code() == grpc.StatusCode.UNAVAILABLE
    faults.drop_every_updates = 0
    # Silent: no heartbeat while set, and the (scaled) 10-minute idle kill ends the stream.
    call = stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC]))
    await _next(call, "update")
    faults.update({"silent": True, "time_scale": 0.001})  # 600 s idle timeout -> 0.6 s
    with pytest.raises(grpc.aio.AioRpcError) as idle:
        async for response in call:
            raise AssertionError(f"a silent stream sent {response.WhichOneof('event')}")
    assert (idle.value.code(), idle.value.details()) == (grpc.StatusCode.UNAVAILABLE, "stream idle timeout")
    faults.update({"silent": False, "time_scale": 1.0})
    # A slow consumer: more waiting updates than the limit between two writes.
    faults.slow_consumer_limit = 3
    slow = stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC]))
    skipping = stub.CreateMarketDataSubscription(
        md.CreateMarketDataSubscriptionRequest(symbols=[KC], slow_consumer_skip_to_head=True)
    )
    await _next(slow, "update")
    await _next(skipping, "update")
    faults.silent = True  # nothing is written while the market moves: both streams fall behind
    market = emulator.us_market
    changes = 0
    while changes < 10:
        before = market.levels(KC, 10)
        market.step()
        changes += market.levels(KC, 10) != before
    faults.silent = False
    with pytest.raises(grpc.aio.AioRpcError) as disconnected:
        async for _ in slow:
            pass
    assert disconnected.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    latest = await _next(skipping, "update")
    assert _book(latest) == market.levels(KC, 10)
    skipping.cancel()


async def test_control_api_sets_knobs_and_drops_streams(
    emulator: Emulator, stub: md_grpc.MarketDataSubscriptionAPIStub
) -> None:
    call = stub.CreateMarketDataSubscription(md.CreateMarketDataSubscriptionRequest(symbols=[KC]))
    await _next(call, "update")
    base = emulator.urls["rest"] + "/_emulator/us/market-data"
    async with httpx.AsyncClient(timeout=WAIT_S) as http:
        changed = await http.post(f"{base}/faults", json={"heartbeat_interval_s": 2, "streams_per_firm": 5})
        assert changed.status_code == 200 and changed.json()["streams_per_firm"] == 5
        refused = await http.post(f"{base}/faults", json={"silent": "yes", "streams_per_firm": 7})
        assert refused.status_code == 400 and (await http.get(f"{base}/faults")).json()["streams_per_firm"] == 5
        assert (await http.post(f"{base}/faults", json={"no_such_knob": 1})).status_code == 400
        assert (await http.post(f"{base}/drop")).json() == {"dropped": 1}
    with pytest.raises(grpc.aio.AioRpcError) as dropped:
        async for _ in call:
            pass
    assert dropped.value.code() == grpc.StatusCode.UNAVAILABLE
