"""``polyinfra live`` as a real process against the emulator's RTDS socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.runner import Emulator
from tests.integration.cli_steps import WAIT_S, run_polyinfra, start_polyinfra


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=2, seed=5, rate=0) as running:
        yield running


async def _lines_until(process: asyncio.subprocess.Process, wanted: int, emulator: Emulator) -> list[dict[str, object]]:
    """JSON lines of ``process`` until ``wanted`` arrived, stepping the simulator meanwhile."""
    assert process.stdout is not None
    lines: list[dict[str, object]] = []

    async def read() -> None:
        while len(lines) < wanted:
            line = await process.stdout.readline()  # type: ignore[union-attr]
            assert line, "polyinfra live ended early"
            lines.append(json.loads(line))

    reader = asyncio.create_task(read())
    try:
        async with asyncio.timeout(WAIT_S):
            while not reader.done():
                emulator.simulator.step()
                await asyncio.sleep(0.01)
        await reader
    finally:
        process.kill()
        await process.wait()
    return lines


async def test_live_activity_of_one_wallet_as_json_lines(emulator: Emulator) -> None:
    wallet = agent_wallet("sim-taker-1")
    process = await start_polyinfra(
        "live", "--rtds", emulator.urls["rtds"], "--topic", "activity:trades", "--wallet", wallet, "--jsonl"
    )
    lines = await _lines_until(process, 3, emulator)
    assert {line["type"] for line in lines} == {"trade"}
    assert {line["wallet"] for line in lines} == {wallet.lower()}
    assert all(isinstance(line["price"], str) and isinstance(line["size"], str) for line in lines)


async def test_live_crypto_prices_as_json_lines(emulator: Emulator) -> None:
    process = await start_polyinfra("live", "--rtds", emulator.urls["rtds"], "--crypto", "btcusd,ETH/USD", "--jsonl")
    lines = await _lines_until(process, 2, emulator)  # the backfill of each symbol
    assert {line["symbol"] for line in lines} == {"btcusd", "ethusd"}
    assert {line["source"] for line in lines} == {"crypto_prices"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--topic", "clob_market"], "market channel"),
        (["--crypto", "btc,eth"], "USD"),
        (["--topic", "activity", "--crypto", "btcusd"], "one of"),
    ],
)
async def test_bad_requests_are_one_line_and_exit_code_2(
    emulator: Emulator, arguments: list[str], message: str
) -> None:
    code, _, stderr = await run_polyinfra("live", "--rtds", emulator.urls["rtds"], *arguments)
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1
