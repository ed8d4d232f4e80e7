"""``polyinfra us order place | cancel | list`` and ``polyinfra us positions``: US exchange order entry.

Same endpoints and credentials as ``polyinfra us instruments`` (the emulator's gRPC port by default,
``--live`` for the venue, ``--grpc HOST:PORT``; a token from ``--token-url`` when the credentials are set).
Prices are YES-or-NO dollars and quantities contracts, exact: a price off the instrument's tick or a quantity
below its minimum is refused before anything is sent, as is an instrument that takes no orders. A refused
order prints the venue's reject sentence with the fix (``Error: ... hint=...``) and exits 1.

The client and gRPC are imported inside the commands, so ``polyinfra --help`` does not pay for them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    JsonOption,
    LogLevelOption,
    configure_command_logging,
    one_line_errors,
)
from polyinfra.cli.order_posting import print_json
from polyinfra.cli.us_commands import _CALLS_EPILOG, SymbolOption, UsEndpointOptions, endpoint_options

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from polyinfra.core.us_orders import UsOrder, UsPosition
    from polyinfra.us.order_entry import UsBalance, UsOrderEntry

__all__ = ["order_app", "register_us_order_commands"]

T = TypeVar("T")

order_app = typer.Typer(
    name="order",
    help="Place, cancel and list US exchange orders.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

AccountOption = Annotated[
    str, typer.Option("--account", metavar="ACCOUNT", help="The account (firms/<firm>/accounts/<account>).")
]


def _decimal(text: str, name: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise typer.BadParameter(f"not a decimal number: {text!r}", param_hint=name) from None


def _run(endpoint: UsEndpointOptions, work: Callable[[UsOrderEntry], Awaitable[T]]) -> T:
    """Run ``work`` with an order-entry client on the chosen endpoint."""
    from polyinfra.us.order_entry import UsOrderEntry

    return endpoint.resolve().run(lambda exchange: work(UsOrderEntry(exchange)))


def _order_record(order: UsOrder) -> dict[str, object]:
    from polyinfra.model.numbers import decimal_text

    return {
        "order_id": order.order_id,
        "clord_id": order.clord_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "state": order.state,
        "time_in_force": order.time_in_force,
        "price": decimal_text(order.price),
        "quantity": decimal_text(order.quantity),
        "filled": decimal_text(order.filled),
        "account": order.account,
    }


@order_app.command("place", epilog=_CALLS_EPILOG)
@endpoint_options
def place(
    symbol: Annotated[str, typer.Argument(metavar="SYMBOL", help="The instrument (market slug).")],
    side: Annotated[str, typer.Argument(metavar="SIDE", help="buy or sell.")],
    price: Annotated[str, typer.Argument(metavar="PRICE", help="Dollars, on the instrument's tick (e.g. 0.655).")],
    quantity: Annotated[str, typer.Argument(metavar="QUANTITY", help="Contracts (e.g. 3.12).")],
    *,
    outcome: Annotated[
        str, typer.Option("--outcome", help="yes or no (a NO order is sent as its YES mirror).")
    ] = "yes",
    tif: Annotated[str, typer.Option("--tif", help="gtc, day, ioc or fok.")] = "gtc",
    account: AccountOption = "",
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Place one limit order; prints its order id and client order id."""
    from polyinfra.core.us_orders import Outcome, UsOrderIntent, UsTimeInForce
    from polyinfra.model.numbers import Side

    configure_command_logging(log_level)
    sides = {"buy": Side.BUY, "sell": Side.SELL}
    if side.lower() not in sides:
        raise typer.BadParameter("buy or sell", param_hint="SIDE")
    if tif.upper() not in UsTimeInForce.__members__:
        raise typer.BadParameter("gtc, day, ioc or fok", param_hint="--tif")
    if outcome.upper() not in Outcome.__members__:
        raise typer.BadParameter("yes or no", param_hint="--outcome")
    intent = UsOrderIntent(
        symbol,
        sides[side.lower()],
        _decimal(price, "PRICE"),
        _decimal(quantity, "QUANTITY"),
        UsTimeInForce[tif.upper()],
        Outcome[outcome.upper()],
        account,
    )
    with one_line_errors("us order place"):
        placed = _run(endpoint, lambda entry: entry.place(intent))
    typer.echo(f"placed {placed.order_id} (clord_id {placed.clord_id})")


@order_app.command("cancel", epilog=_CALLS_EPILOG)
@endpoint_options
def cancel(
    order_id: Annotated[str, typer.Argument(metavar="ORDER_ID", help="The exchange's order id.")],
    *,
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Cancel one open order."""
    configure_command_logging(log_level)
    with one_line_errors("us order cancel"):
        _run(endpoint, lambda entry: entry.cancel(order_id=order_id))
    typer.echo(f"canceled {order_id}")


@order_app.command("list", epilog=_CALLS_EPILOG)
@endpoint_options
def list_orders(
    *,
    symbol: SymbolOption = None,
    json_output: JsonOption = False,
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """List the open orders (YES prices, contracts)."""

    configure_command_logging(log_level)
    with one_line_errors("us order list"):
        found = _run(endpoint, lambda entry: entry.open_orders(symbol or ()))
    records = [_order_record(order) for order in found]
    if json_output:
        for record in records:
            print_json(record)
        return
    if not records:
        typer.echo("no open order")
    for record in records:
        typer.echo(
            f"{record['order_id']}  {record['symbol']}  {record['side']} {record['quantity']} @ {record['price']}  "
            f"{record['state']} filled {record['filled']}  {record['clord_id']}"
        )


@endpoint_options
def positions(
    *,
    account: AccountOption = "",
    json_output: JsonOption = False,
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Show positions (contracts), balance and buying power (dollars)."""

    from polyinfra.model.numbers import decimal_text

    configure_command_logging(log_level)

    async def read(entry: UsOrderEntry) -> tuple[list[UsPosition], UsBalance]:
        return await entry.positions(account), await entry.balance(account)

    with one_line_errors("us positions"):
        held, balance = _run(endpoint, read)
    rows = [
        {"symbol": p.symbol, "net": decimal_text(p.net), "bought": decimal_text(p.bought), "sold": decimal_text(p.sold)}
        for p in held
    ]
    summary = {"balance": decimal_text(balance.balance), "buying_power": decimal_text(balance.buying_power)}
    if json_output:
        for row in rows:
            print_json(row)
        print_json(summary)
        return
    for row in rows:
        typer.echo(f"{row['symbol']}  net {row['net']}  bought {row['bought']}  sold {row['sold']}")
    typer.echo(f"balance {summary['balance']} USD, buying power {summary['buying_power']} USD")


def register_us_order_commands(us_app: typer.Typer) -> None:
    """Add ``us order`` and ``us positions`` to the ``us`` command group."""
    us_app.add_typer(order_app)
    us_app.command("positions", epilog=_CALLS_EPILOG)(positions)
