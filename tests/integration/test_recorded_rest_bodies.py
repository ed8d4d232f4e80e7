"""The recorder keeps every ``POST /books`` answer a book sync used exactly as it arrived, and replay
parses those bytes again. The venue's answers reach LiveBooks through a proxy that re-formats them
as valid but unusual JSON (indented, keys in reverse order, summaries in reverse order, a field no
wire type knows): a copy re-encoded from the decoded answer would differ from them byte for byte."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiohttp import web

from polyinfra.clob.live_books import LiveBooks
from polyinfra.clob.rest import ClobRestClient
from polyinfra.clob.rest_endpoints import BOOKS_PER_REQUEST
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError
from polyinfra.record.recorder import Recorder
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.clob_rest import OrderBookSummary
from tests.integration.book_comparison import levels_of_book
from tests.integration.conftest import EmulatorFactory
from tests.integration.recording_steps import HANG_GUARD_S, until
from tests.integration.test_live_books_chaos import FAST_CLIENT


def _oddly_formatted(body: bytes) -> bytes:
    """The same answer as other valid JSON: what a venue's serializer change could send."""
    summaries = json.loads(body)
    reordered = [
        dict(reversed(list(summary.items()))) | {"unmodelled_field": [1, {"a": None}]} for summary in summaries
    ]
    return (json.dumps(reordered[::-1], indent=3) + "\n").encode()


class _ReformattingProxy:
    """Forwards every request to the emulator's REST API; ``POST /books`` answers come back
    re-formatted, and each body it sent is kept in :attr:`books_bodies`."""

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream
        self.books_bodies: list[bytes] = []
        self.url = ""

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as self._session:
            try:
                yield
            finally:
                await runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        headers = {name: value for name, value in request.headers.items() if name.lower() in ("content-type", "accept")}
        async with self._session.request(
            request.method, self._upstream + request.rel_url.path_qs, data=await request.read(), headers=headers
        ) as answer:
            body = await answer.read()
            if request.method == "POST" and request.path == "/books" and answer.status == 200:
                body = _oddly_formatted(body)
                self.books_bodies.append(body)
            return web.Response(status=answer.status, body=body, content_type=answer.content_type)


@pytest.fixture
async def proxy(emulator_factory: EmulatorFactory) -> AsyncIterator[tuple[Emulator, _ReformattingProxy]]:
    emulator = await emulator_factory(markets=2, seed=41, rate=120.0)
    reformatting = _ReformattingProxy(emulator.urls["rest"])
    async with reformatting.running():
        yield emulator, reformatting


async def test_books_answer_is_the_body_as_received(proxy: tuple[Emulator, _ReformattingProxy]) -> None:
    emulator, reformatting = proxy
    tokens = list(emulator.exchange.tokens())
    async with ClobRestClient(reformatting.url) as rest:
        summaries, body = await rest.get_books_answer(tokens)
        with pytest.raises(InvalidValueError):
            # More than one request would answer: no single body to keep.
            await rest.get_books_answer([str(10**70 + n) for n in range(BOOKS_PER_REQUEST + 1)])
    assert body == reformatting.books_bodies[-1]
    assert [summary.asset_id for summary in summaries] == tokens  # in the order asked, as get_books


async def test_recorded_rest_answers_are_the_received_bytes_and_replay_from_them(
    proxy: tuple[Emulator, _ReformattingProxy], tmp_path: Path
) -> None:
    emulator, reformatting = proxy
    tokens = list(emulator.exchange.tokens())
    sink = open_sink(f"sqlite:///{tmp_path / 'tape.db'}")
    recorder = Recorder(sink, checkpoint_interval_s=0.001)
    await recorder.start()
    async with LiveBooks(reformatting.url, emulator.urls["ws_market"], recorder=recorder, **FAST_CLIENT) as books:
        await books.subscribe(tokens)
        assert await books.wait_until_live(timeout_s=HANG_GUARD_S)
        # Frames on top of the snapshots, then a quiet end for the books to settle.
        frames = books.stats.frames
        await until(lambda: books.stats.frames >= frames + 50)
        emulator.pause()
        settled = recorder.stats.checkpoints
        await until(lambda: recorder.stats.checkpoints >= settled + 2 * len(tokens))
        live_books = {token: levels_of_book(books.book(token)) for token in tokens}
    await recorder.stop()

    answers = [record.payload async for record in sink.read(kinds=[RecordKind.REST_RESPONSE])]
    assert answers
    assert all(answer in reformatting.books_bodies for answer in answers)

    replay = Replay(sink)
    stats = await replay.run()
    assert stats.rest_responses == len(answers)
    assert stats.first_divergence is None and stats.checkpoints_matched > 0
    assert {token: levels_of_book(replay.books[token]) for token in tokens} == live_books

    # Tapes from before kept each answer as decoded and encoded again: they replay the same.
    old_tape = open_sink(f"sqlite:///{tmp_path / 'old-tape.db'}")
    await old_tape.write([_as_recorded_before(record) async for record in sink.read()])
    await sink.close()
    old_replay = Replay(old_tape)
    old_stats = await old_replay.run()
    await old_tape.close()
    assert old_stats == stats
    assert {token: levels_of_book(old_replay.books[token]) for token in tokens} == live_books


def _as_recorded_before(record: Record) -> Record:
    if record.kind is not RecordKind.REST_RESPONSE:
        return record
    summaries = msgspec.json.decode(record.payload, type=list[OrderBookSummary])
    return msgspec.structs.replace(record, payload=msgspec.json.encode(summaries))
