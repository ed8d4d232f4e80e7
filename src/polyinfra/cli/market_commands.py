"""``polyinfra markets`` and ``polyinfra book``: what there is to trade, and one token's order book,
read once from the CLOB REST API (the emulator's by default, the venue's with ``--live``).

``markets`` walks ``GET /markets`` page by page and stops as soon as it has ``--limit`` matches.
The CLOB has no search endpoint, so ``--search`` is done here, over each market's question, slug
and tags. ``book`` reads ``GET /book`` and draws it as a depth ladder: asks above, bids below, each
level with its size and the size cumulated from the best price outwards, the spread and mid
between them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Final

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    EMULATOR_REST_URL,
    JsonOption,
    LiveOption,
    LogLevelOption,
    RestOption,
    configure_command_logging,
    one_line_errors,
    rest_client,
    unreachable,
    venue_rest_url,
)
from polyinfra.errors import InvalidValueError, NotFoundError, TransportError
from polyinfra.model.numbers import decimal_text

if TYPE_CHECKING:
    from polyinfra.model.book import Level, OrderBook
    from polyinfra.wire.clob_rest import Market

__all__ = ["BookLadder", "LadderLevel", "book", "book_ladder", "market_matches", "markets"]

DEFAULT_MARKETS_LIMIT: Final = 20
DEFAULT_BOOK_DEPTH: Final = 10


# --- markets ---------------------------------------------------------------------------------------


def market_matches(market: Market, *, search: str | None, active_only: bool) -> bool:
    """Whether ``market`` is listed: open for orders when ``active_only``, and ``search`` (any case)
    found in its question, slug or one of its tags when given."""
    if active_only and not (market.active and not market.closed and market.accepting_orders):
        return False
    return not search or market.mentions(search)


async def _first_matches(
    listing: AsyncIterator[Market], *, search: str | None, active_only: bool, limit: int
) -> list[Market]:
    found: list[Market] = []
    async for market in listing:
        if market_matches(market, search=search, active_only=active_only):
            found.append(market)
            if len(found) == limit:
                break  # before asking for another page
    return found


def _market_record(market: Market) -> dict[str, object]:
    return {
        "question": market.question,
        "condition_id": market.condition_id,
        "slug": market.market_slug,
        "active": market.active,
        "closed": market.closed,
        "accepting_orders": market.accepting_orders,
        "tags": market.tags or [],
        "tokens": [
            {"outcome": token.outcome, "token_id": token.token_id, "price": decimal_text(token.price)}
            for token in market.tokens
        ],
    }


def _market_text(market: Market) -> str:
    state = "closed" if market.closed else "accepting orders" if market.accepting_orders else "not accepting orders"
    lines = [market.question or market.market_slug, f"  condition id {market.condition_id} ({state})"]
    lines.extend(f"  {token.outcome}: {token.token_id} (price {decimal_text(token.price)})" for token in market.tokens)
    return "\n".join(lines)


def markets(
    *,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            metavar="TEXT",
            help="Only markets whose question, slug or tags contain TEXT (any case). Filtered here, "
            "page by page: the CLOB has no search.",
        ),
    ] = None,
    active: Annotated[bool, typer.Option("--active", help="Only markets accepting orders now.")] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, metavar="N", help="Stop after N markets.")
    ] = DEFAULT_MARKETS_LIMIT,
    json_output: JsonOption = False,
    rest: RestOption = EMULATOR_REST_URL,
    live: LiveOption = False,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """List markets with their condition and token ids."""
    import asyncio

    async def listed(rest_url: str) -> list[Market]:
        try:
            async with rest_client(rest_url) as client:
                return await _first_matches(client.iter_markets(), search=search, active_only=active, limit=limit)
        except TransportError as error:
            raise unreachable(rest_url, error) from error

    configure_command_logging(log_level)
    with one_line_errors("markets"):
        found = asyncio.run(listed(venue_rest_url(rest=rest, live=live)))
    if json_output:
        for market in found:
            _print_json(_market_record(market))
    else:
        typer.echo("\n".join(_market_text(market) for market in found) or "no market matches")


# --- book --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LadderLevel:
    """One price level of a side, with the size of it and every better level of the side."""

    price: Decimal
    size: Decimal
    cumulative: Decimal


@dataclass(frozen=True, slots=True)
class BookLadder:
    """A token's book as ``book`` shows it: up to ``depth`` levels per side, best first."""

    token_id: str
    market: str
    timestamp_ms: int | None
    asks: list[LadderLevel]
    bids: list[LadderLevel]
    spread: Decimal | None
    mid: Decimal | None
    last_trade: Decimal | None


def _cumulated(levels: Iterable[Level]) -> list[LadderLevel]:
    ladder, total = [], Decimal(0)
    for level in levels:
        total += level.size
        ladder.append(LadderLevel(level.price, level.size, total))
    return ladder


def book_ladder(book: OrderBook, depth: int) -> BookLadder:
    """The best ``depth`` levels of each side of ``book``, sizes cumulated from the best price."""
    from polyinfra.model.numbers import micros_to_decimal

    last = book.last_trade_price_micros
    return BookLadder(
        token_id=book.token_id,
        market=book.market,
        timestamp_ms=book.timestamp_ms,
        asks=_cumulated(book.asks(depth)),
        bids=_cumulated(book.bids(depth)),
        spread=book.spread(),
        mid=book.mid(),
        last_trade=None if last is None else micros_to_decimal(last),
    )


def _optional_text(value: Decimal | None) -> str | None:
    return None if value is None else decimal_text(value)


def _ladder_record(ladder: BookLadder) -> dict[str, object]:
    def side(levels: list[LadderLevel]) -> list[dict[str, str]]:
        return [
            {
                "price": decimal_text(level.price),
                "size": decimal_text(level.size),
                "cumulative": decimal_text(level.cumulative),
            }
            for level in levels
        ]

    return {
        "token_id": ladder.token_id,
        "market": ladder.market,
        "timestamp_ms": ladder.timestamp_ms,
        "asks": side(ladder.asks),
        "bids": side(ladder.bids),
        "spread": _optional_text(ladder.spread),
        "mid": _optional_text(ladder.mid),
        "last_trade": _optional_text(ladder.last_trade),
    }


_LADDER_ROW: Final = "{:<4} {:>10} {:>14} {:>16}"


def _ladder_row(side: str, level: LadderLevel) -> str:
    return _LADDER_ROW.format(side, *map(decimal_text, (level.price, level.size, level.cumulative)))


def ladder_text(ladder: BookLadder) -> str:
    """The ladder as lines: asks from the farthest down to the best, the spread, bids from the best."""
    middle = f"spread {_optional_text(ladder.spread) or '-'}  mid {_optional_text(ladder.mid) or '-'}"
    return "\n".join(
        (
            f"token {ladder.token_id}",
            _LADDER_ROW.format("", "price", "size", "cumulative"),
            *(_ladder_row("ask", level) for level in reversed(ladder.asks)),
            f"{'':<4} {middle}",
            *(_ladder_row("bid", level) for level in ladder.bids),
            f"last trade {_optional_text(ladder.last_trade) or '-'}",
        )
    )


def book(
    token: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="The token (outcome) id.")],
    *,
    depth: Annotated[
        int, typer.Option("--depth", min=1, metavar="N", help="Levels shown per side.")
    ] = DEFAULT_BOOK_DEPTH,
    json_output: JsonOption = False,
    rest: RestOption = EMULATOR_REST_URL,
    live: LiveOption = False,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Show a token's order book as a depth ladder.

    Asks above, bids below, with cumulative sizes, the spread and the mid.
    """
    import asyncio

    from polyinfra.core.from_wire import order_book_from_summary
    from polyinfra.model import ids

    async def fetched(rest_url: str) -> OrderBook:
        token_id = ids.token_id(token)
        try:
            async with rest_client(rest_url) as client:
                return order_book_from_summary(await client.get_book(token_id))
        except NotFoundError as error:
            raise InvalidValueError("unknown token", token_id=token_id) from error
        except TransportError as error:
            raise unreachable(rest_url, error) from error

    configure_command_logging(log_level)
    with one_line_errors("book"):
        ladder = book_ladder(asyncio.run(fetched(venue_rest_url(rest=rest, live=live))), depth)
    if json_output:
        _print_json(_ladder_record(ladder))
    else:
        typer.echo(ladder_text(ladder))


def _print_json(record: dict[str, object]) -> None:
    import json

    typer.echo(json.dumps(record, separators=(",", ":")))
