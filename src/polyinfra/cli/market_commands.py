"""``polyinfra markets`` and ``polyinfra book``: what there is to trade, and one token's order book,
read once from the CLOB REST API (the emulator's by default, the venue's with ``--live``).

``markets`` walks ``GET /markets`` page by page and stops as soon as it has ``--limit`` matches.
The CLOB has no search endpoint, so ``--search`` asks Gamma's ``/public-search`` (the emulator's
under ``/gamma``, the venue's with ``--live``, or ``--gamma URL``) and lists the markets of the
events found whose question, slug or event title contain the text. ``book`` reads ``GET /book``
and draws it as a depth ladder: asks above, bids below, each level with its size and the size
cumulated from the best price outwards, the spread and mid between them.
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
    ONE_SHOT_RETRY,
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

GAMMA_URL: Final = "https://gamma-api.polymarket.com"
"""The venue's Gamma API, for ``markets --search --live``."""

if TYPE_CHECKING:
    from polyinfra.model.book import Level, OrderBook
    from polyinfra.wire.clob_rest import Market
    from polyinfra.wire.gamma import GammaEvent, GammaMarket

__all__ = ["BookLadder", "LadderLevel", "book", "book_ladder", "market_matches", "markets"]

DEFAULT_MARKETS_LIMIT: Final = 20
DEFAULT_BOOK_DEPTH: Final = 10


# --- markets ---------------------------------------------------------------------------------------


def market_matches(market: Market, *, active_only: bool) -> bool:
    """Whether ``market`` is listed: every market, or only those open for orders when ``active_only``."""
    return not active_only or (market.active and not market.closed and market.accepting_orders)


async def _first_matches(listing: AsyncIterator[Market], *, active_only: bool, limit: int) -> list[Market]:
    found: list[Market] = []
    async for market in listing:
        if market_matches(market, active_only=active_only):
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


def _gamma_matches(market: GammaMarket, event: GammaEvent, text: str, *, active_only: bool) -> bool:
    if active_only and not (market.active is True and market.closed is not True and market.accepting_orders is True):
        return False
    wanted = text.casefold()
    return any(
        isinstance(field, str) and wanted in field.casefold() for field in (market.question, market.slug, event.title)
    )


def _gamma_record(market: GammaMarket, event: GammaEvent) -> dict[str, object]:
    from polyinfra.core.from_wire import gamma_outcomes

    return {
        "question": _text(market.question),
        "condition_id": _text(market.condition_id),
        "slug": _text(market.slug),
        "active": market.active is True,
        "closed": market.closed is True,
        "accepting_orders": market.accepting_orders is True,
        "tags": [tag.label for tag in event.tags or () if isinstance(tag.label, str)],
        "tokens": [
            {"outcome": outcome, "token_id": token_id, "price": None if price is None else decimal_text(price)}
            for outcome, token_id, price in gamma_outcomes(market)
        ],
    }


def _gamma_text(record: dict[str, object]) -> str:
    state = (
        "closed" if record["closed"] else "accepting orders" if record["accepting_orders"] else "not accepting orders"
    )
    lines = [str(record["question"] or record["slug"]), f"  condition id {record['condition_id']} ({state})"]
    tokens = record["tokens"]
    assert isinstance(tokens, list)
    lines.extend(f"  {token['outcome']}: {token['token_id']} (price {token['price']})" for token in tokens)
    return "\n".join(lines)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


async def _searched(gamma_url: str, text: str, *, active_only: bool, limit: int) -> list[dict[str, object]]:
    from polyinfra.data.gamma import GammaClient
    from polyinfra.wire.gamma import GammaSearchPagination

    found: list[dict[str, object]] = []
    seen: set[str] = set()
    page = 1
    async with GammaClient(gamma_url, retry=ONE_SHOT_RETRY) as gamma:
        while len(found) < limit:
            answer = await gamma.search(text, page=page)
            for event in answer.events or ():
                for market in event.markets or ():
                    key = _text(market.condition_id)
                    if key not in seen and _gamma_matches(market, event, text, active_only=active_only):
                        seen.add(key)
                        found.append(_gamma_record(market, event))
            if not isinstance(answer.pagination, GammaSearchPagination) or answer.pagination.has_more is not True:
                break
            page += 1
    return found[:limit]


def gamma_url_for(*, rest: str, live: bool, gamma: str | None) -> str:
    """Gamma's URL: ``gamma`` if given, the venue's with ``live``, else the emulator's beside ``rest``."""
    if gamma is not None:
        return gamma
    return GAMMA_URL if live else rest.rstrip("/") + "/gamma"


def markets(
    *,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            metavar="TEXT",
            help="Only markets whose question, slug or event title contain TEXT (any case), found with "
            "Gamma's public search.",
        ),
    ] = None,
    gamma: Annotated[
        str | None,
        typer.Option(
            "--gamma",
            metavar="URL",
            help="Gamma API for --search (default: the emulator's, beside --rest; the venue's with --live).",
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
                return await _first_matches(client.iter_markets(), active_only=active, limit=limit)
        except TransportError as error:
            raise unreachable(rest_url, error) from error

    configure_command_logging(log_level)
    if search is not None:
        gamma_url = gamma_url_for(rest=venue_rest_url(rest=rest, live=live), live=live, gamma=gamma)

        async def searched() -> list[dict[str, object]]:
            try:
                return await _searched(gamma_url, search, active_only=active, limit=limit)
            except TransportError as error:
                raise unreachable(rest if gamma is None and not live else gamma_url, error) from error

        with one_line_errors("markets"):
            records = asyncio.run(searched())
        if json_output:
            for record in records:
                _print_json(record)
        else:
            typer.echo("\n".join(_gamma_text(record) for record in records) or "no market matches")
        return
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
