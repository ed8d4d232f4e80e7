"""The replay server end to end over real sockets: a tape recorded from the emulator (under faults:
reconnects, duplicated and malformed frames, REST resyncs) is served, LiveBooks and the official
client consume it as if it were live, and what they end with is what ``Replay`` rebuilds from the
same tape. Played at ``max`` speed from a paused start, so no test depends on the machine's pace."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import websockets
from py_clob_client_v2 import BookParams, ClobClient

from polyinfra.clob.live_books import LiveBooks
from polyinfra.core.book_hash import book_hash_matches
from polyinfra.core.order_signing import POLYGON_CHAIN_ID
from polyinfra.emulator.faults import FaultConfig
from polyinfra.record.replay import Replay
from polyinfra.record.replay_server import ReplayServer
from polyinfra.record.sink import Sink
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import BookMessage
from tests.integration.book_comparison import levels_of_book, levels_of_summary
from tests.integration.conftest import EmulatorFactory
from tests.integration.recording_steps import HANG_GUARD_S, faults_until_reconnects, recorded_books, until
from tests.integration.test_live_books_chaos import FAST_CLIENT

RECONNECTS_WANTED = 2
CALM_FRAMES_WANTED = 100
# No audits: at max speed the server's books run ahead of what a client has read, which an audit
# would see as a difference (a real, harmless race; the subject here is the stream itself).
REPLAY_CLIENT = {key: value for key, value in FAST_CLIENT.items() if key != "audit_interval_s"}


async def _record_tape(emulator_factory: EmulatorFactory, tmp_path: Path) -> tuple[Sink, list[str], int]:
    """A tape of faults until reconnects, then a calm stretch; with the wall time the calm began."""
    emulator = await emulator_factory(markets=2, seed=31, rate=150.0, faults=FaultConfig(seed=11))
    tokens = list(emulator.exchange.tokens())
    sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    async with recorded_books(emulator, sink, checkpoint_interval_s=0.05) as (_, books):
        await faults_until_reconnects(emulator, books, RECONNECTS_WANTED)
        assert await books.wait_until_live(timeout_s=HANG_GUARD_S)
        calm_ns = time.time_ns()
        frames = books.stats.frames
        await until(lambda: books.stats.frames >= frames + CALM_FRAMES_WANTED)
        emulator.pause()
    return sink, tokens, calm_ns


async def _replayed(sink: Sink) -> Replay:
    replay = Replay(sink)
    await replay.run()
    return replay


async def _consume(server: ReplayServer, tokens: list[str], replay: Replay, *, live_before_play: bool) -> LiveBooks:
    """LiveBooks on the server until its books equal the replay's final books; closed, returned."""
    expected = {token: levels_of_book(replay.books[token]) for token in tokens}
    async with LiveBooks(server.urls["rest"], server.urls["ws_market"], **REPLAY_CLIENT) as books:
        await books.subscribe(tokens)
        if live_before_play:
            assert await books.wait_until_live(timeout_s=HANG_GUARD_S), books.states()
        server.resume()
        await server.wait_done()
        await until(lambda: {token: levels_of_book(books.book(token)) for token in tokens} == expected)
    return books


async def test_live_books_on_a_calm_stretch_end_equal_to_the_replay(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    sink, tokens, calm_ns = await _record_tape(emulator_factory, tmp_path)
    replay = await _replayed(sink)
    async with ReplayServer(sink, start_wall_ns=calm_ns, paused=True) as server:
        # Held at the start point: the subscriber's books are the replayed books as they were then.
        books = await _consume(server, tokens, replay, live_before_play=True)
        status = server.status
    assert status.done and status.error is None
    assert status.frames_sent >= CALM_FRAMES_WANTED
    assert books.stats.frames > CALM_FRAMES_WANTED
    assert books.stats.hash_mismatches == 0
    assert books.stats.best_price_mismatches == 0
    assert books.stats.malformed_frames == 0


async def test_a_faulty_tape_from_the_beginning_serves_its_resyncs(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    sink, tokens, _ = await _record_tape(emulator_factory, tmp_path)
    replay = await _replayed(sink)
    assert replay.stats.rest_responses > 0 and replay.stats.malformed_frames > 0
    async with ReplayServer(sink, paused=True) as server:
        # Nothing replayed yet: the tokens are unknown, the subscription waits for the tape's books.
        async with httpx.AsyncClient(base_url=server.urls["rest"]) as http:
            assert (await http.get("/books")).json() == []
            unknown = await http.get("/book", params={"token_id": tokens[0]})
            assert unknown.status_code == 404
            assert unknown.json() == {"error": "No orderbook exists for the requested token id"}
        books = await _consume(server, tokens, replay, live_before_play=False)
        status = server.status
    assert status.done and status.error is None
    # The recording's REST resyncs reached the subscriber as books of the replayed state, every
    # one hashed right, as were the venue's own books served raw.
    assert status.books_sent > 0
    assert status.frames_not_served == replay.stats.malformed_frames
    assert books.stats.hash_mismatches == 0
    assert books.stats.malformed_frames == 0


async def test_rest_answers_the_replayed_state_for_polyinfra_and_the_official_client(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    sink, tokens, _ = await _record_tape(emulator_factory, tmp_path)
    replay = await _replayed(sink)
    async with ReplayServer(sink) as server:
        await server.wait_done()
        async with httpx.AsyncClient(base_url=server.urls["rest"]) as http:
            one = msgspec.json.decode(
                (await http.get("/book", params={"token_id": tokens[0]})).content, type=OrderBookSummary
            )
            batch = await http.post("/books", json=[{"token_id": token} for token in [*tokens, "12345"]])
            every = (await http.get("/books")).json()
            status = (await http.get("/replay/status")).json()
            refusals = [
                await http.get("/book", params={"token_id": "not a token"}),
                await http.get("/book"),
                await http.post("/books", content=b"[{"),
                await http.post("/books", json=[{"token_id": tokens[0]}] * 501),
                await http.get("/no/such/route"),
            ]

        def official() -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
            client = ClobClient(host=server.urls["rest"], chain_id=POLYGON_CHAIN_ID)
            book = client.get_order_book(tokens[0])
            pair = client.get_order_books([BookParams(token_id=token) for token in tokens[:2]])
            return book, pair, [client.get_order_book_hash(summary) for summary in (book, *pair)]

        book, pair, official_hashes = await asyncio.to_thread(official)

    summaries = msgspec.json.decode(batch.content, type=list[OrderBookSummary])
    assert [summary.asset_id for summary in summaries] == tokens
    assert [summary["asset_id"] for summary in every] == list(replay.books)
    for summary in [one, *summaries]:
        assert levels_of_summary(summary) == levels_of_book(replay.books[summary.asset_id])
        assert book_hash_matches(summary)
        assert summary.tick_size == replay.books[summary.asset_id].tick_size.text
    # The official client reads the same books and computes the same hashes from them.
    assert book["hash"] == one.hash and book["bids"] == [
        {"price": level.price, "size": level.size} for level in one.bids
    ]
    assert [summary["asset_id"] for summary in pair] == tokens[:2]
    assert official_hashes == [one.hash, *(summary.hash for summary in summaries[:2])]
    assert status["done"] is True and status["speed"] == "max" and status["paused"] is False
    assert status["records"] == replay.stats.records and status["event_id"]
    assert [(answer.status_code, answer.json()) for answer in refusals] == [
        (400, {"error": "Invalid token id"}),
        (400, {"error": "Invalid token id"}),
        (400, {"error": "Invalid payload"}),
        (400, {"error": "Payload exceeds the limit"}),
        (404, {"error": "Not Found"}),
    ]


async def test_a_subscriber_gets_the_replayed_books_at_the_start_and_hostile_sockets_are_closed(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    sink, tokens, calm_ns = await _record_tape(emulator_factory, tmp_path)
    before_start = Replay(sink, end_wall_ns=calm_ns)
    await before_start.run()
    async with ReplayServer(sink, start_wall_ns=calm_ns, paused=True) as server:
        url = server.urls["ws_market"]
        async with websockets.connect(url) as ws:
            await ws.send("not json")
            await ws.send(json.dumps({"assets_ids": [*tokens, "12345"], "type": "market"}))
            books = msgspec.json.decode(await ws.recv(), type=list[BookMessage])
            await ws.send("PING")
            assert await ws.recv() == "PONG"
        # One book per token the tape has shown (the unknown one gets none), each hashed as the venue does.
        assert sorted(book.asset_id for book in books) == sorted(tokens)
        for book in books:
            assert book_hash_matches(book)
            assert levels_of_summary(book) == levels_of_book(before_start.books[book.asset_id])
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send("x" * (2 * 1024 * 1024))
            with pytest.raises(websockets.ConnectionClosed) as too_big:
                await ws.recv()
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"assets_ids": [str(n) for n in range(1, 5_002)], "type": "market"}))
            with pytest.raises(websockets.ConnectionClosed) as too_many:
                await ws.recv()
        async with httpx.AsyncClient() as http:
            status = (await http.get(server.urls["status"])).json()
    assert too_big.value.rcvd is not None and too_big.value.rcvd.code == 1009
    assert too_many.value.rcvd is not None and too_many.value.rcvd.code == 1008
    assert status["invalid_client_messages"] == 1 and status["paused"] is True and status["done"] is False
