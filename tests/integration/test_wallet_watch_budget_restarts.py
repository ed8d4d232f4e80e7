"""The wallet watch's budget across restarts, against the emulator's Data API: a watch restarted twice within
one window over the same store sends no more than one window's budget, as the emulator's own rate-limit
counters (``/_emulator/data/stats``) show. The watch's clock stands still (injected), so all three runs
fall inside one of its windows; the emulator counts in real time, and three short runs fit in one of its
10 s windows, so a watch that forgot the last run's requests would be counted over the limit."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from polyinfra.core.wallet_watch_state import LossEvent, WatchSettings
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.model.wallet_activity import WalletActivity
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.wallets.watch import WalletWatch
from tests.wallet_world import SimulatedTime, consume

BUDGET = 6
"""Requests per 10 s window, for the watch and (scaled) for the emulator's Data API alike."""
SETTINGS = WatchSettings(budget_rps=BUDGET / 10, budget_window_s=10.0, page_limit=50)


async def test_two_restarts_within_one_window_spend_one_windows_budget(tmp_path: Path) -> None:
    faults = FaultConfig(rate_limits=RateLimitMode.OFF, rate_limit_scale=BUDGET / 1_000)  # data_general: 1,000
    async with Emulator(markets=2, seed=7, rate=0, crowd_wallets=2 * BUDGET, faults=faults) as emulator:
        for _ in range(60):
            emulator.simulator.step()
            emulator.crowd.step()
        wallets = [agent_wallet(member) for member in emulator.crowd.members]
        frozen = SimulatedTime(time.time() + 20)  # past the lag; it never moves, so every run is in one window
        frozen.until_s = frozen.now_s
        events: list[WalletActivity | LossEvent] = []
        runs = []
        for _ in range(3):
            store = SQLiteSink(str(tmp_path / "watch.sqlite"))
            try:
                async with (
                    DataApiClient(emulator.urls["data"], clock_s=frozen.clock) as client,
                    WalletWatch(
                        client, wallets, store=store, settings=SETTINGS, since_s=0, clock=frozen.clock,
                        sleep=frozen.sleep,
                    ) as watch,
                ):  # fmt: skip
                    await consume(watch, frozen, events)
                    runs.append(watch.stats())
            finally:
                await store.close()

        assert [run.requests for run in runs] == [BUDGET, 0, 0]
        assert all(run.requests_in_window == BUDGET for run in runs)  # the later runs start pre-charged
        async with httpx.AsyncClient() as http:
            data = (await http.get(emulator.urls["rest"] + "/_emulator/data/stats")).json()["data"]
        general = data["scopes"]["data_general"]
        assert general["requests"] == BUDGET
        assert data["over_limit"] == 0
        assert general["windows"][0]["peak"] <= general["windows"][0]["limit"] == BUDGET
