"""Posting signed orders from the command line, and reading what the venue says back.

``polyinfra order post`` reads what ``order sign`` wrote: one ``POST /order`` ``order`` object per
line. Each line is decoded as the wire struct (bounded, like every document polyinfra reads),
turned back into a :class:`~polyinfra.core.order_signing.SignedOrder` (its hash is computed under
the exchange its token's market uses, so the venue's ``neg_risk`` is asked once per token), and
posted 15 to a request through :meth:`TradingClient.post_orders`, which reconciles a chunk whose
fate is unknown by order hash before anything is sent again.

Output is one JSON line per order, in input order: ``{"line": N, "order_id": ..., "status": ...}``
or ``{"line": N, "order_id": ..., "error": "..."}``. A line that is not a signed order is one
line on stderr naming its number; the others are still posted.

A refusal for "not enough balance / allowance" is explained (:func:`explained_balance_refusal`):
the venue gives the same words for an order bigger than the funds, a missing allowance and its own
stale balance cache, and each has another fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import typer

from polyinfra.core.order_signing import EXCHANGE_CONTRACTS, SignedOrder, signed_order_from_payload
from polyinfra.errors import (
    InsufficientBalanceError,
    InvalidValueError,
    MalformedMessageError,
    NotFoundError,
    PolyinfraError,
)
from polyinfra.model.numbers import MICROS, Side
from polyinfra.model.orders import TimeInForce
from polyinfra.wire.clob_orders import OrderPayload
from polyinfra.wire.json_decoding import JsonDecoder

if TYPE_CHECKING:
    # The clients pull in httpx: the commands import them when they run, not for --help.
    from polyinfra.clob.rest import ClobRestClient
    from polyinfra.clob.trading import SendOrderResponse, TradingClient

__all__ = [
    "answer_fields",
    "exact_units",
    "explained_balance_refusal",
    "post_signed_lines",
    "print_json",
    "venue_units",
]

_SIGNED_LINE: Final[JsonDecoder[OrderPayload]] = JsonDecoder(OrderPayload, what="the line", max_bytes=64 * 1024)
"""A signed order is under 1 KiB (a POLY_1271 signature included); the bound is order sign's."""


async def post_signed_lines(
    lines: Iterable[bytes],
    client: TradingClient,
    public: ClobRestClient,
    order_type: TimeInForce,
    post_only: bool,
) -> tuple[int, int]:
    """Post every signed order of ``lines``, printing one JSON result line each; returns the count
    of lines that were not signed orders and of orders the venue refused."""
    from polyinfra.clob.trading import ORDERS_PER_REQUEST, OrderSubmission, SendOrderResponse

    neg_risk: dict[str, bool] = {}
    unreadable = refused = 0
    batch: list[tuple[int, OrderSubmission]] = []

    async def send() -> int:
        results = await client.post_orders([submission for _, submission in batch])
        failures = 0
        for (line_number, submission), result in zip(batch, results, strict=True):
            if isinstance(result, SendOrderResponse):
                print_json({"line": line_number, **answer_fields(result)})
                continue
            failures += 1
            error = result
            if isinstance(error, InsufficientBalanceError):
                error = await explained_balance_refusal(client, submission.signed, error)
            print_json({"line": line_number, "order_id": submission.signed.order_hash, "error": str(error)})
        batch.clear()
        return failures

    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            payload = _SIGNED_LINE.decode(line)
            if payload.token_id not in neg_risk:
                neg_risk[payload.token_id] = await public.get_neg_risk(payload.token_id)
            signed = signed_order_from_payload(payload, chain_id=client.chain_id, neg_risk=neg_risk[payload.token_id])
        except (InvalidValueError, MalformedMessageError, NotFoundError) as error:
            unreadable += 1
            typer.echo(f"polyinfra order post: line {line_number}: {error}", err=True)
            continue
        batch.append((line_number, OrderSubmission(signed, order_type, post_only)))
        if len(batch) == ORDERS_PER_REQUEST:
            refused += await send()
    if batch:
        refused += await send()
    return unreadable, refused


def print_json(value: object) -> None:
    """One compact JSON line on stdout."""
    typer.echo(json.dumps(value, separators=(",", ":")))


def answer_fields(answer: SendOrderResponse) -> dict[str, object]:
    """The venue's answer to a posted order, as the commands print it."""
    return {
        "order_id": answer.order_id,
        "status": answer.status,
        "making_amount": answer.making_amount,
        "taking_amount": answer.taking_amount,
        "trade_ids": answer.trade_ids,
    }


async def explained_balance_refusal(
    client: TradingClient, signed: SignedOrder, refusal: InsufficientBalanceError
) -> InsufficientBalanceError:
    """``refusal`` ("not enough balance / allowance") saying which: the order is bigger than the
    balance, an allowance is short, or the balance covers it and the venue's view is off (a stale
    cache, funds held by open orders), which ``polyinfra doctor`` sorts out."""
    from polyinfra.clob.trading import AssetType

    order = signed.order
    buying = order.side is Side.BUY
    # A BUY spends pUSD, a SELL the token's shares: both 6-decimal units, maker_amount is what it spends.
    unit = "pUSD" if buying else "shares"
    try:
        held = (
            await client.get_balance_allowance(AssetType.COLLATERAL)
            if buying
            else await client.get_balance_allowance(AssetType.CONDITIONAL, token_id=str(order.token_id))
        )
        balance = venue_units(held.balance, "balance")
        contracts = EXCHANGE_CONTRACTS[client.chain_id]
        spender = contracts.neg_risk_exchange_v2 if order.neg_risk else contracts.exchange_v2
        allowances = {address.lower(): amount for address, amount in held.allowances.items()}
        allowance = venue_units(allowances.get(spender.lower(), "0"), "allowance")
    except PolyinfraError:
        return refusal  # the venue's own answer still stands; the check is a courtesy
    needed = order.maker_amount
    if balance < needed:
        verdict = (
            f"order needs {exact_units(needed)} {unit}, balance is {exact_units(balance)}: lower the size or "
            "deposit (if you deposited already, run polyinfra doctor to refresh the venue's view)"
        )
    elif buying and allowance < needed:
        verdict = (
            f"order needs {exact_units(needed)} pUSD, the allowance to exchange {spender} is "
            f"{exact_units(allowance)}: approve pUSD for it; run polyinfra doctor"
        )
    else:
        verdict = (
            f"balance {exact_units(balance)} {unit} covers the {exact_units(needed)} this order needs: the "
            "venue's balance cache may be stale, or open orders hold part of it; run polyinfra doctor"
        )
    context = {name: value for name, value in refusal.context.items() if name != "hint"}
    return InsufficientBalanceError(f"{refusal.message}: {verdict}", retriable=refusal.retriable, **context)


_VENUE_DIGITS: Final = 80
"""A venue amount is at most a uint256 (78 digits): longer text is not an amount, and Python's
int() of it would cost time or refuse (past 4,300 digits) with a ValueError."""


def venue_units(amount: int | str, name: str) -> int:
    """A venue amount in 6-decimal units (``"10150000"``) as an int; :class:`MalformedMessageError`
    for text that is not one."""
    if isinstance(amount, int):
        return amount
    if not (amount.isascii() and amount.isdigit() and len(amount) <= _VENUE_DIGITS):
        raise MalformedMessageError(f"the venue's {name} is not a whole number of units", field=name, value=amount)
    return int(amount)


def exact_units(units: int | str, name: str = "amount") -> str:
    """6-decimal units as an exact decimal, no float and no context rounding (10150000 -> 10.15)."""
    whole, fraction = divmod(venue_units(units, name), MICROS)
    return f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")
