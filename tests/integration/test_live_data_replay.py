"""RTDS and PolyBolt tapes replayed: a session recorded over real sockets from the embedded emulator
(:mod:`tests.integration.live_data_tapes`), a connection dropped by its fault knobs, replays into exactly
the events the live transports delivered, gaps included, in the same order; and ``polyinfra replay
--channel rtds|polybolt`` prints them.

Every wait polls a condition under a hang guard; what is compared never rests on timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from polyinfra.emulator.faults import FaultConfig, RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.live.live_data import LiveData, PriceSource
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick, topic_of
from polyinfra.record.polybolt_replay import PolyBoltReplay
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import RecordKind
from polyinfra.record.rtds_replay import RtdsReplay
from polyinfra.record.sink import Sink
from polyinfra.record.sink_urls import open_sink
from tests.integration.cli_steps import run_polyinfra_in_process
from tests.integration.live_data_tapes import of, record_polybolt_session, record_rtds_session
from tests.integration.test_polybolt_live_data import SteppingClock, credentials_of
from tests.integration.test_rtds_live_data import FAST, step_until_fills, subscribed, until

NO_WATCHDOG = {"activity": None, "crypto_prices": None, "comments": None}


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=2, seed=11, rate=0) as running:
        yield running


@dataclass(frozen=True, slots=True)
class RtdsTape:
    url: str
    sink: Sink
    delivered: list[LiveEvent]
    """What the live transport delivered while the tape recorded."""

    def activity(self) -> list[LiveEvent]:
        return [event for event in self.delivered if topic_of(event) == "activity"]


@pytest.fixture
async def rtds_tape(emulator: Emulator, tmp_path: Path) -> AsyncIterator[RtdsTape]:
    url = f"sqlite:///{tmp_path}/tape.db"
    sink = open_sink(url)
    try:
        yield RtdsTape(url, sink, await record_rtds_session(emulator, sink))
    finally:
        await sink.close()


async def test_an_rtds_tape_replays_into_the_events_live_delivered_gaps_included(rtds_tape: RtdsTape) -> None:
    delivered = rtds_tape.delivered
    replay = RtdsReplay(rtds_tape.sink)
    replayed = await replay.events()
    assert {event.reason for event in of(delivered, Gap)} == {"reconnect: closed with 4002"}  # type: ignore[attr-defined]
    assert of(delivered, PriceTick) and of(delivered, CommentEvent)
    assert replayed == delivered
    assert replay.stats.events == len(delivered) and replay.stats.malformed_frames == 0
    assert await RtdsReplay(rtds_tape.sink, topics=["activity"]).events() == rtds_tape.activity()


async def test_an_rtds_replay_narrows_to_keys_and_a_window_and_paces_on_the_injected_clock(
    rtds_tape: RtdsTape,
) -> None:
    sink, delivered = rtds_tape.sink, rtds_tape.delivered
    frames = [record async for record in sink.read(kinds=[RecordKind.FRAME_RECEIVED]) if record.source == "rtds"]
    wallet = next(event.wallet for event in delivered if isinstance(event, ActivityTrade))
    by_wallet = await RtdsReplay(sink, keys=[wallet.upper()]).events()
    after_last_frame = await RtdsReplay(sink, start_wall_ns=frames[-1].recv_wall_ns + 1).events()
    before_first_frame = await RtdsReplay(sink, end_wall_ns=frames[0].recv_wall_ns).events()
    slept: list[float] = []

    async def sleep(delay_s: float) -> None:
        slept.append(delay_s)

    paced = await RtdsReplay(sink, speed=2.0, clock=lambda: 0.0, sleep=sleep).events()
    assert by_wallet == [
        event
        for event in delivered
        if isinstance(event, Gap) or (isinstance(event, ActivityTrade) and event.wallet == wallet)
    ]
    assert not of(after_last_frame, ActivityTrade) and not of(after_last_frame, PriceTick)
    assert before_first_frame == []
    assert paced == delivered
    assert slept and all(delay_s >= 0 for delay_s in slept)


async def test_replay_rtds_prints_the_events_as_polyinfra_live_does(rtds_tape: RtdsTape) -> None:
    url = rtds_tape.url
    code, out, err = await run_polyinfra_in_process("replay", "--sink", url, "--channel", "rtds", "--topic", "activity")
    assert code == 0, err
    *lines, summary = out.splitlines()
    activity = rtds_tape.activity()
    assert [line.split()[0] for line in lines] == [
        "GAP" if isinstance(event, Gap) else event.kind  # type: ignore[union-attr]
        for event in activity
    ]
    assert summary.startswith("replayed ") and f"{len(activity):,} events, 1 of them gaps" in summary
    code, _, err = await run_polyinfra_in_process("replay", "--sink", url, "--channel", "user", "--topic", "activity")
    assert code == 2 and "--topic" in err


async def test_a_polybolt_tape_replays_into_the_ticks_live_delivered_gaps_included(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tape.db"
    sink = open_sink(url)
    async with Emulator(markets=1, seed=7, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as emulator:
        try:
            delivered = await record_polybolt_session(emulator, sink, SteppingClock())
            replayed = await PolyBoltReplay(sink).events()
        finally:
            await sink.close()
    code, out, err = await run_polyinfra_in_process("replay", "--sink", url, "--channel", "polybolt")
    gaps = of(delivered, Gap)
    assert {gap.topic for gap in gaps} == {"crypto_prices", "crypto_prices_chainlink"}  # type: ignore[attr-defined]
    assert replayed == delivered
    assert code == 0, err
    *lines, summary = out.splitlines()
    assert len(lines) == len(delivered)
    assert f"{len(delivered):,} events, {len(gaps)} of them gaps" in summary


async def test_live_record_then_replay_gives_the_lines_live_printed(emulator: Emulator, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/tape.db"
    command = run_polyinfra_in_process(
        "live", "--rtds", emulator.urls["rtds"], "--topic", "activity", "--record", url, "--duration", "3"
    )
    running = asyncio.ensure_future(command)
    while not running.done():  # trades all along, until the command's duration ends
        emulator.simulator.step()
        await asyncio.sleep(0.01)
    code, live_out, err = await running
    assert code == 0, err
    code, replay_out, err = await run_polyinfra_in_process("replay", "--sink", url, "--channel", "rtds")
    assert code == 0, err
    *replayed, summary = replay_out.splitlines()
    printed = live_out.splitlines()
    # The command's duration may end with events still queued for its printer: the tape holds them too.
    assert printed and replayed[: len(printed)] == printed
    assert summary.startswith("replayed ")


async def test_two_clients_recording_into_one_recorder_replay_each_into_what_it_delivered(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Two LiveData over RTDS, one recorder: both take the Binance price frames (whose duplicate checks one
    feed for both would get wrong), only the second takes comments and only its connection is dropped."""
    sink = open_sink(f"sqlite:///{tmp_path}/tape.db")
    trader: list[LiveEvent] = []
    commenter: list[LiveEvent] = []
    for _ in range(3):
        emulator.rtds_sources.tick_prices()
    try:
        async with Recorder(sink) as recorder:
            first = LiveData(emulator.urls["rtds"], silence_timeout_s=NO_WATCHDOG, recorder=recorder, **FAST)
            second = LiveData(emulator.urls["rtds"], silence_timeout_s=NO_WATCHDOG, recorder=recorder, **FAST)
            async with first, second:
                await first.activity(kinds=["trades"], callback=trader.append)
                await first.prices(["btcusd"], source=PriceSource.BINANCE, callback=trader.append)
                await second.comments(callback=commenter.append)
                await second.prices(["btcusd"], source=PriceSource.BINANCE, callback=commenter.append)
                await subscribed(first, emulator)
                await subscribed(second, emulator)
                step_until_fills(emulator)
                await until(lambda: bool(of(trader, ActivityTrade)))
                # Only the second client takes comments: the knob closes its connection and no other.
                emulator.faults.update({"rtds_close_after_messages": 1, "rtds_close_code": 4002})
                emulator.rtds_sources.post_comment("the drop", parent_entity_id=7, user_address="0xAbC")
                await until(lambda: len(of(commenter, Gap)) >= 2)  # comments' and crypto_prices'
                emulator.faults.update({"rtds_close_after_messages": 0, "rtds_close_code": 0})
                emulator.rtds_sources.tick_prices()
                # Comments until one reaches the second client's next session (earlier ones are lost, live and taped).
                await until(lambda: _commented(emulator, commenter))
            connections = (first.rtds.recorded_connections, second.rtds.recorded_connections)
        replayed = [await RtdsReplay(sink, connections=chosen).events() for chosen in connections]
        everything = await RtdsReplay(sink).events()
    finally:
        await sink.close()
    assert len(connections[0]) == 1 and len(connections[1]) == 1 and connections[0] != connections[1]
    assert not of(trader, Gap) and of(trader, PriceTick)
    assert {event.reason for event in of(commenter, Gap)} == {"reconnect: closed with 4002"}  # type: ignore[attr-defined]
    assert replayed == [trader, commenter]
    assert sorted(map(repr, everything)) == sorted(map(repr, trader + commenter))


def _commented(emulator: Emulator, delivered: list[LiveEvent]) -> bool:
    """Whether a comment followed the last gap in ``delivered``; posts one more if not."""
    last_gap = max(index for index, event in enumerate(delivered) if isinstance(event, Gap))
    if of(delivered[last_gap:], CommentEvent):
        return True
    emulator.rtds_sources.post_comment("after the drop", parent_entity_id=7, user_address="0xAbC")
    return False


async def test_two_polybolt_clients_sharing_a_subscription_key_replay_each_into_its_ticks(tmp_path: Path) -> None:
    """Binance prices for one client, Chainlink's for the other: one PolyBolt subscription key each, on
    connections of the same own number, recorded into one recorder, seq numbers skipped on both."""
    sink = open_sink(f"sqlite:///{tmp_path}/tape.db")
    clock = SteppingClock()
    binance: list[LiveEvent] = []
    chainlink: list[LiveEvent] = []
    async with Emulator(markets=1, seed=7, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF)) as emulator:
        emulator.polybolt.clock_s = clock
        options = {"clock": clock, "sleep": clock.sleep, "reconnect_initial_s": 0.05}
        try:
            async with Recorder(sink) as recorder:
                clients = [
                    LiveData(
                        emulator.urls["rtds"],
                        credentials=credentials_of(emulator),
                        polybolt_url=emulator.urls["polybolt"],
                        polybolt_options=options,
                        recorder=recorder,
                    )
                    for _ in range(2)
                ]
                async with clients[0], clients[1]:
                    await clients[0].prices(["btcusd"], source=PriceSource.BINANCE, callback=binance.append)
                    await clients[1].prices(["btcusd"], source=PriceSource.CHAINLINK, callback=chainlink.append)
                    for _ in range(3):
                        emulator.rtds_sources.tick_prices()
                    await until(lambda: len(of(binance, PriceTick)) >= 3 and len(of(chainlink, PriceTick)) >= 3)
                    # Every connection skips seq numbers a while: each client's gaps are its own.
                    emulator.faults.update({"polybolt_seq_skip_every": 2})
                    for _ in range(3):
                        emulator.rtds_sources.tick_prices()
                    await until(lambda: bool(of(binance, Gap)) and bool(of(chainlink, Gap)))
                    emulator.faults.update({"polybolt_seq_skip_every": 0})
                connections = [client.polybolt.recorded_connections for client in clients if client.polybolt]
            replayed = [await PolyBoltReplay(sink, connections=chosen).events() for chosen in connections]
            everything = await PolyBoltReplay(sink).events()
        finally:
            await sink.close()
    assert len(connections) == 2 and not connections[0] & connections[1]
    assert {topic_of(event) for event in binance} == {"crypto_prices"}
    assert {topic_of(event) for event in chainlink} == {"crypto_prices_chainlink"}
    assert replayed == [binance, chainlink]
    # Unselected, each connection's ticks still come from its own subscription's topics.
    assert sorted(map(repr, everything)) == sorted(map(repr, binance + chainlink))
