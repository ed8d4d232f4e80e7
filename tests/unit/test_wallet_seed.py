"""Positions as of the start of a late history, worked out by hand, and the ledger seeded with them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.core.wallet_ledger import WalletLedger
from polyinfra.core.wallet_seed import HeldPosition, positions_at_start
from polyinfra.errors import LedgerError
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

WALLET = "0x" + "a" * 40
CONDITION = "0x" + "c" * 64


def _trade(side: Side, size: str, usdc: str, t: int) -> WalletActivity:
    return WalletActivity(
        wallet=WALLET, kind=ActivityKind.TRADE, timestamp_s=t, condition_id=CONDITION, token_id=None,
        outcome_index=0, side=side, size=Decimal(size), usdc_size=Decimal(usdc), price=None, transaction_hash=f"0x{t}",
    )  # fmt: skip


def test_a_late_history_is_seeded_with_what_the_shares_cost_before_it() -> None:
    # Before the history: 100 YES bought for 40 (not listed). In it: 40 sold for 20, then 50 bought for 30.
    # Held now: 110 YES costing 60 x 0.40 + 30 = 54.
    history = [_trade(Side.SELL, "40", "20", 10), _trade(Side.BUY, "50", "30", 20)]
    seeded = positions_at_start([HeldPosition(CONDITION, 0, Decimal(110), Decimal(54))], history)
    assert seeded == [HeldPosition(CONDITION, 0, Decimal(100), Decimal(40))]
    ledger = WalletLedger(WALLET)
    for position in seeded:
        ledger.seed(position.condition_id, position.outcome_index, position.size, position.cost, timestamp_s=10)
    ledger.apply_all(history)
    assert ledger.realized.realized_market == Decimal(4)  # 20 for 40 shares that cost 16
    (position,) = ledger.positions()
    assert (position.size, position.cost) == (Decimal(110), Decimal(54))  # what the venue holds


def _row(kind: ActivityKind, size: str, usdc: str, t: int, outcome: int | None = None) -> WalletActivity:
    return WalletActivity(
        wallet=WALLET, kind=kind, timestamp_s=t, condition_id=CONDITION, token_id=None, outcome_index=outcome,
        side=None, size=Decimal(size), usdc_size=Decimal(usdc), price=None, transaction_hash=f"0x{t}",
    )  # fmt: skip


def test_splits_merges_and_redeems_are_rewound_as_the_ledger_applies_them() -> None:
    # Before: 10 YES costing 4. A split of 5 sets for 5 (2.50 to each outcome's cost), a merge of 3 sets
    # (YES keeps 12 of 15 shares: 6.50 x 12/15 = 5.20), then the 2 NO left are redeemed as losers.
    history = [
        _row(ActivityKind.SPLIT, "5", "5", 10),
        _row(ActivityKind.MERGE, "3", "3", 20),
        _row(ActivityKind.REDEEM, "2", "0", 30, outcome=1),
    ]
    seeded = positions_at_start([HeldPosition(CONDITION, 0, Decimal(12), Decimal("5.2"))], history)
    assert seeded == [HeldPosition(CONDITION, 0, Decimal(10), Decimal(4))]
    with pytest.raises(LedgerError, match="cannot be placed"):
        positions_at_start([], [_row(ActivityKind.CONVERSION, "1", "0", 40, outcome=0)])


def test_a_complete_history_seeds_nothing() -> None:
    history = [_trade(Side.BUY, "50", "30", 20), _trade(Side.SELL, "10", "7", 30)]
    assert positions_at_start([HeldPosition(CONDITION, 0, Decimal(40), Decimal(24))], history) == []


def test_what_cannot_be_worked_out_is_a_ledger_error() -> None:
    closed = [_trade(Side.SELL, "100", "60", 10), _trade(Side.BUY, "10", "5", 20)]
    with pytest.raises(LedgerError, match="closed within the history"):
        positions_at_start([HeldPosition(CONDITION, 0, Decimal(10), Decimal(5))], closed)
    with pytest.raises(LedgerError, match="fewer shares"):
        positions_at_start([], [_trade(Side.BUY, "10", "5", 20)])


_AMOUNT = st.decimals(min_value=0, max_value=10**6, places=6, allow_nan=False, allow_infinity=False)


@settings(max_examples=200)
@given(
    start=st.tuples(_AMOUNT, _AMOUNT),
    moves=st.lists(st.tuples(st.booleans(), _AMOUNT, _AMOUNT), max_size=8),
)
def test_seeding_from_the_rewound_positions_ends_where_the_venue_holds(
    start: tuple[Decimal, Decimal], moves: list[tuple[bool, Decimal, Decimal]]
) -> None:
    """Any history over any opening position: the rewind finds the opening again, or says why it cannot; it
    never fails with anything but a LedgerError. The ledger rounds the cost a sale takes to 10**-12, and
    the rewind divides by the share of the position the sales kept, so that is the precision it gets."""
    truth = WalletLedger(WALLET)
    truth.seed(CONDITION, 0, start[0], start[1])
    history = []
    kept = Decimal(1)
    for t, (buy, size, usdc) in enumerate(moves, start=1):
        held = sum((p.size for p in truth.positions()), Decimal(0))
        sold = min(size, held)
        row = _trade(Side.BUY if buy else Side.SELL, str(size if buy else sold), str(usdc), t)
        truth.apply(row)
        history.append(row)
        if not buy and held:
            kept *= (held - sold) / held
    now = [HeldPosition(CONDITION, 0, p.size, p.cost) for p in truth.positions()]
    try:
        seeded = positions_at_start(now, history)
    except LedgerError:
        return
    if start[0] == 0:
        assert seeded == []
        return
    (found,) = seeded
    assert found.size == start[0]
    assert abs(found.cost - start[1]) <= Decimal("1e-12") * (len(moves) + 1) / kept
