"""Finding the whales: a market's top holders, and a radar for large trades on live activity. Sans-I/O.

* :func:`top_holders` ranks :class:`HolderRow` values (what the Data API's holders routes return, one
  wallet's balance of one outcome, with its P&L where the v2 route gives it) by size or by P&L.
* :class:`LargeTradeRadar` watches live :class:`~polyinfra.model.live_events.ActivityTrade` events and
  flags each one whose notional (price x size, in USDC, exact) reaches a threshold, optionally only
  for some wallets or markets.

Pure: no I/O, no clock; the radar's only state is its counters.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Context, Decimal
from enum import StrEnum
from typing import Final

from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.live_events import ActivityTrade
from polyinfra.model.numbers import bounded_decimal

__all__ = ["HolderRank", "HolderRow", "LargeTrade", "LargeTradeRadar", "notional_usdc", "top_holders"]

# Wide enough that the product of two bounded decimals (at most 55 digits each) is never rounded.
_PRODUCT: Final = Context(prec=120)


def notional_usdc(price: Decimal, size: Decimal) -> Decimal:
    """``price x size`` exactly, whatever digits the two carry (both bounded first)."""
    return _PRODUCT.multiply(bounded_decimal(price), bounded_decimal(size))


@dataclass(frozen=True, slots=True)
class HolderRow:
    """One wallet's balance of one outcome token of a market."""

    wallet: str
    condition_id: str
    token_id: str
    outcome_index: int
    amount: Decimal
    """Shares held."""
    pnl: Decimal | None = None
    """The holder's P&L on the market where the source gives it (``/v2/holders?include_pnl=true``)."""
    name: str = ""

    def __post_init__(self) -> None:
        """Refuses amounts that are not finite and bounded, or a negative balance (``InvalidNumberError``)."""
        if bounded_decimal(self.amount) < 0:
            raise InvalidNumberError("a negative balance", wallet=self.wallet, amount=self.amount)
        if self.pnl is not None:
            bounded_decimal(self.pnl)


class HolderRank(StrEnum):
    """What :func:`top_holders` ranks by."""

    SIZE = "size"
    PNL = "pnl"


def top_holders(
    rows: Iterable[HolderRow],
    *,
    by: HolderRank = HolderRank.SIZE,
    limit: int = 20,
    outcome_index: int | None = None,
) -> list[HolderRow]:
    """The ``limit`` largest holders (by shares or by P&L, largest first, ties by wallet), of one outcome
    when ``outcome_index`` is given. Ranking by P&L leaves out rows without one: unavailable is not zero."""
    chosen = [r for r in rows if outcome_index is None or r.outcome_index == outcome_index]
    if by is HolderRank.PNL:
        ranked = [(r.pnl, r) for r in chosen if r.pnl is not None]
    else:
        ranked = [(r.amount, r) for r in chosen]
    ranked.sort(key=lambda pair: (pair[1].wallet, pair[1].outcome_index))
    ranked.sort(key=lambda pair: pair[0], reverse=True)
    return [row for _, row in ranked[: max(limit, 0)]]


@dataclass(frozen=True, slots=True)
class LargeTrade:
    """A live trade at or above the radar's threshold."""

    trade: ActivityTrade
    notional_usdc: Decimal


class LargeTradeRadar:
    """Flags live trades whose notional reaches ``threshold_usdc``.

    ``wallets`` and ``condition_ids`` narrow the watch (lower case; None: all). ``observed`` and
    ``flagged`` count what went through, so a quiet radar can be told from a deaf one."""

    def __init__(
        self,
        threshold_usdc: Decimal,
        *,
        wallets: Collection[str] | None = None,
        condition_ids: Collection[str] | None = None,
    ) -> None:
        threshold = bounded_decimal(threshold_usdc)
        if threshold < 0:
            raise InvalidValueError("a negative threshold", threshold_usdc=threshold_usdc)
        self.threshold_usdc = threshold
        self._wallets = None if wallets is None else frozenset(w.lower() for w in wallets)
        self._conditions = None if condition_ids is None else frozenset(c.lower() for c in condition_ids)
        self.observed = 0
        self.flagged = 0

    def observe(self, trade: ActivityTrade) -> LargeTrade | None:
        """The trade as a :class:`LargeTrade` when it is watched and large enough, else None."""
        self.observed += 1
        if self._wallets is not None and trade.wallet.lower() not in self._wallets:
            return None
        if self._conditions is not None and trade.condition_id.lower() not in self._conditions:
            return None
        notional = notional_usdc(trade.price, trade.size)
        if notional < self.threshold_usdc:
            return None
        self.flagged += 1
        return LargeTrade(trade, notional)
