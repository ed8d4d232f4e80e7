"""``polyinfra emulator`` as a real process: one JSON line of URLs on stdout, serves, stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from typer.testing import CliRunner

from polyinfra.cli.main import app
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.us.client import UsExchangeClient
from tests.integration.cli_steps import start_polyinfra

WAIT_S = 60.0


async def _start(*arguments: str) -> asyncio.subprocess.Process:
    return await start_polyinfra("emulator", "--port", "0", *arguments)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_emulator_prints_its_urls_serves_and_stops_cleanly(stop_signal: signal.Signals) -> None:
    process = await _start("--markets", "2", "--rate", "50", "--seed", "4")
    try:
        assert process.stdout is not None and process.stderr is not None
        line = await asyncio.wait_for(process.stdout.readline(), WAIT_S)
        urls = json.loads(line)
        assert list(urls) == [
            "rest",
            "ws_market",
            "ws_user",
            "rtds",
            "polybolt",
            "us_token",
            "grpc",
            "gamma",
            "data",
            "rpc",
            "relayer",
        ]
        port = urls["rest"].rsplit(":", 1)[1]
        grpc_port = urls["grpc"].rsplit(":", 1)[1]
        assert urls == {
            "rest": f"http://127.0.0.1:{port}",
            "ws_market": f"ws://127.0.0.1:{port}/ws/market",
            "ws_user": f"ws://127.0.0.1:{port}/ws/user",
            "rtds": f"ws://127.0.0.1:{port}/ws/rtds",
            "polybolt": f"ws://127.0.0.1:{port}/ws/polybolt",
            "us_token": f"http://127.0.0.1:{port}/oauth/token",
            "grpc": f"127.0.0.1:{grpc_port}",
            "gamma": f"http://127.0.0.1:{port}/gamma",
            "data": f"http://127.0.0.1:{port}/data-api",
            "rpc": f"http://127.0.0.1:{port}/rpc",
            "relayer": f"http://127.0.0.1:{port}/relayer",
        }
        async with UsExchangeClient(urls["grpc"], insecure=True, timeout_s=WAIT_S) as us_exchange:
            assert await us_exchange.health() == "ok"
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            ok = await http.get(urls["rest"] + "/ok")
            assert (ok.status_code, ok.json()) == (200, "OK")
            events = await http.get(urls["gamma"] + "/events")
            assert events.status_code == 200 and events.json()[0]["markets"]
            board = await http.get(urls["data"] + "/v2/leaderboard")
            assert board.status_code == 200 and "pagination" in board.json()
        async with websockets.connect(urls["ws_market"]) as ws:
            await ws.send("PING")
            assert await asyncio.wait_for(ws.recv(), WAIT_S) == "PONG"
        async with websockets.connect(urls["rtds"]) as ws:
            await ws.send("PING")
            assert await asyncio.wait_for(ws.recv(), WAIT_S) == ""  # the venue's answer to PING, and its greeting

        process.send_signal(stop_signal)
        rest_of_stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert rest_of_stdout == b"", "stdout holds exactly one line"
    assert b"Traceback" not in stderr


@contextlib.asynccontextmanager
async def _serving(*arguments: str) -> AsyncIterator[dict[str, str]]:
    """The emulator started with ``arguments``: its URLs while the body runs, then stopped by SIGTERM,
    which it must exit cleanly from."""
    process = await _start(*arguments)
    try:
        assert process.stdout is not None
        yield json.loads(await asyncio.wait_for(process.stdout.readline(), WAIT_S))
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0


async def test_fault_flags_reach_the_emulator() -> None:
    async with (
        _serving("--rate", "0", "--http-429-rate", "1", "--retry-after-s", "3", "--freeze") as urls,
        httpx.AsyncClient(base_url=urls["rest"], timeout=WAIT_S) as http,
    ):
        limited = await http.get("/ok")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
        faults = (await http.get("/_emulator/faults")).json()
        assert (faults["http_429_rate"], faults["freeze"]) == (1.0, True)


async def test_invalid_fault_flag_is_a_usage_error() -> None:
    process = await _start("--drop-rate", "1.5")
    stdout, stderr = await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode == 2
    assert stdout == b""
    assert b"probability" in stderr


async def test_us_markets_lists_that_many_more_symbols_and_is_validated() -> None:
    async with (
        _serving("--rate", "0", "--us-markets", "1000") as urls,
        UsExchangeClient(urls["grpc"], insecure=True, timeout_s=WAIT_S) as us_exchange,
    ):
        symbols = await us_exchange.symbols()
    generated = [symbol for symbol in symbols if "-sim-" in symbol]
    assert len(generated) == 1000 and len(symbols) == 1000 + len(US_INSTRUMENTS)
    for wrong in ("-1", "10001", "many"):
        refused = CliRunner().invoke(app, ["emulator", "--port", "0", "--us-markets", wrong])
        assert refused.exit_code == 2 and "--us-markets" in refused.output, refused.output
