"""``polyinfra replay --serve`` as a real process: its one JSON line of URLs, the replayed books over
REST once the tape is done, Ctrl-C and ``--duration`` as normal ends, bad options as one line."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import msgspec

from polyinfra.emulator.faults import FaultConfig
from polyinfra.record.replay import Replay
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.clob_rest import OrderBookSummary
from tests.integration.book_comparison import levels_of_book, levels_of_summary
from tests.integration.cli_steps import WAIT_S, run_polyinfra, start_polyinfra
from tests.integration.conftest import EmulatorFactory
from tests.integration.recording_steps import recorded_books, until

FRAMES_WANTED = 50


async def _tape(emulator_factory: EmulatorFactory, tmp_path: Path) -> str:
    emulator = await emulator_factory(markets=2, seed=17, rate=150.0, faults=FaultConfig(seed=3))
    url = f"sqlite:///{tmp_path / 'tape.db'}"
    sink = open_sink(url)
    async with recorded_books(emulator, sink, checkpoint_interval_s=0.05) as (_, books):
        await until(lambda: books.stats.frames >= FRAMES_WANTED)
        emulator.pause()
    await sink.close()
    return url


async def test_serve_prints_its_urls_serves_the_replayed_books_and_stops_on_ctrl_c(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    sink_url = await _tape(emulator_factory, tmp_path)
    sink = open_sink(sink_url)
    replay = Replay(sink)
    await replay.run()
    await sink.close()
    serving = await start_polyinfra("replay", "--sink", sink_url, "--serve", "--port", "0", "--speed", "max")
    assert serving.stdout is not None
    try:
        async with asyncio.timeout(WAIT_S):
            urls = json.loads(await serving.stdout.readline())
        assert set(urls) == {"rest", "ws_market", "status"}
        async with httpx.AsyncClient() as http:

            async def done() -> bool:
                return bool((await http.get(urls["status"])).json()["done"])

            async with asyncio.timeout(WAIT_S):
                while not await done():
                    await asyncio.sleep(0.05)
            served = msgspec.json.decode((await http.get(urls["rest"] + "/books")).content, type=list[OrderBookSummary])
        assert {summary.asset_id: levels_of_summary(summary) for summary in served} == {
            token: levels_of_book(book) for token, book in replay.books.items()
        }
    finally:
        serving.send_signal(signal.SIGINT)
        code = await asyncio.wait_for(serving.wait(), WAIT_S)
    assert code == 0


async def test_duration_ends_the_server_and_bad_options_are_one_line(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    sink_url = await _tape(emulator_factory, tmp_path)
    code, out, err = await run_polyinfra(
        "replay", "--sink", sink_url, "--serve", "--speed", "2", "--paused", "--duration", "0.2"
    )
    assert code == 0, err
    status_url = json.loads(out)["status"]
    assert status_url.endswith("/replay/status")
    for arguments in (
        ("--serve", "--speed", "fast"),
        ("--serve", "--speed", "0"),
        ("--start", "yesterday"),
        ("--paused",),
    ):
        code, _, err = await run_polyinfra("replay", "--sink", sink_url, *arguments)
        assert code == 2
        assert err.startswith("polyinfra replay: ") and len(err.strip().splitlines()) == 1, err
