"""PolyBolt end to end over real sockets: auth, prices, gaps from ``seq`` and ``dropped``, each close
code's path, the subscription limits (counted by the emulator), server pings and a refused handshake.

No outcome depends on time: the client's pacing clock and the emulator's rate-limit clock are one
:class:`SteppingClock` that the client's injected ``sleep`` moves forward, the 4003 delay and the
Retry-After wait are read from that ``sleep``'s record rather than waited, and every wait polls a
condition under a hang guard.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest
import websockets
from aiohttp import web

from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.rtds_topics import SubscriptionPlan
from polyinfra.emulator.faults import FaultConfig, RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError, LiveDataAuthError, PolicyViolationError
from polyinfra.live.live_data import LiveData, PriceSource
from polyinfra.model.live_events import Gap, LiveEvent, PriceTick
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import RecordKind
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.rtds import Subscription
from tests.integration.test_rtds_live_data import Collector, until

ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class SteppingClock:
    """A monotonic clock that only the client's injected ``sleep`` moves; every delay asked for is kept."""

    def __init__(self) -> None:
        self.now_s = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, delay_s: float) -> None:
        self.sleeps.append(delay_s)
        self.now_s += delay_s
        await asyncio.sleep(0.01)  # let the sockets move; no outcome rests on how long


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, seed=7, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as running:
        yield running


def credentials_of(emulator: Emulator) -> ApiCredentials:
    key = emulator.accounts.create(ADDRESS, 0) or emulator.accounts.derive(ADDRESS, 0)
    assert key is not None
    return key.credentials


def live_data(
    emulator: Emulator, clock: SteppingClock, credentials: ApiCredentials | None = None, **options: object
) -> LiveData:
    emulator.polybolt.clock_s = clock
    polybolt_options = {
        "clock": clock,
        "sleep": clock.sleep,
        "random": lambda: 0.5,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        **options,
    }
    return LiveData(
        emulator.urls["rtds"],
        credentials=credentials or credentials_of(emulator),
        polybolt_url=emulator.urls["polybolt"],
        polybolt_options=polybolt_options,
        reconnect_initial_s=0.05,
        ping_interval_s=0.05,
    )


async def test_prices_come_over_polybolt_with_a_snapshot_and_activity_stays_on_rtds(emulator: Emulator) -> None:
    clock = SteppingClock()
    for _ in range(3):
        emulator.rtds_sources.tick_prices()
    async with live_data(emulator, clock) as live:
        assert live._plan("activity", "trades", None)[0].name == "rtds"
        prices = Collector(await live.prices(["BTC/USD"], source=PriceSource.TWAP_60S))
        await until(lambda: len(prices.of(PriceTick)) >= 3)
        snapshot = prices.of(PriceTick)
        assert all(tick.backfill and tick.symbol == "btcusd" for tick in snapshot)
        assert all(tick.source == PriceSource.TWAP_60S for tick in snapshot)
        emulator.rtds_sources.tick_prices()
        await until(lambda: any(not tick.backfill for tick in prices.of(PriceTick)))
        await prices.stop()
    assert emulator.polybolt.stats.auths_accepted == 1
    assert emulator.rtds.stats.most_subscriptions == 0  # no price topic went to RTDS
    assert not prices.of(Gap)


async def test_seq_holes_and_dropped_counts_become_gaps_and_gap_records(emulator: Emulator, tmp_path: object) -> None:
    clock = SteppingClock()
    sink = open_sink(f"sqlite:///{tmp_path}/tape.db")
    recorder = Recorder(sink)
    await recorder.start()
    live = LiveData(
        emulator.urls["rtds"],
        credentials=credentials_of(emulator),
        polybolt_url=emulator.urls["polybolt"],
        polybolt_options={"clock": clock, "sleep": clock.sleep},
        recorder=recorder,
    )
    emulator.polybolt.clock_s = clock
    async with live:
        prices = Collector(await live.prices(["btcusd"], source=PriceSource.BINANCE))
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        emulator.faults.update({"polybolt_seq_skip_every": 3})
        for _ in range(3):
            emulator.rtds_sources.tick_prices()
        await until(lambda: len(prices.of(Gap)) == 1)
        emulator.faults.update({"polybolt_seq_skip_every": 0, "polybolt_slow_consumer_every": 6})
        for _ in range(6):
            emulator.rtds_sources.tick_prices()
        await until(lambda: len(prices.of(Gap)) == 2)
        await prices.stop()
    await recorder.stop()
    skipped, dropped = prices.of(Gap)
    assert (skipped.source, skipped.topic) == ("polybolt", "crypto_prices")
    assert skipped.reason.startswith("seq: 1 frames missing, 0 dropped")
    assert dropped.reason.startswith("seq: 0 frames missing, 1 dropped")
    assert skipped.from_ms <= skipped.to_ms
    gaps = [record async for record in sink.read(kinds=[RecordKind.GAP])]
    assert [(record.source, record.channel) for record in gaps] == [("polybolt", "crypto_prices")] * 2
    assert json.loads(gaps[1].payload)["reason"] == dropped.reason


@pytest.mark.parametrize("code", [4002, 4003, 1011])
async def test_reconnecting_close_codes_reconnect_and_report(emulator: Emulator, code: int) -> None:
    clock = SteppingClock()
    async with live_data(emulator, clock) as live:
        prices = Collector(await live.prices(["ethusd"]))
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        emulator.faults.update({"polybolt_close_after_messages": 2, "polybolt_close_code": code})
        emulator.rtds_sources.tick_prices()  # the second data frame: the socket closes after it
        await until(lambda: emulator.polybolt.stats.connections_opened == 2)
        emulator.faults.update({"polybolt_close_after_messages": 0})
        await until(lambda: len(prices.of(Gap)) == 1)
        await prices.stop()
    (gap,) = prices.of(Gap)
    assert gap.reason.startswith(f"reconnect: closed with {code}")
    assert live.polybolt is not None
    stats = live.polybolt.stats()
    assert stats.failure is None
    assert stats.slow_consumer_closes == (1 if code == 4002 else 0)
    # 4003 waits a uniform 0-10 s (random() = 0.5: 5 s); the others back off from 50 ms.
    assert (5.0 in clock.sleeps) == (code == 4003)


@pytest.mark.parametrize(("code", "error"), [(4001, LiveDataAuthError), (4008, PolicyViolationError)])
async def test_stopping_close_codes_stop_with_a_typed_error(emulator: Emulator, code: int, error: type) -> None:
    clock = SteppingClock()
    async with live_data(emulator, clock) as live:
        prices = Collector(await live.prices(["solusd"]))
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        emulator.faults.update({"polybolt_close_after_messages": 2, "polybolt_close_code": code})
        emulator.rtds_sources.tick_prices()
        await until(lambda: len(prices.of(Gap)) == 1)
        assert live.polybolt is not None
        assert isinstance(live.polybolt.failure, error)
        with pytest.raises(error):
            await live.prices(["xrpusd"])
        await prices.stop()
    (gap,) = prices.of(Gap)
    assert gap.reason.startswith("stopped:")
    assert emulator.polybolt.stats.connections_opened == 1  # never reconnected


async def test_a_refused_subscription_is_a_gap_and_is_not_sent_again(emulator: Emulator) -> None:
    clock = SteppingClock()
    async with live_data(emulator, clock) as live:
        with pytest.raises(InvalidValueError, match="USD"):
            await live.prices(["aapl"])  # refused here: PolyBolt refuses a crypto symbol not quoted in USD
        prices = Collector(await live.prices(["btcusd"]))
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        assert live.polybolt is not None
        events: list[LiveEvent] = []
        live.polybolt._taps.deliver = events.extend  # the raw transport's events, gaps included
        unplanned = SubscriptionPlan(Subscription("crypto_prices", "update", '{"symbol":"aapl"}'), {}, "aapl")
        await live.polybolt.subscribe(unplanned)
        await until(lambda: len(events) == 1)
        await prices.stop()
    (gap,) = events
    assert isinstance(gap, Gap)
    assert (gap.topic, gap.reason) == ("crypto_prices", "refused: invalid_filter")
    assert live.polybolt.stats().refused == 1
    assert emulator.polybolt.stats.subscriptions_refused == 1


async def test_refused_credentials_stop_with_a_typed_error_that_hides_the_secret(emulator: Emulator) -> None:
    clock = SteppingClock()
    real = credentials_of(emulator)
    wrong = ApiCredentials(real.api_key, real.secret, "not-the-passphrase-of-this-key")
    async with live_data(emulator, clock, credentials=wrong) as live:
        await live.prices(["btcusd"])
        assert live.polybolt is not None
        await until(lambda: live.polybolt is not None and live.polybolt.failure is not None)
        failure = live.polybolt.failure
    assert isinstance(failure, LiveDataAuthError)
    assert "auth_invalid" in repr(failure)
    for secret in (real.secret.reveal(), real.passphrase.reveal()):
        assert secret not in repr(failure) and secret not in str(live.polybolt.stats())
    assert emulator.polybolt.stats.auths_refused == 1


async def test_sharding_and_pacing_keep_within_the_limits_the_emulator_counts(emulator: Emulator) -> None:
    clock = SteppingClock()
    symbols = [f"c{index}usd" for index in range(130)]
    async with live_data(emulator, clock) as live:
        await live.prices(symbols[:1])
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        await live.prices(symbols[1:])
        await until(lambda: emulator.polybolt.stats.snapshots_sent == len(symbols))
        assert live.polybolt is not None
        stats = live.polybolt.stats()
    counted = emulator.polybolt.stats
    assert stats.connections == 3  # 64 + 64 + 2
    assert counted.most_subscriptions == 64
    # One frame per 110 ms leaves; frames in flight while another shard moves the clock may land closer.
    assert 0 < counted.most_frames_in_a_second <= 20
    assert (counted.rate_limit_refusals, counted.subscription_limit_refusals, stats.refused) == (0, 0, 0)


async def test_the_emulator_enforces_both_limits_on_a_client_that_ignores_them(emulator: Emulator) -> None:
    clock = SteppingClock()
    emulator.polybolt.clock_s = clock
    credentials = credentials_of(emulator)
    auth = {
        "apiKey": credentials.api_key,
        "secret": credentials.secret.reveal(),
        "passphrase": credentials.passphrase.reveal(),
    }
    async with websockets.connect(emulator.urls["polybolt"]) as ws:
        await ws.send(json.dumps({"op": "auth", "rid": "a", "auth": auth}))
        assert json.loads(await ws.recv())["op"] == "authed"
        entries = [{"channel": "price.equity", "filter": {"symbol": f"t{index}"}} for index in range(65)]
        await ws.send(json.dumps({"op": "subscribe", "rid": "s", "subscriptions": entries}))
        for _ in range(21):
            await ws.send(json.dumps({"op": "unsubscribe", "rid": "u", "subscriptions": entries[:1]}))
        await ws.send(json.dumps({"op": "ping", "rid": "barrier"}))
        answers = []
        while not answers or answers[-1].get("rid") != "barrier":
            answers.append(json.loads(await ws.recv()))
    codes = [answer.get("code") for answer in answers if answer.get("op") == "error"]
    assert codes == ["subscription_limit", "rate_limited", "rate_limited"]
    assert emulator.polybolt.stats.most_subscriptions == 64


async def test_server_pings_are_answered_and_a_silent_client_is_closed_with_4002(emulator: Emulator) -> None:
    clock = SteppingClock()
    async with live_data(emulator, clock) as live:
        await live.prices(["btcusd"])
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        for round_number in range(1, 4):
            emulator.polybolt.ping_all()
            await until(lambda n=round_number: emulator.polybolt.stats.pongs_received == n)
        assert emulator.polybolt.stats.connections_opened == 1
    async with websockets.connect(emulator.urls["polybolt"]) as ws:
        await until(lambda: emulator.polybolt.stats.connections_open == 1)
        for _ in range(3):
            emulator.polybolt.ping_all()
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await ws.recv()
    assert ws.close_code == 4002


async def test_a_refused_handshake_waits_its_retry_after(emulator: Emulator) -> None:
    clock = SteppingClock()
    emulator.faults.update({"polybolt_refuse_handshakes": 1, "polybolt_retry_after_s": 7})
    async with live_data(emulator, clock) as live:
        prices = Collector(await live.prices(["btcusd"]))
        await until(lambda: emulator.polybolt.stats.snapshots_sent == 1)
        await prices.stop()
    assert emulator.polybolt.stats.handshakes_refused == 1
    assert live.polybolt is not None and live.polybolt.stats().handshakes_refused == 1
    assert any(7.0 <= delay_s < 8.0 for delay_s in clock.sleeps)  # Retry-After plus up to 1 s of jitter


HOSTILE_FRAMES = [
    b"not json",
    b"[1, 2, 3]",
    b'{"v":1,"channel":"price.crypto","seq":-1,"ts":1,"payload":{"symbol":"btcusd","value":1,"timestamp":1}}',
    b'{"v":1,"channel":"price.crypto","seq":1,"ts":1,"payload":{"symbol":"btc usd","value":1,"timestamp":1}}',
    b'{"v":1,"channel":"price.crypto","seq":1,"ts":1,"payload":{"symbol":"btcusd","value":1e999999,"timestamp":1}}',
    b'{"v":1,"channel":"price.crypto","seq":1,"ts":1,"payload":{"symbol":"btcusd","full_accuracy_value":"NaN","timestamp":1}}',
    b'{"v":1,"channel":"price.crypto","seq":1,"ts":1,"snapshot":true,"payload":{"data":"x"}}',
    b'{"op":' + b'"x' * 5000 + b'"}',
]


async def test_hostile_frames_are_skipped_and_the_session_goes_on() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            op = json.loads(message.data)["op"]
            if op == "auth":
                await ws.send_str('{"op":"authed","rid":"a1"}')
            elif op == "subscribe":
                for frame in HOSTILE_FRAMES:
                    await ws.send_bytes(frame)
                good = {"symbol": "btcusd", "value": 2.5, "full_accuracy_value": "2.50", "timestamp": 7}
                await ws.send_str(json.dumps({"v": 1, "channel": "price.crypto", "seq": 1, "ts": 7, "payload": good}))
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    clock = SteppingClock()
    try:
        live = LiveData(
            "ws://127.0.0.1:1/unused",
            credentials=ApiCredentials("key", base64.urlsafe_b64encode(bytes(32)).decode(), "passphrase-of-a-test"),
            polybolt_url=f"ws://127.0.0.1:{port}/ws",
            polybolt_options={"clock": clock, "sleep": clock.sleep},
        )
        async with live:
            prices = Collector(await live.prices(["btcusd"]))
            await until(lambda: len(prices.of(PriceTick)) == 1)
            await prices.stop()
            assert live.polybolt is not None
            stats = live.polybolt.stats()
    finally:
        await runner.cleanup()
    (tick,) = prices.of(PriceTick)
    assert (tick.symbol, str(tick.price)) == ("btcusd", "2.50")
    assert stats.malformed_frames == len(HOSTILE_FRAMES)
    assert (stats.sessions, stats.failure) == (1, None)
