"""The Data API's activity rows as :class:`~polyinfra.model.wallet_activity.WalletActivity`, and how far a
page proves a wallet's history complete; sans-I/O.

Both generations convert here, once: v1 ``/activity`` rows (:class:`~polyinfra.wire.data_api.DataApiActivity`)
and v2 ``/v2/activity`` rows (:class:`~polyinfra.wire.data_api.V2Activity`). Wallets, condition ids and
hashes become lower case; numbers are checked by :func:`~polyinfra.model.numbers.bounded_decimal`
(a hostile ``1e999999`` is refused, never computed with); an unknown ``type`` or ``side`` is a
:class:`~polyinfra.errors.MalformedMessageError`. ``outcome_index`` 999 means "unlabelled" and
becomes ``None``; a REDEEM row's ``price`` 0 (seen on the venue) is no price, so ``None``.

**Completeness.** The Data API is complete but 5-10 s behind the chain (venue notes: Data API): a
row of the last few seconds may not be served yet, so a page never vouches for them.
:func:`complete_through_s` is the venue second up to which a page proves the wallet's history:

* a page with more to come proves up to one second before its newest row (rows of that same second
  may continue on the next page);
* the last page of a walk proves up to ``now - lag_allowance_s - 1``: a second is complete only once
  all of it is older than the allowance (``now`` is a whole second, a row's time anywhere in its second);
* either way never beyond that horizon, and never before ``start_s - 1`` (nothing is claimed about
  the time before the walk started).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final, TypeVar

from msgspec import UnsetType

from polyinfra.errors import InvalidNumberError, MalformedMessageError
from polyinfra.model.numbers import MAX_TIMESTAMP_DIGITS, Side, bounded_decimal
from polyinfra.model.wallet_activity import ActivityKind, FillSource, WalletActivity
from polyinfra.wire.data_api import DataApiActivity, V2Activity

__all__ = ["UNLABELLED_OUTCOME", "activity_from_v1", "activity_from_v2", "complete_through_s"]

UNLABELLED_OUTCOME: Final = 999
"""The v2 ``outcome_index`` of an unlabelled outcome (venue notes: Data API)."""

_KINDS: Final = {kind.value: kind for kind in ActivityKind}
_SIDES: Final = {side.value: side for side in Side}
_MAX_TIMESTAMP: Final = 10**MAX_TIMESTAMP_DIGITS
_T = TypeVar("_T")


def activity_from_v2(row: V2Activity) -> WalletActivity:
    """One ``/v2/activity`` row; :class:`MalformedMessageError` for a value no activity row holds."""
    return _activity(
        wallet=row.proxy_wallet,
        type_=row.type,
        timestamp_s=row.timestamp,
        condition_id=row.condition_id,
        asset=row.asset,
        outcome_index=row.outcome_index,
        side=row.side,
        size=row.size,
        usdc_size=row.usdc_size,
        price=row.price,
        transaction_hash=row.transaction_hash,
    )


def activity_from_v1(row: DataApiActivity) -> WalletActivity:
    """One v1 ``/activity`` row; :class:`MalformedMessageError` for a value no activity row holds."""
    return _activity(
        wallet=row.proxy_wallet,
        type_=row.type,
        timestamp_s=row.timestamp,
        condition_id=_present(row.condition_id),
        asset=_present(row.asset),
        outcome_index=_present(row.outcome_index),
        side=_present(row.side),
        size=row.size,
        usdc_size=row.usdc_size,
        price=_present(row.price),
        transaction_hash=row.transaction_hash,
    )


def complete_through_s(*, start_s: int, now_s: int, lag_allowance_s: int, newest_row_s: int | None, more: bool) -> int:
    """The venue second up to which one page proves the history complete (see the module docstring)."""
    horizon = now_s - lag_allowance_s - 1
    if not more:
        proven = horizon
    elif newest_row_s is None:
        proven = start_s - 1
    else:
        proven = newest_row_s - 1
    return max(start_s - 1, min(proven, horizon))


def _present(value: _T | UnsetType) -> _T | None:
    return None if isinstance(value, UnsetType) else value


def _activity(
    *,
    wallet: str,
    type_: str,
    timestamp_s: int,
    condition_id: str | None,
    asset: str | None,
    outcome_index: int | None,
    side: str | None,
    size: Decimal,
    usdc_size: Decimal,
    price: Decimal | None,
    transaction_hash: str,
) -> WalletActivity:
    kind = _KINDS.get(type_)
    if kind is None:
        raise MalformedMessageError("unknown activity type", field="type", value=type_[:40], wallet=wallet[:42])
    if not 0 <= timestamp_s < _MAX_TIMESTAMP:
        raise MalformedMessageError("activity timestamp out of range", field="timestamp", value=timestamp_s)
    trade_side: Side | None = None
    if kind is ActivityKind.TRADE:
        trade_side = _SIDES.get(side or "")
        if trade_side is None:
            raise MalformedMessageError("a trade row without a BUY or SELL side", field="side", value=(side or "")[:40])
    if outcome_index is not None and (outcome_index == UNLABELLED_OUTCOME or outcome_index < 0):
        outcome_index = None
    try:
        size = bounded_decimal(size)
        usdc_size = bounded_decimal(usdc_size)
        price = None if price is None else bounded_decimal(price)
    except InvalidNumberError as exc:
        raise MalformedMessageError(f"activity number out of range: {exc.message}", wallet=wallet[:42]) from None
    if price is not None and kind is ActivityKind.REDEEM and price == 0:
        price = None
    return WalletActivity(
        wallet=wallet.lower(),
        kind=kind,
        timestamp_s=timestamp_s,
        condition_id=(condition_id or "").lower(),
        token_id=asset or None,
        outcome_index=outcome_index,
        side=trade_side,
        size=size,
        usdc_size=usdc_size,
        price=price,
        transaction_hash=transaction_hash.lower(),
        source=FillSource.DATA_API,
    )
