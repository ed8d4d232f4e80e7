"""The CLOB's public REST endpoints, each defined once for both clients of :mod:`polyinfra.clob.rest`.

An endpoint is a small function that checks its arguments and returns a :class:`Call`: the
requests to send and how their answers become the result. A cursor-paged endpoint is a
:class:`Listing`, walked page by page with :func:`page_call` and :func:`cursor_after`. Nothing
here sends anything: the async and the sync client each send a call's requests through their own
transport, which is all they differ in.

Batch endpoints (``POST /books``, ``/prices``, ``/midpoints``, ``/spreads``, ``/last-trades-prices``)
take at most :data:`TOKENS_PER_REQUEST` items; longer lists go in several requests, one after the
other. Each token (or token and side) is asked once, and results come back in the caller's order.
Tokens the venue answers nothing for are left out: the emulator leaves out unknown tokens and those
without the value, and the venue documents no other behaviour.

Arguments are checked before any request: a malformed token or condition id, an empty list, a
single string where a list is expected, a side other than BUY / SELL or an unknown history
interval raise :class:`~polyinfra.errors.InvalidValueError`. Everything else arrives as the
transport raises it (:class:`~polyinfra.errors.NotFoundError` for an unknown token or market,
:class:`~polyinfra.errors.MalformedMessageError` for a body that does not match its schema), or as
:mod:`~polyinfra.core.from_wire` rejects a venue value; no httpx or msgspec exception gets out.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Generic, TypeVar

import msgspec

from polyinfra.core.from_wire import (
    last_trade_from_wire,
    market_info_from_clob_market_info,
    market_info_from_market,
    price_from_wire,
    price_history_from_wire,
    tick_size_from_wire,
)
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model import ids
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize
from polyinfra.net.http_request import QueryParams, Response
from polyinfra.wire.clob_rest import (
    ClobMarketInfo,
    LastTradePrice,
    LastTradesPricesItem,
    Market,
    MarketByToken,
    MarketsPage,
    MarketTradeEvent,
    Midpoint,
    MidpointsByToken,
    NegRiskInfo,
    OrderBookSummary,
    PriceHistory,
    PriceQuote,
    PricesByToken,
    SimplifiedMarket,
    SimplifiedMarketsPage,
    Spread,
    SpreadsByToken,
    TickSizeInfo,
    VersionInfo,
)
from polyinfra.wire.clob_rewards import MarketRewards, RewardsMarket, RewardsPage

__all__ = [
    "BOOKS_PER_REQUEST",
    "END_CURSOR",
    "FIRST_CURSOR",
    "PRICE_HISTORY_INTERVALS",
    "TOKENS_PER_REQUEST",
    "Call",
    "Listing",
    "Page",
]

TOKENS_PER_REQUEST: Final = 500
"""Items per batch request: bigger payloads are refused ("Payload exceeds the limit", venue notes: Rate limits)."""

BOOKS_PER_REQUEST: Final = TOKENS_PER_REQUEST
"""Tokens per ``POST /books``: the batch limit under the name live books size their snapshots by."""

FIRST_CURSOR: Final = "MA=="
"""``next_cursor`` of the first page: base64 of offset 0 (venue notes: REST routes)."""

END_CURSOR: Final = "LTE="
"""``next_cursor`` after the last page: base64 of -1 (venue notes: REST routes)."""

PRICE_HISTORY_INTERVALS: Final = frozenset({"max", "all", "1m", "1w", "1d", "6h", "1h"})
"""``interval`` values ``GET /prices-history`` accepts (venue notes: REST routes); ``"1m"`` is a month."""

_T = TypeVar("_T")
_V = TypeVar("_V")
_Item = TypeVar("_Item")

_encode = msgspec.json.Encoder().encode

# --- requests and answers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    params: QueryParams | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class Call(Generic[_T]):
    """One client method's work: the requests to send, in order (several only for a batch beyond
    the payload limit), and how their answers make the result."""

    requests: tuple[_Request, ...]
    result: Callable[[list[Response]], _T]


@dataclass(frozen=True, slots=True)
class Page(Generic[_Item]):
    items: list[_Item]
    next_cursor: str


def _get(path: str, read: Callable[[Response], _T], params: QueryParams | None = None) -> Call[_T]:
    return Call((_Request("GET", path, params),), lambda responses: read(responses[0]))


def _post_in_chunks(path: str, items: list[dict[str, str]], result: Callable[[list[Response]], _T]) -> Call[_T]:
    requests = tuple(
        _Request("POST", path, body=_encode(items[start : start + TOKENS_PER_REQUEST]))
        for start in range(0, len(items), TOKENS_PER_REQUEST)
    )
    return Call(requests, result)


def ok() -> Call[None]:
    def read(response: Response) -> None:
        # The body is the JSON string "OK"; anything else (a proxy's HTML page) is not the venue.
        response.decode(str)

    return _get("/ok", read)


def server_time() -> Call[int]:
    # A bare integer, not an object (venue notes: REST routes).
    return _get("/time", lambda response: response.decode(int))


def version() -> Call[int]:
    return _get("/version", lambda response: response.decode(VersionInfo).version)


def book(token_id: str) -> Call[OrderBookSummary]:
    return _get("/book", lambda response: response.decode(OrderBookSummary), {"token_id": _token(token_id)})


def books(token_ids: Iterable[str]) -> Call[list[OrderBookSummary]]:
    tokens = _unique_tokens(token_ids)
    return _post_in_chunks("/books", [{"token_id": token} for token in tokens], functools.partial(_summaries, tokens))


def books_answer(token_ids: Iterable[str]) -> Call[tuple[list[OrderBookSummary], bytes]]:
    tokens = _unique_tokens(token_ids)
    if len(tokens) > BOOKS_PER_REQUEST:
        # Several requests would give several bodies: the caller splits, so each body stays whole.
        raise InvalidValueError("too many tokens for one POST /books", tokens=len(tokens), limit=BOOKS_PER_REQUEST)

    def result(responses: list[Response]) -> tuple[list[OrderBookSummary], bytes]:
        (response,) = responses
        return _summaries(tokens, responses), response.content

    return _post_in_chunks("/books", [{"token_id": token} for token in tokens], result)


def _summaries(tokens: list[TokenId], responses: list[Response]) -> list[OrderBookSummary]:
    """The summaries of ``POST /books`` answers, in the order ``tokens`` were asked, each once."""
    by_token = {
        summary.asset_id: summary for response in responses for summary in response.decode(list[OrderBookSummary])
    }
    return [by_token[token] for token in tokens if token in by_token]


def price(token_id: str, side: Side | str) -> Call[Decimal]:
    token, wanted = _token(token_id), _side(side)
    return _get(
        "/price",
        lambda response: price_from_wire(response.decode(PriceQuote).price, token_id=token, field="price"),
        {"token_id": token, "side": wanted.value},
    )


def prices(requests: Iterable[tuple[str, Side | str]]) -> Call[dict[tuple[str, Side], Decimal]]:
    if isinstance(requests, str):
        raise InvalidValueError("expected (token id, side) pairs, got one string", requests=requests)
    pairs = list(dict.fromkeys((_token(token), _side(side)) for token, side in requests))
    if not pairs:
        raise InvalidValueError("no (token id, side) pairs given")

    def result(responses: list[Response]) -> dict[tuple[str, Side], Decimal]:
        quoted: dict[str, dict[str, Decimal]] = {}
        for response in responses:
            for token, by_side in response.decode(PricesByToken).items():
                quoted.setdefault(token, {}).update(by_side)
        return {
            (token, side): price_from_wire(quoted[token][side.value], token_id=token, field=side.value)
            for token, side in pairs
            if side.value in quoted.get(token, {})
        }

    return _post_in_chunks("/prices", [{"token_id": token, "side": side.value} for token, side in pairs], result)


def midpoint(token_id: str) -> Call[Decimal]:
    return _token_price("/midpoint", token_id, lambda response: response.decode(Midpoint).mid, "mid")


def midpoints(token_ids: Iterable[str]) -> Call[dict[str, Decimal]]:
    return _token_prices("/midpoints", token_ids, MidpointsByToken, "mid")


def spread(token_id: str) -> Call[Decimal]:
    return _token_price("/spread", token_id, lambda response: response.decode(Spread).spread, "spread")


def spreads(token_ids: Iterable[str]) -> Call[dict[str, Decimal]]:
    return _token_prices("/spreads", token_ids, SpreadsByToken, "spread")


def _token_price(path: str, token_id: str, read: Callable[[Response], str], field: str) -> Call[Decimal]:
    """A ``GET`` of one token's price-like value (its answer's ``field``)."""
    token = _token(token_id)
    return _get(
        path, lambda response: price_from_wire(read(response), token_id=token, field=field), {"token_id": token}
    )


def _token_prices(
    path: str, token_ids: Iterable[str], answer: type[dict[str, Decimal]], field: str
) -> Call[dict[str, Decimal]]:
    """A batch ``POST`` of a price-like value by token, in the order asked; tokens without one are left out."""
    tokens = _unique_tokens(token_ids)

    def result(responses: list[Response]) -> dict[str, Decimal]:
        by_token = _merged(responses, answer)
        return {
            token: price_from_wire(by_token[token], token_id=token, field=field)
            for token in tokens
            if token in by_token
        }

    return _post_in_chunks(path, [{"token_id": token} for token in tokens], result)


def last_trade_price(token_id: str) -> Call[tuple[Decimal, Side] | None]:
    token = _token(token_id)
    return _get(
        "/last-trade-price",
        lambda response: last_trade_from_wire(response.decode(LastTradePrice), token_id=token),
        {"token_id": token},
    )


def last_trades_prices(token_ids: Iterable[str]) -> Call[dict[str, tuple[Decimal, Side]]]:
    tokens = _unique_tokens(token_ids)

    def result(responses: list[Response]) -> dict[str, tuple[Decimal, Side]]:
        answers = {
            item.token_id: item for response in responses for item in response.decode(list[LastTradesPricesItem])
        }
        trades = {token: last_trade_from_wire(answers[token], token_id=token) for token in tokens if token in answers}
        return {token: trade for token, trade in trades.items() if trade is not None}

    return _post_in_chunks("/last-trades-prices", [{"token_id": token} for token in tokens], result)


def tick_size(token_id: str) -> Call[TickSize]:
    token = _token(token_id)
    return _get(
        "/tick-size",
        lambda response: tick_size_from_wire(response.decode(TickSizeInfo), token_id=token),
        {"token_id": token},
    )


def neg_risk(token_id: str) -> Call[bool]:
    return _get("/neg-risk", lambda response: response.decode(NegRiskInfo).neg_risk, {"token_id": _token(token_id)})


def prices_history(
    token_id: str, interval: str | None, start_s: int | None, end_s: int | None, fidelity_minutes: int | None
) -> Call[list[tuple[int, Decimal]]]:
    token = _token(token_id)
    # The venue names the token "market" here (venue notes: REST routes).
    params: dict[str, str | int] = {"market": token}
    if interval is not None:
        if start_s is not None or end_s is not None:
            raise InvalidValueError("give an interval or start_s and end_s, not both", interval=interval)
        if interval not in PRICE_HISTORY_INTERVALS:
            raise InvalidValueError(
                "not a price history interval", interval=interval, allowed=sorted(PRICE_HISTORY_INTERVALS)
            )
        params["interval"] = interval
    elif start_s is not None and end_s is not None:
        if not 0 <= start_s <= end_s:
            raise InvalidValueError("the window must be 0 <= start_s <= end_s", start_s=start_s, end_s=end_s)
        params["startTs"], params["endTs"] = start_s, end_s
    else:
        raise InvalidValueError("give an interval, or both start_s and end_s", start_s=start_s, end_s=end_s)
    if fidelity_minutes is not None:
        if fidelity_minutes < 1:
            raise InvalidValueError("fidelity must be at least 1 minute", fidelity_minutes=fidelity_minutes)
        params["fidelity"] = fidelity_minutes
    return _get(
        "/prices-history",
        lambda response: price_history_from_wire(response.decode(PriceHistory), token_id=token),
        params,
    )


def raw_market(condition_id: str) -> Call[Market]:
    return _get(f"/markets/{_condition(condition_id)}", lambda response: response.decode(Market))


def market(condition_id: str) -> Call[MarketInfo]:
    return _get(
        f"/markets/{_condition(condition_id)}", lambda response: market_info_from_market(response.decode(Market))
    )


def market_by_token(token_id: str) -> Call[ConditionId]:
    return _get(
        f"/markets-by-token/{_token(token_id)}",
        lambda response: ids.condition_id(response.decode(MarketByToken).condition_id),
    )


def clob_market_info(condition_id: str) -> Call[MarketInfo]:
    condition = _condition(condition_id)
    return _get(
        f"/clob-markets/{condition}",
        lambda response: market_info_from_clob_market_info(condition, response.decode(ClobMarketInfo)),
    )


@dataclass(frozen=True, slots=True)
class Listing(Generic[_Item]):
    """A cursor-paged endpoint: its path and how one of its pages reads."""

    path: str
    read_page: Callable[[Response], Page[_Item]]


def _markets_page(response: Response) -> Page[Market]:
    page = response.decode(MarketsPage)
    return Page(page.data, page.next_cursor)


def _simplified_markets_page(response: Response) -> Page[SimplifiedMarket]:
    page = response.decode(SimplifiedMarketsPage)
    return Page(page.data, page.next_cursor)


def _current_rewards_page(response: Response) -> Page[RewardsMarket]:
    page = response.decode(RewardsPage[RewardsMarket])
    return Page(page.data, page.next_cursor)


def _market_rewards_page(response: Response) -> Page[MarketRewards]:
    page = response.decode(RewardsPage[MarketRewards])
    return Page(page.data, page.next_cursor)


def market_rewards_listing(condition_id: str) -> Listing[MarketRewards]:
    return Listing(f"/rewards/markets/{_condition(condition_id)}", _market_rewards_page)


def market_trade_events(condition_id: str) -> Call[list[MarketTradeEvent]]:
    return _get(
        f"/markets/live-activity/{_condition(condition_id)}",
        lambda response: response.decode(list[MarketTradeEvent]),
    )


MARKETS: Final = Listing("/markets", _markets_page)
SIMPLIFIED_MARKETS: Final = Listing("/simplified-markets", _simplified_markets_page)
SAMPLING_MARKETS: Final = Listing("/sampling-markets", _markets_page)
SAMPLING_SIMPLIFIED_MARKETS: Final = Listing("/sampling-simplified-markets", _simplified_markets_page)
CURRENT_REWARDS: Final = Listing("/rewards/markets/current", _current_rewards_page)


def page_call(listing: Listing[_Item], cursor: str) -> Call[Page[_Item]]:
    return _get(listing.path, listing.read_page, {"next_cursor": cursor})


def cursor_after(listing: Listing[_Item], cursor: str, page: Page[_Item]) -> str | None:
    """The cursor of the next page, None once the listing has ended."""
    # An empty page ends the listing whatever its cursor says: never loop on a venue quirk.
    if page.next_cursor == END_CURSOR or not page.items:
        return None
    if page.next_cursor == cursor:
        # The same page again, forever: refuse rather than hand out duplicates.
        raise MalformedMessageError("paging does not advance", endpoint=listing.path, next_cursor=cursor)
    return page.next_cursor


def _merged(responses: list[Response], type_: type[dict[str, _V]]) -> dict[str, _V]:
    merged: dict[str, _V] = {}
    for response in responses:
        merged.update(response.decode(type_))
    return merged


# --- arguments -----------------------------------------------------------------------------------


def _token(token_id: str) -> TokenId:
    if not isinstance(token_id, str):
        raise InvalidValueError("a token id is a string of decimal digits", token_id=token_id)
    return ids.token_id(token_id)


def _unique_tokens(token_ids: Iterable[str]) -> list[TokenId]:
    if isinstance(token_ids, str):
        # A string is an iterable of one-digit "token ids": never what was meant.
        raise InvalidValueError("expected token ids, got one string", token_ids=token_ids)
    tokens = list(dict.fromkeys(_token(token) for token in token_ids))
    if not tokens:
        raise InvalidValueError("no token ids given")
    return tokens


def _side(side: Side | str) -> Side:
    try:
        return Side(side)
    except ValueError:
        raise InvalidValueError("side must be BUY or SELL", side=side) from None


def _condition(condition_id: str) -> ConditionId:
    if not isinstance(condition_id, str):
        raise InvalidValueError("a condition id is a string (0x + 64 hex digits)", condition_id=condition_id)
    return ids.condition_id(condition_id)
