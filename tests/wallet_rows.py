"""Activity rows for the wallet analytics tests, written the short way: amounts as strings, the rest named."""

from __future__ import annotations

from decimal import Decimal

from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind, WalletActivity

WALLET = "0x00000000000000000000000000000000000000aa"


def activity(
    kind: ActivityKind,
    size: str | Decimal,
    usdc: str | Decimal,
    *,
    wallet: str = WALLET,
    condition: str = "0xm1",
    outcome: int | None = None,
    side: Side | None = None,
    t: int = 0,
    tx: str = "0xt",
    token: str | None = None,
) -> WalletActivity:
    """One row of ``wallet``'s activity."""
    return WalletActivity(
        wallet=wallet,
        kind=kind,
        timestamp_s=t,
        condition_id=condition,
        token_id=token,
        outcome_index=outcome,
        side=side,
        size=Decimal(size),
        usdc_size=Decimal(usdc),
        price=None,
        transaction_hash=tx,
    )


def trade(
    side: Side, outcome: int, size: str, usdc: str, *, wallet: str = WALLET, condition: str = "0xm1", t: int = 0
) -> WalletActivity:
    """A trade row: ``size`` shares of ``outcome`` bought or sold for ``usdc``."""
    return activity(ActivityKind.TRADE, size, usdc, wallet=wallet, condition=condition, outcome=outcome, side=side, t=t)
