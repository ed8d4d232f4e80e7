"""``polyinfra live`` as a real process against the emulator's RTDS and PolyBolt sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from polyinfra.cli.options import API_KEY_ENV, API_PASSPHRASE_ENV, API_SECRET_ENV
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


async def test_live_crypto_prices_come_over_polybolt_with_credentials(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = emulator.accounts.create("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", 0)
    assert key is not None
    monkeypatch.setenv(API_KEY_ENV, key.api_key)
    monkeypatch.setenv(API_SECRET_ENV, key.credentials.secret.reveal())
    monkeypatch.setenv(API_PASSPHRASE_ENV, key.credentials.passphrase.reveal())
    process = await start_polyinfra(
        "live",
        "--rtds",
        emulator.urls["rtds"],
        "--polybolt",
        emulator.urls["polybolt"],
        "--crypto",
        "btcusd",
        "--jsonl",
    )
    lines = await _lines_until(process, 1, emulator)  # the snapshot
    assert lines[0]["symbol"] == "btcusd"
    assert emulator.polybolt.stats.auths_accepted == 1
    assert emulator.rtds.stats.most_subscriptions == 0


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
