"""A wallet's P&L from a history that starts after its first trade, against the emulator's Data API: seeded
with the positions as of the history's start, the ledger realizes what the emulator's own ledger realized
over the history's span, ends holding what the emulator holds, and reconciles with ``/v2/user-pnl``. The
history is the v2 feed read from a late start, or the v1 feed of a wallet whose whole history is beyond
the v1 offset ceiling, read from the latest start that stays under it."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from polyinfra.core.wallet_activity_rows import activity_from_v1
from polyinfra.data.data_api import DataApiClient
from polyinfra.emulator.data.views import dollars, shares
from polyinfra.emulator.live.rtds_sources import agent_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import PaginationError
from polyinfra.model.numbers import Side
from polyinfra.wallets.wallet_pnl import wallet_pnl
from tests.integration.wallet_pnl_steps import SteppedClock, trade_script

ROUNDING = Decimal("0.00001")
"""The emulator's costs carry 6 decimals; the seeded cost is as exact as they are."""
TRADER = "trader-late"
SCRIPT = [
    (Side.BUY, 0, 20), (Side.BUY, 1, 10), (Side.BUY, 0, 10),  # before the history starts
    (Side.SELL, 0, 8), (Side.BUY, 0, 6), (Side.SELL, 1, 4), (Side.BUY, 1, 5), (Side.SELL, 0, 5),
]  # fmt: skip
STARTS_AT = 3
"""The action the history starts with."""


@pytest.mark.parametrize("feed", ["v2", "v1"])
async def test_a_late_history_is_seeded_from_positions_and_realizes_what_the_emulator_did(feed: str) -> None:
    clock = SteppedClock()
    async with Emulator(markets=2, seed=3, rate=0, clock_ms=clock) as emulator:
        emulator.data_apis.view.clock_ms = clock
        seconds = trade_script(emulator, clock, TRADER, SCRIPT)
        wallet = agent_wallet(TRADER).lower()
        start_s = seconds[STARTS_AT]
        truth = emulator.data_apis.ledger
        # One row a v1 page, and a ceiling the rows from the start reach but the whole history passes.
        late = sum(1 for row in truth.rows_of(wallet, until_ms=clock.now_ms) if row.timestamp_ms >= start_s * 1000)
        emulator.data_apis.knobs.v1_max_offset = late
        ceilings = {"/activity": late}  # the client knows the venue's ceiling
        async with DataApiClient(emulator.urls["data"], v1_page_limit=1, v1_ceilings=ceilings) as client:
            if feed == "v2":
                found = await wallet_pnl(client, wallet, start_s=start_s)
            else:
                with pytest.raises(PaginationError):
                    await client.activity(wallet)
                rows = [activity_from_v1(row) for row in await client.activity(wallet, start_s=start_s)]
                found = await wallet_pnl(client, wallet, start_s=start_s, history=rows)

        at_start = truth.book(wallet, until_ms=start_s * 1000 - 1)
        now = truth.book(wallet, until_ms=clock.now_ms)
        assert found.from_positions and found.history_start_s == start_s
        seeded = {(p.condition_id, p.outcome_index): (p.size, p.cost) for p in found.seeded}
        assert set(seeded) == {(p.condition_id, p.outcome_index) for p in at_start.positions.values()}
        for position in at_start.positions.values():
            size, cost = seeded[(position.condition_id, position.outcome_index)]
            assert size == shares(position.size_micros)
            assert abs(cost - dollars(position.cost_picos)) <= ROUNDING
        realized: Fraction = now.realized_picos() - at_start.realized_picos()
        assert realized != 0  # the history's sales realized something
        assert abs(found.ledger.realized.realized_market - dollars(realized)) <= ROUNDING
        held = {
            (p.condition_id, p.outcome_index): shares(p.size_micros) for p in now.positions.values() if p.size_micros
        }
        assert {(p.condition_id, p.outcome_index): p.size for p in found.ledger.positions()} == held
        assert found.reconciliation.ok, found.reconciliation.breaches[:3]
        assert found.venue_before is not None
        assert found.venue_before.realized_market == dollars(at_start.realized_picos())
