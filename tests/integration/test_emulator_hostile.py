"""The emulator under hostile clients: what its sockets do with bad messages, how it logs a client
that goes away mid-request, and that a trading request is authenticated before its body is read.

The WebSocket cases speak RFC 6455 over a raw socket, so a test can send what no client library
will: unmasked frames, invalid UTF-8 in a text frame, frames over the size limit.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import msgspec
import pytest

from polyinfra.emulator.market_channel import MAX_CLIENT_FRAME_BYTES, MAX_IDS_PER_MESSAGE, MAX_IDS_PER_SOCKET
from polyinfra.emulator.masked_frames import MaskedFrameScanner
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.server import MAX_BODY_BYTES
from tests.integration.conftest import EmulatorFactory

WAIT_S = 30.0
_TEXT, _CLOSE, _PING = 0x1, 0x8, 0x9
_PROTOCOL_ERROR, _INVALID_DATA, _POLICY_VIOLATION, _MESSAGE_TOO_BIG = 1002, 1007, 1008, 1009


@dataclass(frozen=True, slots=True)
class _Frame:
    opcode: int
    payload: bytes

    @property
    def close_code(self) -> int:
        assert self.opcode == _CLOSE, self
        return int(struct.unpack("!H", self.payload[:2])[0])


class _RawSocket:
    """A WebSocket client over a bare TCP stream: every byte it sends is the test's choice."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send(self, payload: bytes, *, opcode: int = _TEXT, masked: bool = True) -> None:
        self._writer.write(_frame(payload, opcode=opcode, masked=masked))
        await self._writer.drain()

    async def receive(self) -> _Frame:
        async with asyncio.timeout(WAIT_S):
            first, second = await self._reader.readexactly(2)
            length = second & 0x7F
            if length == 126:
                length = int.from_bytes(await self._reader.readexactly(2))
            elif length == 127:
                length = int.from_bytes(await self._reader.readexactly(8))
            return _Frame(first & 0x0F, await self._reader.readexactly(length))

    async def receive_text(self) -> bytes:
        frame = await self.receive()
        assert frame.opcode == _TEXT, frame
        return frame.payload

    async def barrier(self) -> None:
        """PING and wait for its PONG: everything sent before it has been handled."""
        await self.send(b"PING")
        while (payload := await self.receive_text()) != b"PONG":
            assert payload.startswith((b"[", b"{")), payload


def _frame(payload: bytes, *, opcode: int, masked: bool) -> bytes:
    header = bytes([0x80 | opcode])
    mask_bit = 0x80 if masked else 0
    if len(payload) < 126:
        header += bytes([mask_bit | len(payload)])
    elif len(payload) < 1 << 16:
        header += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
    if not masked:
        return header + payload
    mask = os.urandom(4)
    return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))


@asynccontextmanager
async def _raw_socket(emulator: Emulator, path: str) -> AsyncIterator[_RawSocket]:
    reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    async with asyncio.timeout(WAIT_S):
        handshake = await reader.readuntil(b"\r\n\r\n")
    assert handshake.startswith(b"HTTP/1.1 101"), handshake
    try:
        yield _RawSocket(reader, writer)
    finally:
        writer.close()


def _subscribe(assets: list[str], **extra: object) -> bytes:
    return msgspec.json.encode({"assets_ids": assets, "type": "market", **extra})


# --- hostile messages ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ws/market", "/ws/user"])
@pytest.mark.parametrize(
    "message",
    [
        b"[" * 50_000,
        b'{"assets_ids": ' + b"[" * 5_000 + b"]" * 5_000 + b', "type": "market"}',
        b'{"markets": ' + b"[" * 5_000 + b"]" * 5_000 + b', "type": "user"}',
        b'{"assets_ids": "1", "type": "market"}',
        b'{"assets_ids": [1e999999], "type": "market"}',
        b'{"auth": {"apiKey": 7}, "type": "user"}',
        b"1" * 20_000,
    ],
)
async def test_a_malformed_message_is_ignored_and_the_socket_serves_on(
    emulator_factory: EmulatorFactory, path: str, message: bytes
) -> None:
    emulator = await emulator_factory()
    channel = emulator.stats.market_channel if path == "/ws/market" else emulator.stats.user_channel
    async with _raw_socket(emulator, path) as socket:
        await socket.send(message)
        await socket.barrier()
    assert channel.invalid_client_messages == 1


@pytest.mark.parametrize("path", ["/ws/market", "/ws/user"])
async def test_invalid_utf8_text_closes_with_1007(emulator_factory: EmulatorFactory, path: str) -> None:
    emulator = await emulator_factory()
    async with _raw_socket(emulator, path) as socket:
        await socket.send(b'{"assets_ids": ["\xff\xfe"], "type": "market"}')
        assert (await socket.receive()).close_code == _INVALID_DATA
    await _still_serves(emulator)


async def test_a_frame_over_the_limit_closes_with_1009(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with _raw_socket(emulator, "/ws/market") as socket:
        await socket.send(b" " * (MAX_CLIENT_FRAME_BYTES + 1))
        assert (await socket.receive()).close_code == _MESSAGE_TOO_BIG
    await _still_serves(emulator)


# --- subscription limits -------------------------------------------------------------------------


async def test_a_message_naming_too_many_ids_closes_the_socket(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with _raw_socket(emulator, "/ws/market") as socket:
        await socket.send(_subscribe([str(number) for number in range(MAX_IDS_PER_MESSAGE + 1)]))
        assert (await socket.receive()).close_code == _POLICY_VIOLATION
    assert emulator.stats.market_channel.closed_over_limit == 1


async def test_a_socket_subscribed_to_too_many_ids_is_closed(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    token = emulator.exchange.tokens()[0]
    per_message = MAX_IDS_PER_SOCKET // 2
    async with _raw_socket(emulator, "/ws/market") as socket:
        # A full socket still works: its real token's book comes in the first dump.
        await socket.send(_subscribe([token, *(f"bogus-{number}" for number in range(per_message - 1))]))
        assert msgspec.json.decode(await socket.receive_text())[0]["asset_id"] == token
        await socket.send(_subscribe([f"more-{number}" for number in range(per_message)], operation="subscribe"))
        await socket.barrier()
        await socket.send(_subscribe(["one-too-many"], operation="subscribe"))
        assert (await socket.receive()).close_code == _POLICY_VIOLATION
    assert emulator.stats.market_channel.closed_over_limit == 1


async def test_user_channel_markets_are_capped_per_message(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    markets = [f"0x{number:064x}" for number in range(MAX_IDS_PER_MESSAGE + 1)]
    async with _raw_socket(emulator, "/ws/user") as socket:
        await socket.send(msgspec.json.encode({"type": "user", "markets": markets}))
        assert (await socket.receive()).close_code == _POLICY_VIOLATION
    assert emulator.stats.user_channel.closed_over_limit == 1


# --- masking (RFC 6455 §5.1) ---------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [_TEXT, _PING])
async def test_an_unmasked_client_frame_closes_with_1002(emulator_factory: EmulatorFactory, opcode: int) -> None:
    emulator = await emulator_factory()
    async with _raw_socket(emulator, "/ws/market") as socket:
        await socket.barrier()
        await socket.send(b"PING", opcode=opcode, masked=False)
        assert (await socket.receive()).close_code == _PROTOCOL_ERROR
    await _still_serves(emulator)


def test_the_scanner_finds_the_first_unmasked_frame_across_chunks() -> None:
    masked = _frame(b"x" * 70_000, opcode=_TEXT, masked=True) + _frame(b"PING", opcode=_TEXT, masked=True)
    stream = masked + _frame(b"PING", opcode=_TEXT, masked=False)
    scanner = MaskedFrameScanner()
    chunks = [stream[start : start + 7] for start in range(0, len(stream), 7)]
    found = next((index, at) for index, chunk in enumerate(chunks) if (at := scanner.first_unmasked(chunk)) is not None)
    assert found == divmod(len(masked), 7)


# --- aborted requests ----------------------------------------------------------------------------


async def test_a_client_gone_mid_body_is_a_debug_line(
    emulator_factory: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = await emulator_factory()
    caplog.set_level(logging.DEBUG)
    _, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
    writer.write(b"POST /books HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n[{")
    await writer.drain()
    # Once the route is reading the body, the client goes away.
    async with asyncio.timeout(WAIT_S):
        while emulator.stats.http.requests == 0:
            await asyncio.sleep(0.01)
    writer.transport.abort()
    async with asyncio.timeout(WAIT_S):
        while not any("went away" in record.getMessage() for record in caplog.records):
            assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
            await asyncio.sleep(0.01)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    await _still_serves(emulator)


async def test_aiohttp_refusals_answer_in_the_venue_shape(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        too_large = await http.post("/books", content=b" " * (MAX_BODY_BYTES + 1))
        assert (too_large.status_code, too_large.json()) == (413, {"error": "Request Entity Too Large"})
        unknown = await http.get("/no-such-route")
        assert (unknown.status_code, unknown.json()) == (404, {"error": "Not Found"})
        wrong_method = await http.put("/books")
        assert (wrong_method.status_code, wrong_method.json()) == (405, {"error": "Method Not Allowed"})
        assert "POST" in wrong_method.headers["Allow"]
        not_upgraded = await http.get("/ws/market")
        assert (not_upgraded.status_code, not_upgraded.json()) == (400, {"error": "Bad Request"})


# --- authentication before decoding --------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("POST", "/orders"), ("DELETE", "/orders"), ("POST", "/order")])
async def test_a_stranger_is_refused_before_the_body_is_read(
    emulator_factory: EmulatorFactory, method: str, path: str
) -> None:
    emulator = await emulator_factory()
    signer = "0x" + "12" * 20
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        for body in (b"[" * 50_000, b"[" + b'"0x01",' * 60 + b'"0x01"]'):
            answer = await http.request(method, path, content=body, headers={"POLY_ADDRESS": signer})
            assert (answer.status_code, answer.json()) == (401, {"error": "Unauthorized/Invalid api key"})
        # The signer's buckets were never charged: the requests proved no right to them.
        stats = (await http.get("/_emulator/stats")).json()["signer_rate_limits"]
        assert (stats["requests"], stats["signers"]) == (0, {})


async def _still_serves(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        assert (await http.get("/ok")).status_code == 200
