"""One wallet's P&L from the Data API, whether or not its activity history reaches back to its first trade.

:func:`wallet_pnl` reads the wallet's activity (``/v2/activity`` from ``start_s``; or it takes the rows a
caller already has: a watch started late, a v1 walk started late to stay under its offset ceiling), what
it holds now (``/v2/positions``: open, redeemable and lost) and the venue's own P&L series
(``/v2/user-pnl``). When the history accounts for everything held, the ledger is built from it alone.
When it does not (it starts late, or tokens arrived by transfer, which the feed does not list), the
ledger is first seeded with the positions as of the history's start
(:func:`~polyinfra.core.wallet_seed.positions_at_start`): realized P&L is then what the history's span
realized against what the shares really cost, and what was realized before the start is left to the
venue's series (:attr:`WalletPnl.venue_before`). The reconciliation compares changes since the start in
that case (``since_first``), lifetime totals otherwise.

Positions and activity are two requests: a wallet that trades between them would look seeded (or
impossible), so the positions are read before and after the activity and the reads repeated until they
agree (:class:`~polyinfra.errors.LedgerError` after ``attempts``). Rows the caller brings are its to keep
consistent with the positions (read them just before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from polyinfra.core.from_wire import pnl_series_from_v2
from polyinfra.core.pnl_reconciliation import Reconciliation, VenuePnlPoint, reconcile
from polyinfra.core.wallet_activity_rows import activity_from_v2
from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.core.wallet_seed import HeldPosition, positions_at_start
from polyinfra.data.data_api import DataApiClient
from polyinfra.errors import LedgerError
from polyinfra.model.wallet_activity import WalletActivity

__all__ = ["WalletPnl", "wallet_pnl"]

_HELD_STATUSES = ("OPEN", "REDEEMABLE", "REDEEMABLE_LOST")
"""``/v2/positions`` statuses that hold shares (OPEN includes the mergeable ones)."""


@dataclass(frozen=True, slots=True)
class WalletPnl:
    """A wallet's ledger, how it was started, and its reconciliation with the venue's series."""

    ledger: WalletLedger
    reconciliation: Reconciliation
    history_start_s: int
    """When the activity history starts (``start_s``, or its first row's time when read from 0)."""
    seeded: tuple[HeldPosition, ...]
    """The positions held at :attr:`history_start_s` that the ledger was seeded with (empty: the history
    accounts for everything, nothing was seeded)."""
    venue_before: VenuePnlPoint | None
    """When seeded: the venue's cumulative P&L just before the history starts (None: none reported)."""

    @property
    def from_positions(self) -> bool:
        """Whether the ledger starts from positions as of :attr:`history_start_s` rather than from nothing."""
        return bool(self.seeded)

    @property
    def seeded_cost(self) -> Decimal:
        """What the seeded shares cost, in USDC."""
        return sum((position.cost for position in self.seeded), Decimal(0))


async def wallet_pnl(
    client: DataApiClient,
    wallet: str,
    *,
    start_s: int = 0,
    history: Sequence[WalletActivity] | None = None,
    attempts: int = 3,
) -> WalletPnl:
    """``wallet``'s P&L from its activity since ``start_s``, or from ``history`` (its rows, from ``start_s``
    when given) instead of reading them (see the module docstring); ``client`` is open."""
    wallet = wallet.lower()
    if history is None:
        held, rows = await _held_and_activity(client, wallet, start_s, attempts)
    else:
        held, rows = await _held(client, wallet), sorted(history, key=_time)
    venue = pnl_series_from_v2(await client.user_pnl(wallet))
    history_start_s = start_s or (rows[0].timestamp_s if rows else 0)
    seeded = tuple(positions_at_start(held, rows))
    ledger = WalletLedger(wallet)
    for position in seeded:
        ledger.seed(
            position.condition_id, position.outcome_index, position.size, position.cost, timestamp_s=history_start_s
        )
    ledger.apply_all(rows)
    if not seeded:
        return WalletPnl(ledger, reconcile(ledger, venue), history_start_s, (), None)
    before = [point for point in venue if point.timestamp_s < history_start_s]
    since = [point for point in venue if point.timestamp_s >= history_start_s]
    # The point just before the start is the base the changes are measured from (the ledger has realized
    # nothing by then); without one, the first point after the start is.
    reconciliation = reconcile(ledger, [*before[-1:], *since], since_first=True)
    return WalletPnl(ledger, reconciliation, history_start_s, seeded, before[-1] if before else None)


async def _held_and_activity(
    client: DataApiClient, wallet: str, start_s: int, attempts: int
) -> tuple[list[HeldPosition], list[WalletActivity]]:
    """The positions and the activity since ``start_s``, read until the positions before and after agree."""
    for _ in range(max(1, attempts)):
        held = await _held(client, wallet)
        rows = sorted((activity_from_v2(row) for row in await client.activity_v2(wallet, start_s=start_s)), key=_time)
        if await _held(client, wallet) == held:
            return held, rows
    raise LedgerError("the wallet kept trading while its positions and activity were read", wallet=wallet)


async def _held(client: DataApiClient, wallet: str) -> list[HeldPosition]:
    found = []
    for status in _HELD_STATUSES:
        for row in await client.positions_v2(wallet, status=status):
            cost = row.entry_cost_usdc
            if cost is None:
                cost = row.current_size * (row.avg_price or Decimal(0))
            found.append(HeldPosition(row.condition_id.lower(), row.outcome_index, row.current_size, cost))
    return sorted(found, key=lambda p: (p.condition_id, p.outcome_index))


def _time(row: WalletActivity) -> int:
    return row.timestamp_s
