"""The seam end to end: :class:`WalletWatch` paging through :class:`DataApiClient` over real sockets from the
emulator's Data API, whose rows come from the crowd's real fills: every fill of every wallet exactly once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.model.wallet_activity import WalletActivity
from polyinfra.wallets.watch import WalletWatch


async def test_the_watch_over_the_data_api_client_delivers_every_fill_once() -> None:
    async with Emulator(markets=3, seed=4, rate=0, crowd_wallets=50) as emulator:
        for _ in range(300):
            emulator.simulator.step()
            emulator.crowd.step()
        wallets = [agent_wallet(member).lower() for member in emulator.crowd.members]
        ledger = emulator.data_apis.ledger
        expected = Counter(
            {
                wallet: len(ledger.rows_of(wallet, until_ms=2**62))
                for wallet in wallets
                if ledger.rows_of(wallet, until_ms=2**62)
            }
        )
        total = sum(expected.values())
        delivered: Counter[str] = Counter()
        keys: set[tuple[object, ...]] = set()
        # Trading has stopped: a clock past the lag allowance lets every page vouch for all rows.
        async with (
            DataApiClient(emulator.urls["data"], clock_s=lambda: time.time() + 20) as data,
            WalletWatch(data, wallets, budget_rps=500, since_s=0) as watch,
        ):

            async def consume() -> None:
                async for event in watch:
                    assert isinstance(event, WalletActivity), event
                    delivered[event.wallet] += 1
                    keys.add((event.key, event.side, event.token_id))
                    if sum(delivered.values()) == total:
                        return

            await asyncio.wait_for(consume(), 60)
        assert delivered == expected and len(keys) == total
