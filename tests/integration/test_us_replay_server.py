"""A US market-data tape served over gRPC as if live: a session recorded from the emulator with every stream
dropped once, served by :class:`UsReplayServer`, consumed by a ``UsLiveBooks`` over real sockets, whose final
books equal the replay's and the live session's; the recorded drops end its streams, heartbeats fill the
silence, reference data comes from the tape; ``polyinfra replay --channel us --serve`` as a process."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from polyinfra.emulator.runner import Emulator
from polyinfra.errors import GrpcNotFoundError
from polyinfra.model.events import SyncState
from polyinfra.record.records import RecordKind
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.record.us_replay import UsReplay
from polyinfra.record.us_replay_server import UsReplayServer
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.live_books import UsLiveBooks
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md
from tests.integration.cli_steps import WAIT_S, run_polyinfra, start_polyinfra
from tests.integration.us_market_data_steps import until
from tests.integration.us_tape_steps import DEPTH, FAST, Levels, levels, record_us_session

Tape = tuple[SQLiteSink, dict[str, Levels], Path]


@pytest.fixture
async def tape(tmp_path: Path) -> AsyncIterator[Tape]:
    path = tmp_path / "us.sqlite"
    sink = SQLiteSink(path)
    async with Emulator(markets=1, rate=0, us_markets=12) as emulator:
        emulator.us_market_data_faults.heartbeat_interval_s = 0.05
        live = await record_us_session(emulator, sink)
    yield sink, live, path
    await sink.close()


async def _replayed(sink: SQLiteSink) -> dict[str, Levels]:
    replay = UsReplay(sink)
    await replay.run()
    assert all(state is SyncState.LIVE for state in replay.states.values())
    return {symbol: levels(book) for symbol, book in replay.books.items()}


def _served_books(books: UsLiveBooks, symbols: list[str]) -> dict[str, Levels] | None:
    if any(books.state(symbol) is not SyncState.LIVE for symbol in symbols):
        return None
    return {symbol: levels(books.book(symbol)) for symbol in symbols}


async def test_a_served_tape_gives_a_live_client_the_replayed_and_live_books(tape: Tape) -> None:
    sink, live, _ = tape
    replayed = await _replayed(sink)
    assert replayed == live
    recorded_drops = [r async for r in sink.read(kinds={RecordKind.CONNECTION_LOST}) if r.source == "us"]
    symbols = sorted(live)
    async with (
        UsReplayServer(sink, paused=True, heartbeat_interval_s=0.05) as server,
        UsLiveBooks(server.target, insecure=True, depth=DEPTH, symbols_per_stream=5, **FAST) as books,
    ):
        await books.subscribe(symbols)  # the instruments from the tape's reference data
        # Every stream subscribed before the tape plays: each is open when the recorded drops come.
        streams = books.stats().streams
        assert streams > 1
        await until(lambda: books.stats().messages.get("subscription_ack", 0) == streams, "every stream acknowledged")
        assert server.open_streams == streams and all(books.state(symbol) is SyncState.SYNCING for symbol in symbols)
        server.resume()
        await server.wait_done()
        assert server.status.error is None and server.status.drops == len(recorded_drops)
        assert server.status.streams_ended >= 1
        await until(lambda: _served_books(books, symbols) == replayed, "the served books equal the replayed ones")
        assert books.stats().reconnects >= 1
        # The tape is over: the streams stay open, heartbeats only.
        await until(lambda: books.stats().messages.get("heartbeat", 0) >= 1, "a heartbeat")
        assert books.stats().invalid_updates == 0 and books.stats().last_stream_error is not None


async def test_reference_data_and_a_later_subscriber_come_from_the_tape(tape: Tape) -> None:
    sink, live, _ = tape
    symbol = sorted(live)[2]
    async with UsReplayServer(sink, keys=[symbol]) as server:
        await server.wait_done()
        async with UsExchangeClient(server.target, insecure=True) as client:
            (instrument,) = await client.instruments()
            assert instrument.symbol == symbol
            with pytest.raises(GrpcNotFoundError):
                await client.instruments([sorted(live)[0]])
        # A subscriber after the end gets each symbol's last recorded update, cut to a smaller depth.
        async with (
            grpc.aio.insecure_channel(server.target) as channel,
            asyncio.timeout(WAIT_S),
        ):
            call = channel.unary_stream(
                "/polymarket.v1.MarketDataSubscriptionAPI/CreateMarketDataSubscription",
                request_serializer=md.CreateMarketDataSubscriptionRequest.SerializeToString,
                response_deserializer=md.CreateMarketDataSubscriptionResponse.FromString,
            )
            request = md.CreateMarketDataSubscriptionRequest(symbols=[symbol], depth=2, snapshot_only=True)
            (response,) = [message async for message in call(request)]
        bids, asks = live[symbol]
        assert [entry.px * 1_000_000 // instrument.price_scale for entry in response.update.bids] == [
            price for price, _ in bids[:2]
        ]
        assert len(response.update.offers) == min(2, len(asks))


async def test_the_serve_command_prints_its_grpc_target_and_serves_the_tape(tape: Tape) -> None:
    _, live, path = tape
    symbol = sorted(live)[0]
    serving = await start_polyinfra("replay", "--sink", f"sqlite:///{path}", "--channel", "us", "--serve")
    assert serving.stdout is not None
    try:
        async with asyncio.timeout(WAIT_S):
            target = json.loads(await serving.stdout.readline())["grpc"]
        async with UsLiveBooks(target, insecure=True, depth=DEPTH, **FAST) as books:
            await books.subscribe([symbol])
            await until(lambda: _served_books(books, [symbol]) == {symbol: live[symbol]}, "the final book served")
    finally:
        serving.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(serving.wait(), WAIT_S)
    assert code == 0
    code, _, err = await run_polyinfra(
        "replay", "--sink", f"sqlite:///{path}", "--channel", "us", "--serve", "--paused"
    )
    assert code != 0 and len(err.strip().splitlines()) == 1 and "--paused" in err
