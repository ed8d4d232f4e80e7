"""How good a wallet is, from its ledger: win rate with a confidence bound, ROI, volume, exposure.

Statistics a copy-trader ranks wallets by, computed so that they do not flatter:

* **Win rate with a lower bound.** A wallet with 3 wins out of 3 closed positions has a raw win rate of
  100 %, and so would a coin that came up heads three times. :func:`wilson_lower_bound` is the lower end of
  the Wilson score interval for the true rate: with n positions, w wins, p = w/n and z the normal quantile
  of the confidence wanted (1.96 for 95 %),

      lower = (p + z²/2n - z * sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)

  3 of 3 gives 0.44, 300 of 400 gives 0.71. Unlike the normal approximation it stays inside [0, 1] and
  behaves at small n, which is where ranking by the raw rate goes wrong. A position that closed flat is
  not a win. The bound is a statistic, computed in ``Decimal`` at 28 digits, not an amount.
* **ROI per position = pnl / what the position cost**, from
  :class:`~polyinfra.core.wallet_ledger.ClosedPosition`: a NO position's cost is what its NO shares were
  bought for, never derived from the YES price (the way ROI goes wrong for NO tokens elsewhere).
* **Exposure** by market and by category: the open cost, and the value marked with YES/NO netting.

:class:`LedgerSet` keeps one ledger per wallet of a tracked set from one merged stream of rows (the wallet
watch's); :func:`aggregate` sums the set's statistics and :func:`top_performers` ranks them with a
minimum-sample gate.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Context, Decimal
from enum import StrEnum
from typing import Final

from polyinfra.core.wallet_ledger import MarkProvider, PnlComponents, WalletLedger
from polyinfra.errors import InvalidValueError, LedgerError
from polyinfra.model.market_outcomes import MarketMap
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

__all__ = [
    "Z_95",
    "AggregateStats",
    "Exposure",
    "LedgerSet",
    "RankBy",
    "WalletStats",
    "WinRate",
    "aggregate",
    "top_performers",
    "wallet_stats",
    "wilson_lower_bound",
]

Z_95: Final = Decimal("1.959963984540054")
"""The two-sided 95 % normal quantile."""

_STATISTIC: Final = Context(prec=28)


def wilson_lower_bound(wins: int, total: int, z: Decimal = Z_95) -> Decimal:
    """The Wilson score interval's lower end for ``wins`` out of ``total`` (0 when ``total`` is 0)."""
    if total < 0 or not 0 <= wins <= total or z < 0:
        raise InvalidValueError("wins must be within 0..total, z not negative", wins=wins, total=total, z=z)
    if wins == 0:
        # Exactly 0 (the formula's two terms cancel; at 28 digits they would leave a rounding crumb).
        return Decimal(0)
    c = _STATISTIC
    n = Decimal(total)
    p = c.divide(Decimal(wins), n)
    z2 = c.multiply(z, z)
    centre = c.add(p, c.divide(z2, 2 * n))
    spread = c.multiply(z, c.sqrt(c.add(c.divide(c.multiply(p, 1 - p), n), c.divide(z2, c.multiply(4 * n, n)))))
    lower = c.divide(c.subtract(centre, spread), c.add(1, c.divide(z2, n)))
    return max(lower, Decimal(0))


@dataclass(frozen=True, slots=True)
class WinRate:
    """Wins among closed positions, with the raw rate and its Wilson lower bound."""

    wins: int
    total: int
    lower_bound: Decimal

    @property
    def rate(self) -> Decimal | None:
        """The raw rate (None with no closed position): shown, never ranked by."""
        return Decimal(self.wins) / Decimal(self.total) if self.total else None


@dataclass(frozen=True, slots=True)
class Exposure:
    """Open positions in one market or category: their cost, and their netted value (None: unmarked)."""

    cost: Decimal
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class WalletStats:
    """One wallet's record."""

    wallet: str
    realized: PnlComponents
    unrealized: Decimal
    """Of the markets that could be marked."""
    volume: Decimal
    win_rate: WinRate
    median_roi: Decimal | None
    exposure_by_market: dict[str, Exposure]
    exposure_by_category: dict[str, Exposure]

    @property
    def total_pnl(self) -> Decimal:
        return self.realized.total + self.unrealized


def wallet_stats(ledger: WalletLedger, marks: MarkProvider | None = None, *, z: Decimal = Z_95) -> WalletStats:
    """The record of the wallet ``ledger`` follows, its open positions marked by ``marks``."""
    closed = ledger.closed_positions
    wins = sum(1 for position in closed if position.pnl > 0)
    rois = sorted(roi for roi in (position.roi for position in closed) if roi is not None)
    valuation = ledger.valuation(marks)
    by_market = {c.condition_id: Exposure(c.cost, c.value) for c in valuation.conditions}
    by_category: dict[str, Exposure] = {}
    for condition_id, exposure in by_market.items():
        category = ledger.markets.category(condition_id)
        by_category[category] = _add(by_category.get(category), exposure)
    return WalletStats(
        wallet=ledger.wallet,
        realized=valuation.realized,
        unrealized=valuation.unrealized,
        volume=ledger.volume,
        win_rate=WinRate(wins, len(closed), wilson_lower_bound(wins, len(closed), z)),
        median_roi=_median(rois),
        exposure_by_market=by_market,
        exposure_by_category=by_category,
    )


@dataclass(frozen=True, slots=True)
class AggregateStats:
    """A tracked set summed: P&L by component, volume, and exposure by category."""

    wallets: int
    realized: PnlComponents
    unrealized: Decimal
    volume: Decimal
    exposure_by_category: dict[str, Exposure]

    @property
    def total_pnl(self) -> Decimal:
        return self.realized.total + self.unrealized


def aggregate(stats: Iterable[WalletStats]) -> AggregateStats:
    """The set's totals (a wallet given twice counts twice: pass each once)."""
    count = 0
    parts = dict.fromkeys(("realized_market", "fees", "rebates", "rewards", "referral"), Decimal(0))
    unrealized = volume = Decimal(0)
    by_category: dict[str, Exposure] = {}
    for wallet in stats:
        count += 1
        for name in parts:
            parts[name] += getattr(wallet.realized, name)
        unrealized += wallet.unrealized
        volume += wallet.volume
        for category, exposure in wallet.exposure_by_category.items():
            by_category[category] = _add(by_category.get(category), exposure)
    return AggregateStats(count, PnlComponents(**parts), unrealized, volume, by_category)


class LedgerSet:
    """One :class:`~polyinfra.core.wallet_ledger.WalletLedger` per wallet, fed one merged stream of rows.

    A row goes to its wallet's ledger (created on its first row). A neg-risk conversion's legs, which
    arrive as consecutive rows of one wallet and one transaction, are held until that wallet's next other
    row (or :meth:`flush`) and applied together. A row a ledger refuses does not stop the set: the
    :class:`~polyinfra.errors.LedgerError` is kept in :attr:`errors` (the wallet's latest) and counted, and
    that wallet's figures are then known to be incomplete."""

    def __init__(self, markets: MarketMap | None = None) -> None:
        self.markets = MarketMap() if markets is None else markets
        self.ledgers: dict[str, WalletLedger] = {}
        self.errors: dict[str, LedgerError] = {}
        self.refused = 0
        self._legs: dict[str, list[WalletActivity]] = {}

    def ledger(self, wallet: str) -> WalletLedger:
        """The wallet's ledger, created empty the first time it is asked for."""
        wallet = wallet.lower()
        found = self.ledgers.get(wallet)
        if found is None:
            found = self.ledgers[wallet] = WalletLedger(wallet, self.markets)
        return found

    def apply(self, row: WalletActivity, *, fee_usdc: Decimal = Decimal(0)) -> None:
        """Route one row (see the class notes); ``fee_usdc`` is what the venue charged on it."""
        wallet = row.wallet.lower()
        legs = self._legs.get(wallet)
        if legs and (row.kind is not ActivityKind.CONVERSION or row.transaction_hash != legs[0].transaction_hash):
            self._apply_conversion(wallet)
        if row.kind is ActivityKind.CONVERSION:
            self._legs.setdefault(wallet, []).append(row)
            return
        try:
            self.ledger(wallet).apply(row, fee_usdc=fee_usdc)
        except LedgerError as error:
            self._refuse(wallet, error)

    def flush(self) -> None:
        """Apply every conversion still held: call before reading the figures."""
        for wallet in list(self._legs):
            self._apply_conversion(wallet)

    def stats(self, marks: MarkProvider | None = None, *, z: Decimal = Z_95) -> list[WalletStats]:
        """Every wallet's record (after :meth:`flush`), in wallet order."""
        self.flush()
        return [wallet_stats(self.ledgers[wallet], marks, z=z) for wallet in sorted(self.ledgers)]

    def _apply_conversion(self, wallet: str) -> None:
        legs = self._legs.pop(wallet, [])
        if not legs:
            return
        try:
            self.ledger(wallet).apply_conversion(legs)
        except LedgerError as error:
            self._refuse(wallet, error)

    def _refuse(self, wallet: str, error: LedgerError) -> None:
        self.errors[wallet] = error
        self.refused += 1


class RankBy(StrEnum):
    """What :func:`top_performers` ranks by."""

    TOTAL_PNL = "total_pnl"
    REALIZED = "realized"
    WIN_RATE_LOWER_BOUND = "win_rate_lower_bound"
    MEDIAN_ROI = "median_roi"
    VOLUME = "volume"


_KEYS: Final[dict[RankBy, Callable[[WalletStats], Decimal | None]]] = {
    RankBy.TOTAL_PNL: lambda s: s.total_pnl,
    RankBy.REALIZED: lambda s: s.realized.total,
    RankBy.WIN_RATE_LOWER_BOUND: lambda s: s.win_rate.lower_bound,
    RankBy.MEDIAN_ROI: lambda s: s.median_roi,
    RankBy.VOLUME: lambda s: s.volume,
}


def top_performers(
    stats: Iterable[WalletStats], *, by: RankBy = RankBy.TOTAL_PNL, limit: int = 10, min_closed: int = 0
) -> list[WalletStats]:
    """The ``limit`` best wallets by ``by``, best first (ties by wallet address), among those with at least
    ``min_closed`` closed positions and a value to rank by."""
    key = _KEYS[by]
    eligible = [(value, s) for s in stats if s.win_rate.total >= min_closed and (value := key(s)) is not None]
    eligible.sort(key=lambda pair: pair[1].wallet)
    eligible.sort(key=lambda pair: pair[0], reverse=True)
    return [s for _, s in eligible[: max(limit, 0)]]


def _add(total: Exposure | None, more: Exposure) -> Exposure:
    if total is None:
        return more
    value = None if total.value is None or more.value is None else total.value + more.value
    return Exposure(total.cost + more.cost, value)


def _median(values: list[Decimal]) -> Decimal | None:
    """The median of sorted ``values``; the mean of the middle two when their count is even."""
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
