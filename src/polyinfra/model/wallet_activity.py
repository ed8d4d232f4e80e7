"""What one wallet did, as the Data API reports it: the rows wallet tracking and P&L are computed from.

One :class:`WalletActivity` is one row of the activity feed (v1 ``/activity`` or v2 ``/v2/activity``),
converted once from the wire shape: numbers exact ``Decimal``, wallet and ids lower case, the venue's
time in unix seconds (the feed's own unit). A :class:`ActivityPage` is one page of that feed for one
wallet, with the cursor that continues it; :class:`WalletActivitySource` is the seam between whatever
fetches those pages (the Data API client, a replay, a test) and whatever consumes them (the wallet
watch), so the consumer never knows which route or version served a page.

Rows of kind ``REDEEM`` come one per outcome since 2026-08 (``usdc_size`` 0 on the losing side), and the
venue has been seen to send ``price`` 0 on them: ``price`` is ``None`` where the row has none to give.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from msgspec import Struct

from polyinfra.model.numbers import Side

__all__ = ["ActivityKind", "ActivityPage", "FillSource", "WalletActivity", "WalletActivitySource"]


class ActivityKind(StrEnum):
    """The activity feed's ``type``, spelled as the venue spells it."""

    TRADE = "TRADE"
    SPLIT = "SPLIT"
    MERGE = "MERGE"
    REDEEM = "REDEEM"
    REWARD = "REWARD"
    CONVERSION = "CONVERSION"
    MAKER_REBATE = "MAKER_REBATE"
    TAKER_REBATE = "TAKER_REBATE"
    REFERRAL_REWARD = "REFERRAL_REWARD"


class FillSource(StrEnum):
    """Where a row came from: the Data API's (complete, 5-10 s behind) feed or a live push (fast, lossy)."""

    DATA_API = "data_api"
    LIVE = "live"


class WalletActivity(Struct, frozen=True, gc=False):
    """One row of a wallet's activity feed."""

    wallet: str
    """The proxy wallet the row belongs to, lower case."""
    kind: ActivityKind
    timestamp_s: int
    condition_id: str
    """Lower case; empty for rows about no market (a referral reward)."""
    token_id: str | None
    """The outcome token (``asset``); ``None`` for rows about a whole condition (split, merge)."""
    outcome_index: int | None
    side: Side | None
    """Set on trades only."""
    size: Decimal
    """Shares (outcome tokens); for split, merge and redeem, the number of complete sets or tokens."""
    usdc_size: Decimal
    """Cash moved, in USDC (pUSD) units: paid on a buy, received on a sell, redeem or reward."""
    price: Decimal | None
    transaction_hash: str
    source: FillSource = FillSource.DATA_API

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        """What makes two rows the same row, across pages, restarts and sources: one transaction can hold several
        rows of one wallet (both outcomes of a redeem, both sides when a wallet's order meets its own), so the
        hash alone is not enough. The outcome token stands for the outcome, not its index, because a live push
        carries the token only."""
        return (
            self.transaction_hash,
            self.wallet,
            self.condition_id,
            self.token_id or "",
            self.kind.value,
            self.side.value if self.side is not None else "",
        )


class ActivityPage(Struct, frozen=True, gc=False):
    """One page of one wallet's activity, oldest row first.

    ``next_cursor`` continues the same walk (``None``: the walk is complete up to ``complete_through_s``).
    ``complete_through_s`` is the venue time up to which the source vouches that no row is missing: a
    consumer moves its watermark there and no further."""

    wallet: str
    rows: tuple[WalletActivity, ...]
    next_cursor: str | None
    complete_through_s: int


class WalletActivitySource(Protocol):
    """Pages of one wallet's activity from ``start_s`` (inclusive), continued by ``cursor``.

    Raises a :class:`polyinfra.errors.PolyinfraError` (never returns a silently short page) when the source
    cannot prove the page is complete: a pagination ceiling, a cursor the venue no longer accepts."""

    async def activity_page(
        self, wallet: str, *, start_s: int, cursor: str | None = None, limit: int = 500
    ) -> ActivityPage: ...
