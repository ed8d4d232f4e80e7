"""The demo's wallet watch: a :class:`~polyinfra.wallets.watch.WalletWatch` over the embedded emulator's Data
API, following every wallet its leaderboard ranks (each added as it first trades, from its first second).

When the demo ends, trading has stopped; the watch is given a few seconds (bounded) to deliver the last fills,
then its line says how many wallets it tracked, how many fills it delivered and whether that is every fill the
emulator holds for them, each once, the losses, the wallets' continuity, and the busiest wallet's P&L by the
venue's own ``/v2/user-pnl`` series.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from typing import Final

from polyinfra.core.wallet_watch_state import LossEvent, WatchSettings
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import PolyinfraError
from polyinfra.wallets.watch import WalletWatch

__all__ = ["WalletsWatched"]

# The demo runs seconds, not hours: walk each wallet every second or two, under a generous budget.
_SETTINGS: Final = WatchSettings(budget_rps=50.0, min_interval_s=1.0, max_interval_s=2.0)
_BOARD_POLL_S: Final = 1.0
_SETTLE_LIMIT_S: Final = 10.0
_SETTLE_POLL_S: Final = 0.1


class WalletsWatched:
    """Start it inside the running demo; :meth:`line` stops it and says what it saw."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        # The emulator's Data API runs without lag unless asked: nothing to allow for.
        self._client = DataApiClient(emulator.urls["data"], lag_allowance_s=0)
        self._watch = WalletWatch(self._client, [], settings=_SETTINGS, since_s=0)
        self._tracked: set[str] = set()
        self._keys: Counter[tuple[str, ...]] = Counter()
        self._per_wallet: Counter[str] = Counter()
        self._losses = 0
        self._task = asyncio.create_task(self._run(), name="demo wallet watch")

    async def _run(self) -> None:
        async with self._watch:
            consumer = asyncio.create_task(self._consume())
            try:
                while True:
                    with contextlib.suppress(PolyinfraError):  # a missed poll is taken up by the next
                        await self._follow_board()
                    await asyncio.sleep(_BOARD_POLL_S)
            finally:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer

    async def _follow_board(self) -> None:
        for entry in await self._client.leaderboard_v2(time_period="ALL"):
            wallet = entry.proxy_wallet.lower()
            if wallet not in self._tracked:
                self._tracked.add(wallet)
                self._watch.add(wallet, since_s=0)

    async def _consume(self) -> None:
        async for event in self._watch:
            if isinstance(event, LossEvent):
                self._losses += 1
            else:
                self._keys[event.key] += 1
                self._per_wallet[event.wallet] += 1

    def _held(self) -> int:
        """Every fill row the emulator holds for the tracked wallets (its ground truth)."""
        ledger = self._emulator.data_apis.ledger
        return sum(len(ledger.rows_of(wallet, until_ms=2**62)) for wallet in self._tracked)

    async def line(self) -> str:
        """Wait (bounded) for the last fills, stop the watch, and say what it delivered."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + _SETTLE_LIMIT_S
        await self._follow_board()
        while sum(self._keys.values()) < self._held() and loop.time() < give_up_at:
            await asyncio.sleep(_SETTLE_POLL_S)
        stats = self._watch.stats()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        held, delivered = self._held(), sum(self._keys.values())
        once = all(count == 1 for count in self._keys.values())
        complete = "all the Data API holds" if once and delivered == held else f"of {held:,} held"
        states = ", ".join(
            f"{count} {state}" for state, count in Counter(w.continuity.value for w in stats.wallets).items()
        )
        text = (
            f"  wallet watch: {len(self._tracked)} wallets off the leaderboard, {delivered:,} fills"
            f" {'each once' if once else 'SOME TWICE'}\n  ({complete}), {self._losses} losses; {states or 'none'}"
        )
        if self._per_wallet:
            busiest, fills = self._per_wallet.most_common(1)[0]
            series = await self._client.user_pnl(busiest)
            pnl = series[-1].total_pnl if series else None
            name = self._emulator.data_apis.ledger.names().get(busiest, busiest)
            text += f";\n  the busiest, {name}, {fills:,} fills, P&L {pnl}"
        await self._client.aclose()
        return text
