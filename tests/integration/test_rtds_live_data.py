"""RTDS end to end over real sockets: the emulator's venue behaviour, and LiveData's liveness and gaps.

Time never decides an outcome here: the emulator's no-PING silence runs on a clock the test moves,
the client's watchdog on an injected clock, and every wait polls a condition under a hang guard.
A ``PING`` answered with ``""`` is the barrier that proves the emulator sent nothing before it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
import websockets

from polyinfra.core.eip712 import SigningKey
from polyinfra.core.rtds_topics import SubscriptionPlan
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import RetiredTopicError
from polyinfra.live.live_data import LiveData, LiveSubscription, PriceSource
from polyinfra.model.live_events import ActivityTrade, Gap, LiveEvent, PriceTick
from polyinfra.model.numbers import Side
from polyinfra.net.http import HttpTransport
from polyinfra.obs.metrics import REGISTRY
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import RecordKind
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.rtds import Subscription
from tests.integration.trading_steps import empty_market, signed_order, trading_client

HANG_GUARD_S = 60.0
# Hardhat's first two accounts: well-known test keys, never funded anywhere real.
MAKER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
TAKER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
FAST = {"reconnect_initial_s": 0.05, "reconnect_max_s": 0.2, "ping_interval_s": 0.05}


class ManualClock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while not condition():
            await asyncio.sleep(0.02)


class Collector:
    """Every event a subscription yields, gathered by a task."""

    def __init__(self, subscription: LiveSubscription) -> None:
        self.events: list[LiveEvent] = []
        self._task = asyncio.create_task(self._collect(subscription))

    async def _collect(self, subscription: LiveSubscription) -> None:
        async for event in subscription:
            self.events.append(event)

    def of(self, kind: type) -> list:  # type: ignore[type-arg]
        return [event for event in self.events if isinstance(event, kind)]

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def step_until_fills(emulator: Emulator) -> None:
    """Simulator steps until one of them traded (activity rows were published)."""
    published = len(emulator.rtds_sources.published_activity)
    for _ in range(1000):
        emulator.simulator.step()
        if len(emulator.rtds_sources.published_activity) > published:
            return
    raise AssertionError("the simulator did not trade in 1,000 steps")


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=2, seed=11, rate=0) as running:
        yield running


async def subscribed(live: LiveData, emulator: Emulator) -> None:
    """Wait until the emulator answered a PING the client sent after its subscriptions (it reads one
    socket's frames in order). Only for a client whose every PING reached the emulator."""
    sent = live.stats().pings_sent
    await until(lambda: emulator.rtds.stats.pings_answered > sent)


async def frames_until_ping_answer(ws: websockets.ClientConnection) -> list[str]:
    """Send PING and return the data frames that arrived before its ``""`` answer."""
    await ws.send("PING")
    frames = []
    async with asyncio.timeout(HANG_GUARD_S):
        while (frame := await ws.recv()) != "":
            frames.append(str(frame))
    return frames


async def test_six_minutes_without_ping_silence_the_socket(emulator: Emulator) -> None:
    clock = ManualClock()
    emulator.rtds.clock_s = clock
    async with websockets.connect(emulator.urls["rtds"]) as ws:
        assert await ws.recv() == ""  # the venue's empty frame on connect
        await ws.send(json.dumps({"action": "subscribe", "subscriptions": [{"topic": "activity", "type": "trades"}]}))
        assert await frames_until_ping_answer(ws) == []  # the subscription is in place
        clock.now_s += 359.0
        step_until_fills(emulator)
        assert [json.loads(frame)["type"] for frame in await frames_until_ping_answer(ws)][:1] == ["trades"]
        clock.now_s += 361.0  # no PING for longer than six minutes (the PING above came at 359 s)
        step_until_fills(emulator)
        assert await frames_until_ping_answer(ws) == []
        step_until_fills(emulator)  # a PING does not bring a silenced subscription back
        assert await frames_until_ping_answer(ws) == []
    assert emulator.rtds.stats.connections_silenced == 1


async def test_pings_every_few_seconds_keep_activity_flowing_past_six_minutes(emulator: Emulator) -> None:
    clock = ManualClock()
    emulator.rtds.clock_s = clock
    async with LiveData(emulator.urls["rtds"], **FAST) as live:
        trades = Collector(await live.activity())
        await subscribed(live, emulator)
        for _ in range(4):  # 800 emulated seconds, a PING in every 200
            answered = emulator.rtds.stats.pings_answered
            await until(lambda answered=answered: emulator.rtds.stats.pings_answered > answered)
            clock.now_s += 200.0
        step_until_fills(emulator)
        truth = len(emulator.rtds_sources.published_activity)
        await until(lambda: len(trades.of(ActivityTrade)) >= 1)
        await trades.stop()
    assert emulator.rtds.stats.connections_silenced == 0
    assert truth > 0


async def test_a_silent_freeze_is_detected_repaired_and_marked(emulator: Emulator, tmp_path: object) -> None:
    clock = ManualClock()
    gaps_before = _gaps_counted()
    sink = open_sink(f"sqlite:///{tmp_path}/tape.db")
    recorder = Recorder(sink)
    await recorder.start()
    live = LiveData(emulator.urls["rtds"], clock=clock, silence_timeout_s={"activity": 30.0}, recorder=recorder, **FAST)
    async with live:
        events = Collector(await live.activity(kinds=["trades", "orders_matched"]))
        await subscribed(live, emulator)
        step_until_fills(emulator)
        await until(lambda: len(events.of(ActivityTrade)) > 0)
        emulator.faults.rtds_freeze = True
        step_until_fills(emulator)
        await until(lambda: emulator.rtds.stats.messages_frozen > 0)
        clock.now_s += 29.0
        await asyncio.sleep(0)  # the watchdog may look now: 29 s is within the timeout
        assert live.stats().silences_detected == 0
        clock.now_s += 2.0
        await until(lambda: len(events.of(Gap)) == 1)
        emulator.faults.rtds_freeze = False
        before = len(events.of(ActivityTrade))
        step_until_fills(emulator)
        await until(lambda: len(events.of(ActivityTrade)) > before)
        await events.stop()
    await recorder.stop()
    (gap,) = events.of(Gap)
    assert (gap.source, gap.topic) == ("rtds", "activity")
    assert gap.reason.startswith("silence: activity")
    assert gap.from_ms <= gap.to_ms
    assert live.stats().silences_detected == 1
    assert live.stats().reconnects == 1
    assert _gaps_counted() == gaps_before + 1
    gaps = [record async for record in sink.read(kinds=[RecordKind.GAP])]
    assert [(record.source, record.channel) for record in gaps] == [("rtds", "activity")]
    assert json.loads(gaps[0].payload)["reason"] == gap.reason
    frames = [record async for record in sink.read(kinds=[RecordKind.FRAME_RECEIVED])]
    assert {record.channel for record in frames} >= {"activity", "connection"}
    assert any(record.key.startswith("0x") for record in frames if record.channel == "activity")
    sent = [record async for record in sink.read(kinds=[RecordKind.FRAME_SENT])]
    actions = [json.loads(record.payload)["action"] for record in sent if record.channel == "activity"]
    # Two types, subscribed by each of the two sessions, and unsubscribed when LiveData stopped.
    assert actions == ["subscribe"] * 4 + ["unsubscribe"] * 2
    lifecycle = [record async for record in sink.read(kinds=[RecordKind.CONNECTED, RecordKind.RECONNECTED])]
    assert [record.kind for record in lifecycle] == [RecordKind.CONNECTED, RecordKind.RECONNECTED]
    await sink.close()


async def test_activity_over_a_faulty_session_is_the_ground_truth_with_its_holes_named(emulator: Emulator) -> None:
    live = LiveData(emulator.urls["rtds"], silence_timeout_s={"activity": None}, **FAST)
    truth = emulator.rtds_sources.published_activity
    faults = [
        {"rtds_close_after_messages": 1, "rtds_close_code": 4002},
        {"rtds_close_after_messages": 1, "rtds_close_code": 0},  # an abort: no close frame
        {"rtds_close_after_messages": 1, "rtds_close_code": 1011},
    ]
    faulty_phases: list[tuple[range, int, int]] = []  # (rows published, start and end wall ms)
    async with live:
        collected = Collector(await live.activity(kinds=["trades", "orders_matched"]))
        await subscribed(live, emulator)
        for fault in [None, *(phase for knobs in faults for phase in (knobs, None))]:
            first = len(truth)
            if fault is None:
                step_until_fills(emulator)
                wanted = {_truth_key(row) for row in list(truth)[first:]}
                await until(lambda wanted=wanted: wanted <= {_row_key(t) for t in collected.of(ActivityTrade)})
                continue
            gaps = len(collected.of(Gap))
            started_ms = _wall_ms()
            emulator.faults.update(fault)
            step_until_fills(emulator)
            emulator.faults.update({"rtds_close_after_messages": 0, "rtds_close_code": 0})
            faulty_phases.append((range(first, len(truth)), started_ms, _wall_ms()))
            await until(lambda gaps=gaps: len(collected.of(Gap)) > gaps)
        await collected.stop()
    received = Counter(_row_key(trade) for trade in collected.of(ActivityTrade))
    assert max(received.values()) == 1  # every row once
    assert set(received) <= {_truth_key(row) for row in truth}
    missing = [index for index, row in enumerate(truth) if _truth_key(row) not in received]
    assert missing, "the faults should have cost rows"
    gaps = collected.of(Gap)
    assert [gap.reason for gap in gaps] == [
        "reconnect: closed with 4002",
        "reconnect: connection lost",
        "reconnect: closed with 1011",
    ]
    for index in missing:  # every hole is named: it lies in a faulty phase a Gap covers
        (_, started_ms, ended_ms) = next(phase for phase in faulty_phases if index in phase[0])
        assert any(gap.from_ms <= ended_ms and gap.to_ms >= started_ms for gap in gaps)


async def test_prices_backfill_then_updates_without_duplicates_across_a_reconnect(emulator: Emulator) -> None:
    for _ in range(5):
        emulator.rtds_sources.tick_prices()
    async with LiveData(emulator.urls["rtds"], silence_timeout_s={"crypto_prices": None}, **FAST) as live:
        prices = Collector(await live.prices(["BTCUSDT", "eth/usd"], source=PriceSource.BINANCE))
        await until(lambda: len(prices.of(PriceTick)) >= 12)  # 6 backfilled points per symbol
        emulator.faults.update({"rtds_close_after_messages": 1, "rtds_close_code": 1001})
        emulator.rtds_sources.tick_prices()
        emulator.faults.update({"rtds_close_after_messages": 0})
        await until(lambda: len(prices.of(Gap)) == 1)
        emulator.rtds_sources.tick_prices()
        await until(lambda: len(prices.of(PriceTick)) >= 16)
        await prices.stop()
    ticks = prices.of(PriceTick)
    assert {tick.symbol for tick in ticks} == {"btcusd", "ethusd"}
    for symbol in ("btcusd", "ethusd"):
        times = [tick.timestamp_ms for tick in ticks if tick.symbol == symbol]
        assert times == sorted(set(times))  # nothing twice, in order, the hole filled by the backfill
        assert len(times) == 8
    assert any(tick.backfill for tick in ticks)


async def test_subscriptions_change_at_run_time_on_the_open_socket(emulator: Emulator) -> None:
    async with LiveData(emulator.urls["rtds"], silence_timeout_s={"crypto_prices": None}, **FAST) as live:
        trades = Collector(await live.activity())
        prices = await live.prices(["btcusd"])
        await subscribed(live, emulator)
        emulator.rtds_sources.tick_prices()
        await until(lambda: live.stats().messages_by_topic.get("crypto_prices", 0) >= 2)  # backfill, update
        await prices.close()  # unsubscribes on the socket
        await subscribed(live, emulator)
        seen = live.stats().messages_by_topic["crypto_prices"]
        emulator.rtds_sources.tick_prices()
        step_until_fills(emulator)
        # One socket keeps its order: a price frame of the tick would have come before these trades.
        await until(lambda: len(trades.of(ActivityTrade)) > 0)
        await trades.stop()
        assert live.stats().messages_by_topic["crypto_prices"] == seen
    assert emulator.rtds.stats.connections_opened == 1
    assert live.stats().gaps == 0


async def test_a_users_fill_reaches_activity_with_both_wallets(emulator: Emulator) -> None:
    market = empty_market(emulator)
    maker_wallet, taker_wallet = (SigningKey(key).address.lower() for key in (MAKER_KEY, TAKER_KEY))
    async with HttpTransport(emulator.urls["rest"]) as transport, LiveData(emulator.urls["rtds"], **FAST) as live:
        maker, taker = await trading_client(transport, MAKER_KEY), await trading_client(transport, TAKER_KEY)
        trades = Collector(await live.activity(wallets=[maker_wallet, taker_wallet.upper()]))
        await subscribed(live, emulator)
        await maker.post_order(signed_order(MAKER_KEY, market, Side.SELL, "0.60", "10"))
        await taker.post_order(signed_order(TAKER_KEY, market, Side.BUY, "0.70", "6"))
        await until(lambda: len(trades.of(ActivityTrade)) == 2)
        await trades.stop()
    rows = {trade.wallet: trade for trade in trades.of(ActivityTrade)}
    assert (rows[taker_wallet].side, rows[maker_wallet].side) == (Side.BUY, Side.SELL)
    slug = emulator.exchange.listing(market.condition_id).slug
    for trade in rows.values():
        assert (trade.price, trade.size, trade.token_id) == (Decimal("0.6"), Decimal("6"), market.tokens[0].token_id)
        assert (trade.market_slug, trade.title, trade.kind) == (slug, market.question, "trades")
    assert rows[taker_wallet].transaction_hash == rows[maker_wallet].transaction_hash


async def test_refused_subscriptions_are_gaps_and_dead_topics_are_refused_locally(emulator: Emulator) -> None:
    async with LiveData(emulator.urls["rtds"], **FAST) as live:
        with pytest.raises(RetiredTopicError, match="market channel"):
            live.rtds.plan("clob_market", "*", None)
        events: list[LiveEvent] = []
        live.rtds._taps.deliver = events.extend  # the raw transport's events, gaps included
        await subscribed(live, emulator)
        await live.rtds.subscribe(SubscriptionPlan(Subscription("rfq", "*"), {}))
        await until(lambda: len(events) == 1)
    (gap,) = events
    assert isinstance(gap, Gap)
    assert gap.topic == "rfq"
    assert gap.reason.startswith("refused: 401 leger GetTopics error")
    assert live.stats().refused == 1


def _gaps_counted() -> float:
    return REGISTRY.get_sample_value("polyinfra_live_gaps_total", {"source": "rtds"}) or 0.0


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _row_key(trade: ActivityTrade) -> tuple[str, ...]:
    return (trade.kind, trade.transaction_hash, trade.token_id, trade.side.value, trade.wallet)


def _truth_key(row: object) -> tuple[str, ...]:
    payload = row.payload  # type: ignore[attr-defined]
    return (row.kind, payload.transaction_hash, payload.asset, payload.side, payload.proxy_wallet.lower())  # type: ignore[attr-defined]
