"""What the client's trading calls take and answer, beyond the venue's own records.

:class:`OrderRequest` is one order of :meth:`~polyinfra.client.async_client.AsyncPolymarket.place_orders`;
:class:`PlacedOrder` is an order the venue accepted, with the exact amounts that were signed next
to the venue's answer; :class:`Balance` is ``/balance-allowance`` in Decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal

from polyinfra.clob.trading import BalanceAllowance, SendOrderResponse
from polyinfra.errors import InvalidNumberError
from polyinfra.model.numbers import MICROS, Side
from polyinfra.model.orders import TimeInForce

__all__ = ["Balance", "OrderRequest", "PlacedOrder", "balance_from_wire"]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One limit order for :meth:`~polyinfra.client.async_client.AsyncPolymarket.place_orders`,
    with :meth:`~polyinfra.client.async_client.AsyncPolymarket.place_order`'s arguments."""

    token_id: str
    side: Side | str
    price: Decimal | str | int
    size: Decimal | str | int
    order_type: TimeInForce | str = TimeInForce.GTC
    post_only: bool = False
    expiration: int | None = None


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """An order the venue accepted: what was signed, exactly, and the venue's answer.

    ``size`` is in shares; for a market BUY ``amount`` is the dollars it may spend (``size`` then
    the shares that buys at ``price``, its worst price); neither is ever rounded: an order with
    more decimals than the venue takes is refused before signing. ``status`` is the venue's: ``live``
    (resting), ``matched``, ``delayed`` or ``unmatched``.
    """

    order_id: str
    status: str
    token_id: str
    side: Side
    price: Decimal
    size: Decimal
    amount: Decimal
    """pUSD: paid at most (BUY) or asked for (SELL), at ``price``."""
    order_type: TimeInForce
    wallet: str
    trade_ids: tuple[str, ...]
    response: SendOrderResponse
    """The venue's answer as sent (its amount strings untouched)."""


@dataclass(frozen=True, slots=True)
class Balance:
    """pUSD (or shares of one token) held, and the allowance per spender contract, exactly."""

    balance: Decimal
    allowances: dict[str, Decimal]


def balance_from_wire(answer: BalanceAllowance) -> Balance:
    """``/balance-allowance`` amounts are integer strings of micro-units ("10000000000" = 10,000)."""
    return Balance(
        balance=_micro_units(answer.balance, "balance"),
        allowances={spender: _micro_units(value, "allowance") for spender, value in answer.allowances.items()},
    )


# An allowance is a uint256: "unlimited" is 2**256 - 1, 78 digits; no venue amount is longer. The
# division by 10**6 is exact in a context of more digits than that (the price context has 60).
_MAX_AMOUNT_DIGITS = 78
_UINT256_EXACT = Context(prec=_MAX_AMOUNT_DIGITS + 2)
_MICROS_DECIMAL = Decimal(MICROS)


def _micro_units(text: str, name: str) -> Decimal:
    # Length first: int() of a longer text could take long (or pass Python's 4,300-digit limit).
    if not (0 < len(text) <= _MAX_AMOUNT_DIGITS and text.isascii() and text.isdigit()):
        raise InvalidNumberError(f"{name} is not a whole number of micro-units", field=name, value=text)
    return _UINT256_EXACT.divide(Decimal(int(text)), _MICROS_DECIMAL)
