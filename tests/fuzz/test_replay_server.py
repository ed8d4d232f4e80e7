"""The replay server under hostile input: hostile frames on the tape itself, and hostile requests over
real sockets (``POST /books`` bodies, ``GET /book`` queries, market-channel messages). A tape frame
is served or refused (counted), never a crash; a request gets a 4xx in the venue's ``{"error": ...}``
shape or a valid answer, and the server keeps serving a normal request after it."""

from __future__ import annotations

import asyncio
import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from polyinfra.core.book_hash import book_hash_matches
from polyinfra.record.records import RecordKind
from polyinfra.record.replay import Replay
from polyinfra.record.replay_server import ReplayServer
from polyinfra.record.served_tape import ServedTape
from polyinfra.record.sink import Sink
from polyinfra.record.sink_urls import open_sink
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import BookMessage
from tests.fuzz.hostile import hostile_bytes, invalid_utf8, wrong_json_values
from tests.record.synthetic_tape import TOKENS, books_frame, price_change, synthetic_tape, tape_record

_SERVER_ERROR = 500
_TAPE = synthetic_tape()
_encode = msgspec.json.Encoder().encode


async def _tape_sink(path: Path) -> Sink:
    sink = open_sink(f"sqlite:///{path}")
    await sink.write(_TAPE)
    return sink


@pytest.fixture(scope="module")
def unread_sink(tmp_path_factory: pytest.TempPathFactory) -> Sink:
    # ServedTape.apply never reads the sink: any sink does.
    return open_sink(f"sqlite:///{tmp_path_factory.mktemp('unread') / 'unread.db'}")


@given(frame=hostile_bytes(msgspec.json.decode(books_frame()), msgspec.to_builtins(price_change())))
def test_a_hostile_frame_on_the_tape_is_served_or_counted(frame: bytes, unread_sink: Sink) -> None:
    tape = ServedTape(Replay(unread_sink))
    for record in _TAPE:
        tape.apply(record)
    served, resnapshotted = tape.apply(tape_record(3, RecordKind.FRAME_RECEIVED, frame))
    assert resnapshotted == []
    assert tape.frames_not_served <= 1
    if served is not None:
        # What is served is JSON the venue could have sent: the recorded frame, or the part of it served.
        assert served.events and tape.frames_not_served == 0
        msgspec.json.decode(served.payload)
    for token in TOKENS:
        if tape.known(token):
            assert book_hash_matches(tape.summary(token))


@dataclass(frozen=True, slots=True)
class _Running:
    server: ReplayServer
    loop: asyncio.AbstractEventLoop
    port: int


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Running]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="replay server under fuzz", daemon=True)
    thread.start()

    async def start() -> ReplayServer:
        sink = await _tape_sink(tmp_path_factory.mktemp("tape") / "tape.db")
        server = ReplayServer(sink)
        await server.start()
        await server.wait_done()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    port = int(server.urls["rest"].rpartition(":")[2])
    yield _Running(server, loop, port)
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=60)
    loop.close()


def _request(running: _Running, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
    try:
        connection.request(method, target, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _assert_venue_answer(status: int, body: bytes) -> None:
    assert status < _SERVER_ERROR, body
    document = msgspec.json.decode(body)
    if status >= http.HTTPStatus.BAD_REQUEST:
        assert isinstance(document, dict) and isinstance(document.get("error"), str), document


def _assert_still_serving(running: _Running) -> None:
    status, body = _request(running, "GET", f"/book?token_id={TOKENS[0]}")
    assert status == http.HTTPStatus.OK
    assert book_hash_matches(msgspec.json.decode(body, type=OrderBookSummary))


_BATCH = [{"token_id": token} for token in TOKENS]


@given(body=hostile_bytes(_BATCH, [{"token_id": wrong} for wrong in ("", "12a", "9" * 100)]))
def test_hostile_books_bodies(running: _Running, body: bytes) -> None:
    _assert_venue_answer(*_request(running, "POST", "/books", body))
    _assert_still_serving(running)


@given(token=st.one_of(st.text(max_size=200), st.sampled_from(["", "0", "-1", "9" * 79, "1e5", TOKENS[1]])))
def test_hostile_book_queries(running: _Running, token: str) -> None:
    _assert_venue_answer(*_request(running, "GET", "/book?" + urllib.parse.urlencode({"token_id": token})))
    _assert_still_serving(running)


_SUBSCRIBE = {"assets_ids": list(TOKENS), "type": "market"}


def _hostile_messages() -> st.SearchStrategy[Any]:
    texts = hostile_bytes(_SUBSCRIBE, {"operation": "unsubscribe", "assets_ids": [TOKENS[0]]})
    as_text = texts.map(lambda raw: raw.decode("utf-8", "replace"))
    return st.one_of(as_text, invalid_utf8(), wrong_json_values().map(_encode))


@given(message=_hostile_messages())
def test_hostile_market_channel_messages(running: _Running, message: str | bytes) -> None:
    url = f"ws://127.0.0.1:{running.port}/ws/market"
    with connect(url, open_timeout=60, close_timeout=5) as ws:
        try:
            ws.send(message)
            # Then, on the same socket if it is still open, a valid subscription gets its books.
            ws.send(msgspec.json.encode(_SUBSCRIBE).decode())
            ws.send("PING")
            answers = []
            while (answer := ws.recv(timeout=60)) != "PONG":
                answers.append(answer)
        except ConnectionClosed:
            answers = []  # a message over the limits closes the socket: the venue's answer
    for answer in answers:
        books = msgspec.json.decode(answer, type=list[BookMessage])
        assert {book.asset_id for book in books} <= set(TOKENS) and all(book_hash_matches(book) for book in books)
    with connect(url, open_timeout=60, close_timeout=5) as ws:
        ws.send(msgspec.json.encode(_SUBSCRIBE).decode())
        books = msgspec.json.decode(ws.recv(timeout=60), type=list[BookMessage])
        assert sorted(book.asset_id for book in books) == sorted(TOKENS)
