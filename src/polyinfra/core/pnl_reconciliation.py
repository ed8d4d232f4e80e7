"""Checking a wallet ledger's realized P&L against the venue's own series, component by component.

The Data API's ``/v2/user-pnl`` is a cumulative series of a wallet's realized P&L split by source
(market trading, fees, rebates, rewards, referral, and parts this ledger does not model: combos, LP,
yield; venue notes: Wallet P&L). :func:`reconcile` takes that series as :class:`VenuePnlPoint` values,
asks the :class:`~polyinfra.core.wallet_ledger.WalletLedger` what it had realized at each point's time,
and reports the drift (ledger minus venue) of every component at every point: a ledger that misses rows,
double counts them or reads a row kind wrongly shows up as drift in the component that row kind feeds,
from the first point after it.

A component the venue leaves out (null) is *unavailable*, never zero, so it is not compared. A ledger
started after the wallet's first trade (seeded from positions) carries a constant offset from the
venue's lifetime totals; ``since_first=True`` compares the change since the first point instead.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Final

from polyinfra.core.wallet_ledger import PnlComponents, WalletLedger
from polyinfra.errors import InvalidValueError
from polyinfra.model.numbers import bounded_decimal

__all__ = ["COMPONENTS", "ComponentDrift", "Reconciliation", "VenuePnlPoint", "reconcile"]

COMPONENTS: Final = tuple(f.name for f in fields(PnlComponents))
"""The components both sides compute, in :class:`~polyinfra.core.wallet_ledger.PnlComponents` order."""


@dataclass(frozen=True, slots=True)
class VenuePnlPoint:
    """One point of the venue's cumulative series; None where the venue gave no value."""

    timestamp_s: int
    realized_market: Decimal | None = None
    fees: Decimal | None = None
    """The venue's ``fees_paid``: refunds minus charges."""
    rebates: Decimal | None = None
    rewards: Decimal | None = None
    referral: Decimal | None = None

    def __post_init__(self) -> None:
        """Refuses a value that is not finite and bounded (``InvalidNumberError``): drift is arithmetic on it."""
        for name in COMPONENTS:
            value = getattr(self, name)
            if value is not None:
                bounded_decimal(value)


@dataclass(frozen=True, slots=True)
class ComponentDrift:
    """One component at one point: what the ledger says, what the venue says, and the difference."""

    component: str
    timestamp_s: int
    ledger: Decimal
    venue: Decimal

    @property
    def drift(self) -> Decimal:
        """Ledger minus venue: positive when the ledger counts more than the venue."""
        return self.ledger - self.venue


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Every compared (component, point), and the verdict under ``tolerance``."""

    drifts: tuple[ComponentDrift, ...]
    tolerance: Decimal

    def worst(self, component: str) -> ComponentDrift | None:
        """The point where ``component`` drifted furthest; None when it was never compared."""
        found = [d for d in self.drifts if d.component == component]
        return max(found, key=lambda d: abs(d.drift)) if found else None

    @property
    def breaches(self) -> tuple[ComponentDrift, ...]:
        """Compared points whose drift exceeds the tolerance, oldest first."""
        return tuple(d for d in self.drifts if abs(d.drift) > self.tolerance)

    @property
    def first_breach(self) -> ComponentDrift | None:
        """Where the ledger and the venue first parted: the row to look for is just before it."""
        breaches = self.breaches
        return breaches[0] if breaches else None

    @property
    def unavailable(self) -> tuple[str, ...]:
        """Components the venue gave at no point, so never compared."""
        compared = {d.component for d in self.drifts}
        return tuple(name for name in COMPONENTS if name not in compared)

    @property
    def ok(self) -> bool:
        return not self.breaches


def reconcile(
    ledger: WalletLedger,
    venue: Iterable[VenuePnlPoint],
    *,
    tolerance: Decimal = Decimal("0.01"),
    since_first: bool = False,
) -> Reconciliation:
    """Compare ``ledger`` with the venue's series point by point (see the module's notes).

    ``tolerance`` is the absolute drift in USDC accepted per component (the venue rounds its series);
    ``since_first`` compares changes since the first venue point rather than lifetime totals."""
    if tolerance < 0:
        raise InvalidValueError("a negative tolerance", tolerance=tolerance)
    points = sorted(venue, key=lambda point: point.timestamp_s)
    drifts: list[ComponentDrift] = []
    base: dict[str, tuple[Decimal, Decimal]] = {}
    for point in points:
        ours = ledger.realized_at(point.timestamp_s)
        for name in COMPONENTS:
            theirs: Decimal | None = getattr(point, name)
            if theirs is None:
                continue
            mine: Decimal = getattr(ours, name)
            if since_first:
                mine_base, theirs_base = base.setdefault(name, (mine, theirs))
                mine, theirs = mine - mine_base, theirs - theirs_base
            drifts.append(ComponentDrift(name, point.timestamp_s, mine, theirs))
    return Reconciliation(tuple(drifts), tolerance)
