"""The wallet watch's acceptance test: 200 wallets over a simulated session against the emulator's Data
API, 5-10 s behind, with restarts over one SQLite store and a Data API outage. Every fill the
emulator's ledger holds (its ground truth) is delivered exactly once, and the Data API's rate-limit
counters show no window exceeded. A stop longer than the watch's horizon leaves holes: each one inside
a loss event of its wallet.

The emulator's exchange runs on the simulated clock and trades as it advances (each simulated second
steps the market simulator and the crowd), so minutes of session take a few real seconds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from polyinfra.core.wallet_watch_state import Continuity, LossEvent, LossReason, WatchSettings
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.data.ledger import LedgerRow
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.model.wallet_activity import WalletActivity
from polyinfra.net.breaker import BreakerConfig, CircuitBreakers
from polyinfra.net.rate_limit import AsyncRateLimiter
from polyinfra.net.retry import RetryPolicy
from polyinfra.record.sqlite_sink import SQLiteSink
from polyinfra.wallets.watch import WalletWatch
from tests.wallet_world import SimulatedTime, consume

T0 = 1_790_000_000
WALLETS = 200
SETTINGS = WatchSettings(budget_rps=3.0, min_interval_s=5.0, max_interval_s=60.0, page_limit=100, dedupe_window_s=600)
TRADING_S = 100
"""The crowd trades for this long; the session then runs on quietly until the lag has passed."""
STEPS_PER_S = 2


class TradingTime(SimulatedTime):
    """Simulated time during which the emulator trades: every whole second passed steps its market
    simulator and crowd ``STEPS_PER_S`` times, at that second, until ``T0 + TRADING_S``."""

    def __init__(self, emulator_box: list[Emulator]) -> None:
        super().__init__(float(T0))
        self._emulators = emulator_box

    def clock_ms(self) -> int:
        return int(self.now_s * 1000)

    async def sleep(self, delay_s: float) -> None:
        start_s = self.now_s
        for second in range(int(start_s) + 1, int(min(start_s + delay_s, self.until_s)) + 1):
            self.now_s = float(second)
            if second < T0 + TRADING_S and self._emulators:
                for _ in range(STEPS_PER_S):
                    self._emulators[0].simulator.step()
                    self._emulators[0].crowd.step()
        await super().sleep(start_s + delay_s - self.now_s)


@dataclass
class Session:
    """The emulator on simulated time, one SQLite store, the events of every run of the watch so far, and
    one rate limiter the runs share: they follow each other within a few real seconds, where restarted
    processes would be spread over as many simulated ones, and the venue counts its windows in real time."""

    emulator: Emulator
    time: TradingTime
    store_path: Path
    events: list[WalletActivity | LossEvent] = field(default_factory=list)
    limiter: AsyncRateLimiter = field(default_factory=AsyncRateLimiter)

    async def run(self, until_s: float, *, settings: WatchSettings = SETTINGS, tracked: int = WALLETS) -> WalletWatch:
        """One run of the watch over the first ``tracked`` crowd wallets, from the store, until simulated
        ``until_s``; then a clean stop."""
        emulator, time = self.emulator, self.time
        wallets = [agent_wallet(member) for member in emulator.crowd.members[:tracked]]
        # No retries inside the client: the outage reaches the watch, which backs off on simulated time.
        client = DataApiClient(
            emulator.urls["data"],
            clock_s=time.clock,
            retry=RetryPolicy(max_attempts=1),
            limiter=self.limiter,
            breakers=CircuitBreakers(BreakerConfig(failure_threshold=1_000)),
        )
        store = SQLiteSink(str(self.store_path))
        try:
            watch = WalletWatch(
                client, wallets, store=store, settings=settings, since_s=T0, clock=time.clock, sleep=time.sleep
            )
            time.until_s = until_s
            async with watch:
                await consume(watch, time, self.events)
            return watch
        finally:
            await store.close()
            await client.aclose()


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[Session]:
    box: list[Emulator] = []
    time = TradingTime(box)
    faults = FaultConfig(rate_limits=RateLimitMode.REJECT)
    async with Emulator(
        markets=3, seed=5, rate=0, crowd_wallets=WALLETS, faults=faults, clock_ms=time.clock_ms
    ) as emulator:
        box.append(emulator)
        emulator.data_apis.view.clock_ms = time.clock_ms
        emulator.data_apis.knobs.update({"lag_s": 5, "lag_spread_s": 5, "lag_seed": 3})
        yield Session(emulator, time, tmp_path / "watch.sqlite")


async def test_200_wallets_every_fill_once_across_restarts_and_an_outage(session: Session) -> None:
    emulator, events = session.emulator, session.events
    await session.run(T0 + 40)
    emulator.data_apis.knobs.outage_requests = 40  # the Data API is down for the next 40 requests
    await session.run(T0 + 75)
    assert emulator.data_apis.knobs.outage_requests == 0
    last = await session.run(T0 + TRADING_S + 90)

    ledger = emulator.data_apis.ledger
    truth = {
        wallet: [row for row in ledger.rows_of(wallet, until_ms=2**62) if row.kind == "TRADE"]
        for wallet in (agent_wallet(member).lower() for member in emulator.crowd.members)
    }
    expected = {(row.transaction_hash, row.wallet, row.token_id, row.side) for rows in truth.values() for row in rows}
    assert sum(bool(rows) for rows in truth.values()) > WALLETS // 2
    fills = [event for event in events if isinstance(event, WalletActivity)]
    losses = [event for event in events if isinstance(event, LossEvent)]
    delivered = [(fill.transaction_hash, fill.wallet, fill.token_id, fill.side) for fill in fills]
    assert len(delivered) == len(set(delivered)), "a fill delivered twice"
    # The session ran well past the last fill and the lag: nothing was lost, so nothing may be missing.
    assert not losses, losses[:3]
    assert set(delivered) == expected
    assert all(wallet.continuity is Continuity.RUNNING for wallet in last.stats().wallets)  # the outage is over
    data = emulator.data_apis.stats()["data"]
    assert isinstance(data, dict)
    assert data["over_limit"] == 0
    assert data["scopes"]["data_general"]["rejected"] == 0
    assert data["scopes"]["data_general"]["requests"] > WALLETS


def _key(row: LedgerRow) -> tuple[str, ...]:
    """A ledger row's :attr:`WalletActivity.key`."""
    side = "" if row.side is None else row.side.value
    return (row.transaction_hash, row.wallet, row.condition_id, row.token_id, row.kind, side)


async def test_a_stop_longer_than_the_horizon_is_a_loss_event_over_every_fill_not_delivered(session: Session) -> None:
    emulator, events = session.emulator, session.events
    settings = replace(SETTINGS, horizon_s=30)
    await session.run(T0 + 30, settings=settings, tracked=40)
    session.time.until_s = float("inf")
    await session.time.sleep(60)  # the watch is down for a minute while the crowd trades on
    await session.run(T0 + TRADING_S + 90, settings=settings, tracked=40)

    fills = {event.key for event in events if isinstance(event, WalletActivity)}
    losses = [event for event in events if isinstance(event, LossEvent)]
    assert len(fills) == sum(isinstance(event, WalletActivity) for event in events), "a fill delivered twice"
    reasons = {loss.reason for loss in losses}
    assert LossReason.RESTART_BEYOND_HORIZON in reasons
    assert reasons <= {LossReason.RESTART_BEYOND_HORIZON, LossReason.HORIZON_EXPIRED}
    wallets = {agent_wallet(member).lower() for member in emulator.crowd.members[:40]}
    truth = [row for row in emulator.data_apis.ledger.rows if row.wallet in wallets and row.kind == "TRADE"]
    keys = {_key(row) for row in truth}
    assert fills <= keys
    holes = [row for row in truth if _key(row) not in fills]
    assert holes, "the stop hid no fill: the test proves nothing"
    for row in holes:
        assert any(
            loss.wallet == row.wallet and loss.from_s <= row.timestamp_ms // 1000 < loss.to_s for loss in losses
        ), f"a fill missed without a loss event: {row}"
