"""A wallet's positions as of the start of an incomplete activity history, sans-I/O.

A wallet's available history can start after it first traded: the feed was read from a late start, a
v1 walk stopped at its offset ceiling, or the wallet received tokens by transfer (which the feed does
not list). A :class:`~polyinfra.core.wallet_ledger.WalletLedger` fed such a history alone refuses the
first row that takes shares it never saw bought. :func:`positions_at_start` works out what the wallet
held when the history starts, from what the Data API says it holds now: for each outcome,

    shares at the start = shares now - the shares the history added (buys, splits) + those it took
                          (sales, merges, redeems)

and the cost: the ledger's average cost makes the cost now an affine function of the cost at the start
(a buy adds its cash, a sale keeps the fraction of shares it leaves), which is solved exactly with
fractions. Seeded with those (:meth:`WalletLedger.seed`), the ledger applies the history and ends holding
what the venue holds, with the realized P&L of the history's span measured against what the shares
really cost; P&L realized before the start is the venue's to report (``/v2/user-pnl``), not invented.

Two cases cannot be worked out and raise :class:`~polyinfra.errors.LedgerError`: an outcome the history
takes more of than the wallet can have held (more sold than held at the start plus bought), and an
outcome held at the start whose position the history closes completely (its cost at the start leaves
no trace in what is held now). Neg-risk conversions and the single pre-2026-08 redeem row per condition
are not rewound either (their split between outcomes depends on holdings at the time).

Precision: the arithmetic adds no rounding but the last step to the ledger's 10**-12, so the seeded cost
is as exact as the cost now. That figure is the venue's (6 decimals), and its rounding is divided by the
share of the position the history's sales kept: a history that sold 99 % of a position and bought none
back magnifies it a hundredfold.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from polyinfra.core.wallet_ledger import from_units, to_units
from polyinfra.errors import LedgerError
from polyinfra.model.market_outcomes import MarketMap
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

__all__ = ["HeldPosition", "positions_at_start"]

_CASH_ONLY = frozenset(
    {ActivityKind.REWARD, ActivityKind.MAKER_REBATE, ActivityKind.TAKER_REBATE, ActivityKind.REFERRAL_REWARD}
)


@dataclass(frozen=True, slots=True)
class HeldPosition:
    """Shares of one outcome a wallet holds, and what they cost (the Data API's ``entry_cost_usdc``, or
    ``size * avg_price``)."""

    condition_id: str
    outcome_index: int
    size: Decimal
    cost: Decimal


def positions_at_start(
    held: Iterable[HeldPosition], history: Sequence[WalletActivity], markets: MarketMap | None = None
) -> list[HeldPosition]:
    """What the wallet held when ``history`` (its rows, oldest first) starts, given what it holds after it
    (``held``; outcomes not listed hold nothing): the positions to seed a ledger with before applying the
    history. Only outcomes with shares at the start are returned, ordered by condition and outcome."""
    markets = markets or MarketMap()
    steps: dict[tuple[str, int], list[tuple[int, int]]] = {}
    """Per outcome, the history's moves in order: (shares, cash), shares negative for a take."""
    for row in history:
        for outcome, shares, cash in _moves(row, markets):
            steps.setdefault(outcome, []).append((shares, cash))
    now = {(p.condition_id.lower(), p.outcome_index): p for p in held}
    found = []
    for outcome in sorted(set(steps) | set(now)):
        position = now.get(outcome)
        size_now = 0 if position is None else to_units(position.size, "size")
        cost_now = 0 if position is None else to_units(position.cost, "cost")
        moves = steps.get(outcome, [])
        start = size_now - sum(shares for shares, _ in moves)
        running = start
        scale, added = Fraction(1), Fraction(0)  # cost now = scale * cost at the start + added
        for shares, cash in moves:
            if shares >= 0:
                running += shares
                added += cash
                continue
            if running + shares < 0:
                raise _unknown("the history takes more shares than the wallet can have held", outcome, start)
            keep = Fraction(running + shares, running)
            scale, added = scale * keep, added * keep
            running += shares
        if start < 0:
            raise _unknown("the wallet holds fewer shares than its history leaves it", outcome, start)
        if start == 0:
            continue
        if scale == 0:
            raise _unknown(
                "a position held at the start is closed within the history: its cost is unknown", outcome, start
            )
        cost = (cost_now - added) / scale
        found.append(HeldPosition(outcome[0], outcome[1], from_units(start), from_units(max(0, round(cost)))))
    return found


def _moves(row: WalletActivity, markets: MarketMap) -> list[tuple[tuple[str, int], int, int]]:
    """The (outcome, shares, cash) moves of one row: shares positive when added (cash paid for them),
    negative when taken."""
    if row.kind in _CASH_ONLY:
        return []
    size = to_units(row.size, "size")
    cash = to_units(row.usdc_size, "usdc_size")
    condition_id = row.condition_id.lower()
    if row.kind is ActivityKind.TRADE and row.side is not None:
        outcome = (condition_id, _index(row, markets))
        return [(outcome, size, cash)] if row.side is Side.BUY else [(outcome, -size, 0)]
    count = markets.outcome_count(condition_id)
    if row.kind is ActivityKind.SPLIT:
        # The cash is shared among the outcomes as the ledger shares it.
        return [((condition_id, i), size, cash // count + (cash % count if i == 0 else 0)) for i in range(count)]
    if row.kind is ActivityKind.MERGE:
        return [((condition_id, i), -size, 0) for i in range(count)]
    if row.kind is ActivityKind.REDEEM and (row.outcome_index is not None or row.token_id is not None):
        return [((condition_id, _index(row, markets)), -size, 0)]
    raise LedgerError(
        "a row whose shares cannot be placed without the holdings at its time (a conversion, a redeem of"
        " a whole condition) or at all (a trade without a side)",
        kind=row.kind.value,
        timestamp_s=row.timestamp_s,
        transaction_hash=row.transaction_hash,
    )


def _index(row: WalletActivity, markets: MarketMap) -> int:
    if row.outcome_index is not None:
        return row.outcome_index
    located = None if row.token_id is None else markets.locate(row.token_id)
    if located is None:
        raise LedgerError("a row names no outcome", timestamp_s=row.timestamp_s, transaction_hash=row.transaction_hash)
    return located[1]


def _unknown(message: str, outcome: tuple[str, int], start: int) -> LedgerError:
    return LedgerError(message, condition_id=outcome[0], outcome_index=outcome[1], shares_at_start=from_units(start))
