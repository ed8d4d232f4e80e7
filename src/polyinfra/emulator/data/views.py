"""The Data API's view of the ledger at one moment: the lag cut-off, marks, market details and the
figures both generations report (values, P&L, position states), computed once for v1 and v2.

``now_ms`` is the Data API's clock (a test may swap :attr:`DataView.clock_ms`); rows younger than the
lag (the ``lag_s`` knob, plus up to ``lag_spread_s`` drawn per second) are not served, and neither is
anything replayed from them. Marks are the exchange's
displayed prices (midpoint, else last trade, else 0.5); a resolved market marks its winner at 1 and
the other token at 0. Figures are exact fractions until the answer, then ``Decimal`` rounded to 6
places (the venue's own numbers carry 4 to 6).

The simulator's agents and the crowd sell only shares they hold, but an API key's wallet may sell
shares that never passed through the CLOB (split on the emulated chain, for one), and its ledger then
shows a short: such a position counts in its P&L (it is what the fills say) but no route lists it as a
position, since the venue's positions are never negative.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Final

from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.data.ledger import TRANSFER, LedgerRow, Position, WalletBook, WalletLedger
from polyinfra.emulator.exchange import Exchange
from polyinfra.model.numbers import MICROS

__all__ = ["MAX_CONDITIONS", "DataView", "Marked", "PositionStatus", "dollars", "shares"]

MAX_CONDITIONS: Final = 20
"""Condition ids one Data API request may name (venue notes: Data API)."""
_PICOS: Final = MICROS * MICROS
_PLACES: Final = Decimal("0.000001")


class PositionStatus(StrEnum):
    """``/v2/positions`` statuses (venue notes: Data API)."""

    OPEN = "OPEN"
    REDEEMABLE = "REDEEMABLE"
    REDEEMABLE_LOST = "REDEEMABLE_LOST"
    MERGEABLE = "MERGEABLE"
    CLOSED = "CLOSED"


def dollars(picos: Fraction | int) -> Decimal:
    """pUSD picos (micros x micros) as dollars, 6 places."""
    return _decimal(Fraction(picos) / _PICOS)


def shares(micros: Fraction | int) -> Decimal:
    """Micros (shares or a price) as a Decimal, 6 places."""
    return _decimal(Fraction(micros) / MICROS)


def _decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True, slots=True)
class Marked:
    """One position with its mark and the figures derived from it."""

    position: Position
    wallet: str
    name: str
    mark_micros: int
    status: PositionStatus
    title: str
    slug: str
    opposite_outcome: str
    opposite_token: str
    negative_risk: bool

    @property
    def current_picos(self) -> int:
        return self.position.size_micros * self.mark_micros

    @property
    def unrealized_picos(self) -> Fraction:
        return self.current_picos - self.position.cost_picos


class DataView:
    """Reads of the ledger as the Data API serves them (see the module docstring)."""

    def __init__(
        self, exchange: Exchange, ledger: WalletLedger, knobs: DataApiKnobs, *, clock_ms: Callable[[], int]
    ) -> None:
        self.exchange = exchange
        self.ledger = ledger
        self.knobs = knobs
        self.clock_ms = clock_ms
        """The Data API's clock (unix ms): the lag and cursor ages are measured on it."""

    def cutoff_ms(self) -> int:
        """The newest row time served now.

        Each whole second ``s`` of the clock draws its own lag from the seed; the cut-off is the furthest
        any second up to now has reached (``s - lag(s)``), and never less than ``now`` minus the largest
        lag. So it moves forward only (what was served stays served: a client may vouch for it), while
        the lag seen wanders between ``lag_s`` and ``lag_s + lag_spread_s``. Computed afresh from the
        clock, so a test that swaps the clock back sees the past again."""
        now_ms = self.clock_ms()
        least_ms = round(self.knobs.lag_s * 1000)
        spread_ms = round(self.knobs.lag_spread_s * 1000)
        cutoff = now_ms - least_ms - spread_ms
        if spread_ms:
            second = now_ms // 1000
            for past in range(second - spread_ms // 1000 - 1, second + 1):
                cutoff = max(cutoff, past * 1000 - least_ms - self._drawn_ms(past, spread_ms))
        return cutoff

    def _drawn_ms(self, second: int, spread_ms: int) -> int:
        """The extra lag of clock second ``second``, from ``lag_seed`` (0 to ``spread_ms``)."""
        digest = hashlib.sha256(f"{self.knobs.lag_seed}:{second}".encode()).digest()
        return int.from_bytes(digest[:8]) * (spread_ms + 1) >> 64

    def activity_rows(
        self, user: str, *, conditions: set[str], kinds: set[str], start_s: int, end_s: int, side: str | None
    ) -> list[LedgerRow]:
        """``user``'s rows served now that pass an activity route's filters (``end_s`` 0: no end), oldest first."""
        return [
            row
            for row in self.ledger.rows_of(user, until_ms=self.cutoff_ms())
            if row.kind != TRANSFER  # the venue's feed does not list transfers
            and (not conditions or row.condition_id in conditions)
            and (not kinds or row.kind in kinds)
            and row.timestamp_ms // 1000 >= start_s
            and (not end_s or row.timestamp_ms // 1000 <= end_s)
            and (not side or (row.side is not None and row.side.value == side))
        ]

    def trade_rows(
        self, user: str | None, *, conditions: set[str], taker_only: bool, side: str | None
    ) -> list[LedgerRow]:
        """The TRADE rows served now that pass a trades route's filters (every wallet's when ``user`` is
        None; the takers' only when ``taker_only``), oldest first."""
        cutoff = self.cutoff_ms()
        source = self.ledger.visible(until_ms=cutoff) if user is None else self.ledger.rows_of(user, until_ms=cutoff)
        return [
            row
            for row in source
            if row.kind == "TRADE"
            and (row.taker or not taker_only)
            and (not conditions or row.condition_id in conditions)
            and (not side or (row.side is not None and row.side.value == side))
        ]

    def mark_micros(self, token_id: str) -> int:
        market = self.exchange.market_of(token_id)
        winner = None if market is None else self.exchange.winning_token(market.condition_id)
        if winner is not None:
            return MICROS if winner == token_id else 0
        return self.exchange.display_price(token_id)

    def book(self, user: str) -> WalletBook:
        """``user``'s book as served now: built from the rows up to the cutoff."""
        return self.ledger.book(user, until_ms=self.cutoff_ms())

    def marked(self, book: WalletBook) -> list[Marked]:
        """Every position of ``book`` (open or closed) with its mark and status."""
        result: list[Marked] = []
        for position in book.positions.values():
            info = self.exchange.market_of(position.token_id)
            if info is None:
                continue
            opposite = info.tokens[1 - position.outcome_index]
            winner = self.exchange.winning_token(info.condition_id)
            other = book.positions.get(opposite.token_id)
            if position.size_micros == 0:
                status = PositionStatus.CLOSED
            elif winner is not None:
                status = PositionStatus.REDEEMABLE if winner == position.token_id else PositionStatus.REDEEMABLE_LOST
            elif position.size_micros > 0 and other is not None and other.size_micros > 0:
                status = PositionStatus.MERGEABLE
            else:
                status = PositionStatus.OPEN
            listing = self.exchange.listing(info.condition_id)
            result.append(
                Marked(
                    position=position,
                    wallet=book.wallet,
                    name=book.name,
                    mark_micros=self.mark_micros(position.token_id),
                    status=status,
                    title=info.question,
                    slug=listing.slug,
                    opposite_outcome=opposite.outcome,
                    opposite_token=opposite.token_id,
                    negative_risk=info.neg_risk,
                )
            )
        return result

    def total_pnl_picos(self, book: WalletBook) -> Fraction:
        """Realized plus unrealized P&L of every position of ``book``."""
        return book.realized_picos() + sum((m.unrealized_picos for m in self.marked(book)), Fraction(0))

    def value_picos(self, book: WalletBook, conditions: set[str] | None = None) -> int:
        """What ``book``'s open positions are worth at their marks."""
        return sum(
            m.current_picos
            for m in self.marked(book)
            if m.position.size_micros > 0 and (not conditions or m.position.condition_id in conditions)
        )

    def biggest_win_picos(self, book: WalletBook) -> Fraction:
        """The best realized P&L of one position in a resolved market (0 if none won)."""
        best = Fraction(0)
        for position in book.positions.values():
            info = self.exchange.market_of(position.token_id)
            if info is not None and self.exchange.winning_token(info.condition_id) is not None:
                best = max(best, position.realized_picos)
        return best
