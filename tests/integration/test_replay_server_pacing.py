"""A paced replay server against an injected clock and sleep (the test hands out each sleep, so
nothing depends on the machine's pace): records go at the recorded pace, ``POST /replay/pause``
holds a record that was waiting for its time, ``POST /replay/resume`` sends it at once and goes on
at the recorded pace from there, and a subscriber receives the frames as they are replayed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import msgspec
import pytest
import websockets

from polyinfra.record.replay_server import ReplayServer
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.clob_ws import BookMessage, PriceChangeMessage
from tests.integration.recording_steps import HANG_GUARD_S
from tests.record.synthetic_tape import TOKENS, synthetic_tape

PRICE_CHANGES = 3
OPENING_RECORDS = 3
"""Connected, subscribed and the books: all at recorded second 0."""


class _HandedOutTime:
    """A clock that moves only by the sleeps the test hands out, one at a time."""

    def __init__(self) -> None:
        self.now_s = 0.0
        self.asked: list[float] = []
        self._permits: asyncio.Queue[None] = asyncio.Queue()
        self.woke = asyncio.Event()

    def clock(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self._permits.get()
        self.now_s += seconds
        self.woke.set()

    async def hand_out_one(self) -> None:
        """Let the pending sleep end; returns once the replay has run up to its next wait."""
        self.woke.clear()
        self._permits.put_nowait(None)
        await self.woke.wait()


async def _until_asked(time: _HandedOutTime, sleeps: int) -> None:
    async with asyncio.timeout(HANG_GUARD_S):
        while len(time.asked) < sleeps:
            await asyncio.sleep(0.01)


async def test_pause_holds_a_waiting_record_and_resume_goes_on_at_the_recorded_pace(tmp_path: Path) -> None:
    sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    await sink.write(synthetic_tape(PRICE_CHANGES))
    time = _HandedOutTime()
    server = ReplayServer(sink, speed=2.0, paused=True, clock=time.clock, sleep=time.sleep)
    async with (
        asyncio.timeout(HANG_GUARD_S),
        server,
        httpx.AsyncClient(base_url=server.urls["rest"]) as http,
        websockets.connect(server.urls["ws_market"]) as ws,
    ):
        # Held before the first record: nothing is known yet, so subscribing sends nothing.
        await ws.send(json.dumps({"assets_ids": list(TOKENS), "type": "market"}))
        assert (await http.post("/replay/resume")).json()["paused"] is False
        # The opening records share recorded second 0 and go at once; the first change is 1 s later, at 2x.
        await _until_asked(time, 1)
        assert time.asked == [pytest.approx(0.5)] and server.status.records == OPENING_RECORDS
        books = msgspec.json.decode(await ws.recv(), type=list[BookMessage])  # the tape's own books
        assert sorted(book.asset_id for book in books) == sorted(TOKENS)
        assert (await http.post("/replay/pause")).json()["paused"] is True
        await time.hand_out_one()
        # Its time came while paused: held, not replayed.
        status = (await http.get("/replay/status")).json()
        assert status["records"] == OPENING_RECORDS and status["paused"] is True
        time.now_s += 100.0  # a long pause: the records after it must not rush to catch up
        await http.post("/replay/resume")
        # Sent at once on resuming (no catching up), the next one at the recorded pace after it.
        await _until_asked(time, 2)
        assert time.asked == [pytest.approx(0.5)] * 2 and server.status.records == OPENING_RECORDS + 1
        first = msgspec.json.decode(await ws.recv(), type=PriceChangeMessage)
        await time.hand_out_one()
        await _until_asked(time, 3)
        await time.hand_out_one()
        status = (await http.get("/replay/status")).json()
        second = msgspec.json.decode(await ws.recv(), type=PriceChangeMessage)
        third = msgspec.json.decode(await ws.recv(), type=PriceChangeMessage)
    assert status["done"] is True and status["records"] == OPENING_RECORDS + PRICE_CHANGES
    assert status["speed"] == 2.0 and status["frames_sent"] == 1 + PRICE_CHANGES
    assert [change.timestamp for change in (first, second, third)] == ["1020", "1021", "1022"]
