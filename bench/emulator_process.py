"""The emulator in a process of its own, for benchmarks that measure a client's CPU or latency.

On a 2-core machine an in-process emulator would share the client's event loop and core, and its
simulator, hashing and sending would be charged to the client. Here it gets the other core:

    async with EmulatorProcess(markets=50, rate=200.0, record_sends=True) as emulator:
        emulator.urls["ws_market"], emulator.tokens
        await emulator.resume()                    # it starts paused
        sends = await emulator.take_sends()        # [(time.time_ns(), frame bytes), ...]

With ``record_sends`` every WebSocket frame the emulator hands to a socket is recorded with the
wall-clock time just before it is written: ``time.time_ns()`` reads the same clock in every process
of the machine, so the parent can compare it with the times its own clients receive frames at.

Run directly, this module is that child process: it prints the emulator's URLs and token ids as
one JSON line once listening, then answers each line of stdin (a file path) by writing the frames
sent since the previous request there (msgpack) and printing ``ok``; it stops when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import msgspec
from aiohttp import WSMsgType, web

from polyinfra.emulator.runner import Emulator

Sends = list[tuple[int, bytes]]
"""Frames in the order the emulator wrote them: (``time.time_ns()`` just before, payload)."""


class EmulatorProcess:
    """Start with ``async with``; the emulator is paused until :meth:`resume`."""

    def __init__(self, *, markets: int, rate: float, seed: int = 1, record_sends: bool = False) -> None:
        self._arguments = ["--markets", str(markets), "--rate", str(rate), "--seed", str(seed)]
        if record_sends:
            self._arguments.append("--record-sends")
        self._process: asyncio.subprocess.Process | None = None
        self._http: httpx.AsyncClient | None = None
        self.urls: dict[str, str] = {}
        self.tokens: list[str] = []

    async def __aenter__(self) -> Self:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            *self._arguments,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # A dump of thousands of books is one line.
            limit=1 << 26,
        )
        ready = json.loads(await self._read_line())
        self.tokens = ready.pop("tokens")
        self.urls = ready
        self._http = httpx.AsyncClient(base_url=self.urls["rest"], timeout=30.0)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            await self._process.wait()

    async def pause(self) -> None:
        await self._control("POST", "/_emulator/pause")

    async def resume(self) -> None:
        await self._control("POST", "/_emulator/resume")

    async def stats(self) -> dict[str, dict[str, object]]:
        """``GET /_emulator/stats``: its counters, and under ``simulator`` the steps taken."""
        return await self._control("GET", "/_emulator/stats")

    async def take_sends(self) -> Sends:
        """The frames recorded since the previous call (only with ``record_sends``)."""
        assert self._process is not None and self._process.stdin is not None
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "sends.msgpack"
            self._process.stdin.write(f"{path}\n".encode())
            await self._process.stdin.drain()
            assert await self._read_line() == "ok"
            return [(sent_ns, frame) for sent_ns, frame in msgspec.msgpack.decode(path.read_bytes())]

    async def _control(self, method: str, path: str) -> dict[str, dict[str, object]]:
        assert self._http is not None
        response = await self._http.request(method, path)
        response.raise_for_status()
        return response.json()

    async def _read_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process ended")
        return line.decode().strip()


def _record_sends_into(sends: Sends) -> None:
    """Wrap aiohttp's ``send_frame``, which the emulator's channels write every frame through."""
    send_frame = web.WebSocketResponse.send_frame

    async def recorded_send_frame(
        self: web.WebSocketResponse, message: bytes, opcode: WSMsgType, compress: int | None = None
    ) -> None:
        sends.append((time.time_ns(), message))
        await send_frame(self, message, opcode, compress)

    web.WebSocketResponse.send_frame = recorded_send_frame  # type: ignore[method-assign]


async def _serve(markets: int, rate: float, seed: int, record_sends: bool) -> None:
    sends: Sends = []
    if record_sends:
        _record_sends_into(sends)
    loop = asyncio.get_running_loop()
    async with Emulator(markets=markets, seed=seed, rate=rate) as emulator:
        emulator.pause()  # before the driver's first step: the parent decides when trading starts
        print(json.dumps({**emulator.urls, "tokens": emulator.exchange.tokens()}), flush=True)
        while path := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            taken, sends[:] = list(sends), []
            Path(path).write_bytes(msgspec.msgpack.encode(taken))
            print("ok", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--record-sends", action="store_true")
    args = parser.parse_args()
    asyncio.run(_serve(args.markets, args.rate, args.seed, args.record_sends))


if __name__ == "__main__":
    main()
