"""Positions and activity of many wallets from the Data API: wall time against the floor the
documented rate limits allow, measured in the same run against the emulator.

Run: ``python bench/wallet_fetch.py [--wallets N] [--concurrency C]``

For each of N wallets (200 by default: the emulator's crowd of N traders, each with its own fills;
the simulator's agents besides them are not fetched) the client fetches ``/positions`` (v1, every page) and
``/v2/activity`` (every page), as two streams of ``C`` requests in flight each, through one
:class:`DataApiClient`, whose limiter keeps every window under the documented budget. Anchors, in the same run:

* **floor**: the least time the documented limits allow for these requests. ``/positions`` allows
  150 per 10 s window, the Data API 1,000 in all: N position requests need
  ``(ceil(N / 150) - 1) * 10 s`` at best, whatever the client (the target is within 1.2x of it);
* **unthrottled**: the same fetch with rate limits off on both sides (what the work itself costs);
* **context**: the best-known library's published figure, 20-40 s per 100 wallets.

The emulator throttles as the venue does (Cloudflare delays what goes over); its ``over_limit``
counter is printed: 0 means no window was ever exceeded.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time

from polyinfra.core.venue_rate_limits import DATA_LIMITS
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator

_POSITIONS_PER_WINDOW = 150
_WINDOW_S = 10.0
_CONTEXT_S_PER_100 = (20.0, 40.0)


async def _fetch_all(url: str, wallets: list[str], concurrency: int, *, limited: bool) -> float:
    rate_limits = DATA_LIMITS if limited else DATA_LIMITS.scaled(1_000)
    # Positions and activity go as two streams: while /positions waits for its next window, the
    # activity requests (under the general budget only) keep going.
    positions_gate, activity_gate = asyncio.Semaphore(concurrency), asyncio.Semaphore(concurrency)
    async with DataApiClient(url, rate_limits=rate_limits) as client:

        async def positions(wallet: str) -> None:
            async with positions_gate:
                await client.positions(wallet)

        async def activity(wallet: str) -> None:
            async with activity_gate:
                await client.activity_v2(wallet, start_s=0)

        started = time.perf_counter()
        await asyncio.gather(*(positions(wallet) for wallet in wallets), *(activity(wallet) for wallet in wallets))
        return time.perf_counter() - started


async def main(count: int, concurrency: int) -> None:
    async with Emulator(markets=5, seed=7, rate=0, crowd_wallets=count) as emulator:
        for _ in range(5 * count):
            emulator.simulator.step()
            emulator.crowd.step()
        wallets = [agent_wallet(member) for member in emulator.crowd.members]
        fills = sum(len(emulator.data_apis.ledger.rows_of(wallet, until_ms=2**62)) for wallet in wallets)
        url = emulator.urls["data"]

        emulator.faults.rate_limits = RateLimitMode.OFF
        unthrottled_s = await _fetch_all(url, wallets, concurrency, limited=False)

        emulator.faults.update(FaultConfig().as_dict() | {"rate_limits": RateLimitMode.THROTTLE})
        await asyncio.sleep(_WINDOW_S)  # the unthrottled run's requests leave the emulator's windows
        before = emulator.data_apis.stats()["data"]["over_limit"]  # type: ignore[index]
        limited_s = await _fetch_all(url, wallets, concurrency, limited=True)
        over_limit = emulator.data_apis.stats()["data"]["over_limit"]  # type: ignore[index]

    floor_s = (math.ceil(count / _POSITIONS_PER_WINDOW) - 1) * _WINDOW_S
    low, high = (per_100 * count / 100 for per_100 in _CONTEXT_S_PER_100)
    print(f"wallets {count} ({fills:,} fills), requests {2 * count} (positions + activity), concurrency {concurrency}")
    print(f"unthrottled (anchor, limits off)   {unthrottled_s:8.2f} s")
    print(f"floor of the documented limits     {floor_s:8.2f} s")
    print(f"polyinfra, under the limits        {limited_s:8.2f} s")
    if floor_s:
        print(f"  ratio to the floor                {limited_s / floor_s:8.2f}x (target <= 1.2x)")
    print(f"  ratio to floor + unthrottled      {limited_s / (floor_s + unthrottled_s):8.2f}x")
    print(f"  over_limit at the emulator        {over_limit - before:8d} (0: no window exceeded)")
    print(
        f"context: best-known library        {low:.0f}-{high:.0f} s for {count} wallets "
        f"({low / limited_s:.1f}-{high / limited_s:.1f}x slower)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.wallets, arguments.concurrency))
