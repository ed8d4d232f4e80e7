"""``polyinfra wallets track`` as a real process over the emulator's Data API: the fills of the wallets
it is given, each once, as JSON lines."""

from __future__ import annotations

import json

from polyinfra.emulator.live.rtds_sources import agent_wallet
from tests.integration.cli_steps import run_polyinfra
from tests.integration.conftest import EmulatorFactory


async def test_wallets_track_prints_every_fill_of_the_wallets_once(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=2, crowd_wallets=5)
    for _ in range(60):
        emulator.simulator.step()
        emulator.crowd.step()
    wallets = [agent_wallet(member).lower() for member in emulator.crowd.members]
    expected = {
        row.transaction_hash + row.side.value  # type: ignore[union-attr]
        for wallet in wallets
        for row in emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62)
    }
    assert expected
    code, stdout, stderr = await run_polyinfra(
        "wallets", "track", *wallets, "--data-url", emulator.urls["data"], "--since", "0", "--jsonl", "--duration", "3"
    )
    assert code == 0, stderr
    fills = [line for line in map(json.loads, stdout.splitlines()) if line["type"] == "fill"]
    seen = [fill["transaction_hash"] + fill["side"] for fill in fills]
    assert sorted(seen) == sorted(expected)
