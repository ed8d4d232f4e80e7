"""The emulator's simulated wallets are venue-possible: over a session of the simulator and a crowd of 200
wallets, no wallet's position in any token ever goes below zero (a SELL needs the shares), some of them do
sell what they bought, and the P&L of every wallet on the leaderboard, built by ``wallet_pnl`` from the
Data API, is the one the emulator's ledger holds."""

from __future__ import annotations

from decimal import Decimal

from polyinfra.core.venue_rate_limits import DATA_LIMITS
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.data.views import dollars, shares
from polyinfra.emulator.faults import FaultConfig, RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.model.numbers import Side
from polyinfra.wallets.wallet_pnl import wallet_pnl
from tests.integration.wallet_pnl_steps import SteppedClock

WALLETS = 200
STEPS = 600
_UNLIMITED = 1_000
ROUNDING = Decimal("0.00001")
"""The emulator's costs carry 6 decimals."""


async def test_crowd_wallets_never_sell_what_they_do_not_hold_and_their_pnl_matches_the_ledger() -> None:
    clock = SteppedClock()
    # The rate limits are not what this is about: a session of 1,000+ requests within the venue's takes minutes.
    faults = FaultConfig(rate_limits=RateLimitMode.OFF)
    async with Emulator(markets=3, seed=11, rate=0, clock_ms=clock, crowd_wallets=WALLETS, faults=faults) as emulator:
        emulator.data_apis.view.clock_ms = clock
        for _ in range(STEPS):
            emulator.simulator.step()
            emulator.crowd.step()
            clock.advance()
        for _ in range(60):
            clock.advance()  # past the Data API's lag
        truth = emulator.data_apis.ledger
        names = truth.names()
        crowd_sells = 0
        for wallet in truth.wallets():
            for row, book in truth.history(wallet, until_ms=clock.now_ms):
                assert book.positions[row.token_id].size_micros >= 0, (names.get(wallet), row)
                crowd_sells += row.side is Side.SELL and names.get(wallet, "").startswith("crowd-")
        assert crowd_sells > 0  # members sell what they bought, not only buy

        async with DataApiClient(emulator.urls["data"], rate_limits=DATA_LIMITS.scaled(_UNLIMITED)) as client:
            ranked = [entry.proxy_wallet.lower() for entry in await client.leaderboard_v2(time_period="ALL")]
            assert len(ranked) > WALLETS // 2
            for wallet in ranked:
                found = await wallet_pnl(client, wallet)
                book = truth.book(wallet, until_ms=clock.now_ms)
                assert abs(found.ledger.realized.realized_market - dollars(book.realized_picos())) <= ROUNDING
                held = {
                    (p.condition_id, p.outcome_index): shares(p.size_micros)
                    for p in book.positions.values()
                    if p.size_micros
                }
                assert {(p.condition_id, p.outcome_index): p.size for p in found.ledger.positions()} == held
