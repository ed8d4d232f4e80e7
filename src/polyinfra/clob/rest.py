"""Typed clients for the CLOB's public REST endpoints (venue notes: REST routes, Responses).

:class:`ClobRestClient` (async) and :class:`SyncClobRestClient` (blocking, for scripts) have the
same methods, and each endpoint is defined once, below the clients: a small function checks the
arguments and returns a :class:`_Call` — the requests to send and how their answers become the
result. The async client sends a call's requests through :class:`~polyinfra.net.http.HttpTransport`,
the sync one through :class:`~polyinfra.net.http.SyncHttpTransport`; that is all they differ in,
which is why both live here, as both transports live in one module. The transports do the rate
limits, retries, circuit breakers and error translation.

Results are domain types, converted by :mod:`polyinfra.core.from_wire`: exact ``Decimal`` prices,
:class:`~polyinfra.model.numbers.TickSize`, :class:`~polyinfra.model.market.MarketInfo`. Some
answers stay the venue's records, on purpose:

* book summaries (:meth:`ClobRestClient.get_book`, :meth:`~ClobRestClient.get_books`): their hash
  can only be verified over the strings as received (``book_hash_matches``), which is how live
  books use them; :func:`~polyinfra.core.from_wire.order_book_from_summary` makes an
  :class:`~polyinfra.model.book.OrderBook` of one;
* listings (:meth:`~ClobRestClient.iter_markets` and its siblings): the venue's catalogue holds
  markets no ``MarketInfo`` can describe (closed ones with empty token ids, in the real ``/markets``
  capture), and a listing is read for fields ``MarketInfo`` lacks (``active``, ``closed``,
  ``accepting_orders``, token prices, winners); ``market_info_from_market`` converts an entry;
* :meth:`~ClobRestClient.get_raw_market`, the whole ``/markets/{condition_id}`` record;
* reward programs (:meth:`~ClobRestClient.iter_current_rewards`,
  :meth:`~ClobRestClient.iter_market_rewards`) and a market's trade events
  (:meth:`~ClobRestClient.get_market_trade_events`), records with exact ``Decimal`` amounts or the
  venue's strings.

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
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Final, Generic, Self, TypeVar

import msgspec

from polyinfra.core.from_wire import (
    last_trade_from_wire,
    market_info_from_clob_market_info,
    market_info_from_market,
    price_from_wire,
    price_history_from_wire,
    tick_size_from_wire,
)
from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.core.venue_rate_limits import CLOB_LIMITS
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model import ids
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize
from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http import HttpTransport, SyncHttpTransport
from polyinfra.net.http_request import QueryParams, Response, Timeouts
from polyinfra.net.retry import RetryPolicy
from polyinfra.net.transport_client import TransportClient
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
    "ClobRestClient",
    "SyncClobRestClient",
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


# --- the clients ---------------------------------------------------------------------------------


class ClobRestClient(TransportClient):
    """Public market-data calls against the venue or the emulator (``base_url`` without a trailing slash).

    ``timeout_s`` is each attempt's connect, read, write and pool timeout. ``rate_limits``,
    ``retry`` and ``breakers`` configure the transport the client builds; pass ``transport``
    instead to share one (the client then leaves closing it to its owner).
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        rate_limits: RateLimitTable = CLOB_LIMITS,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        transport: HttpTransport | None = None,
    ) -> None:
        super().__init__(
            transport,
            lambda: HttpTransport(
                base_url, rate_limits=rate_limits, retry=retry, breakers=breakers, timeouts=_timeouts(timeout_s)
            ),
        )

    async def _perform(self, call: _Call[_T]) -> _T:
        responses = [
            await self.transport.request(request.method, request.path, params=request.params, content=request.body)
            for request in call.requests
        ]
        return call.result(responses)

    async def _walk(self, listing: _Listing[_Item]) -> AsyncIterator[_Item]:
        cursor: str | None = FIRST_CURSOR
        while cursor is not None:
            page = await self._perform(_page_call(listing, cursor))
            cursor = _cursor_after(listing, cursor, page)
            for item in page.items:
                yield item

    # -- service --------------------------------------------------------------------------------

    async def get_ok(self) -> None:
        """``GET /ok``: returns when the venue answers healthy, raises the typed error otherwise."""
        return await self._perform(_ok())

    async def get_server_time(self) -> int:
        """``GET /time``: the venue's clock, in unix seconds."""
        return await self._perform(_server_time())

    async def get_version(self) -> int:
        """``GET /version``: the CLOB API generation (2 since the V2 cutover)."""
        return await self._perform(_version())

    # -- books and prices -----------------------------------------------------------------------

    async def get_book(self, token_id: str) -> OrderBookSummary:
        """``GET /book``: the token's book summary as received (hash verifiable; best price last on
        both sides). ``order_book_from_summary`` makes an ``OrderBook`` of it."""
        return await self._perform(_book(token_id))

    async def get_books(self, token_ids: Iterable[str]) -> list[OrderBookSummary]:
        """``POST /books``: the summaries of many tokens, in the order asked, each token once; tokens
        without a book are left out."""
        return await self._perform(_books(token_ids))

    async def get_books_answer(self, token_ids: Iterable[str]) -> tuple[list[OrderBookSummary], bytes]:
        """``POST /books`` for at most :data:`BOOKS_PER_REQUEST` tokens, as :meth:`get_books`, and
        the answer's body exactly as received (what a recorder keeps, so that a parser fixed later
        reads the venue's bytes, not polyinfra's copy of them)."""
        return await self._perform(_books_answer(token_ids))

    async def get_price(self, token_id: str, side: Side | str) -> Decimal:
        """``GET /price``: the best price for ``side`` (BUY quotes the best bid, SELL the best ask,
        as the venue does). :class:`NotFoundError` when the token has no book or that side is empty."""
        return await self._perform(_price(token_id, side))

    async def get_prices(self, requests: Iterable[tuple[str, Side | str]]) -> dict[tuple[str, Side], Decimal]:
        """``POST /prices``: the best price of each ``(token_id, side)`` asked, keyed and ordered as
        asked; pairs without a price are left out."""
        return await self._perform(_prices(requests))

    async def get_midpoint(self, token_id: str) -> Decimal:
        """``GET /midpoint``: halfway between the best bid and the best ask."""
        return await self._perform(_midpoint(token_id))

    async def get_midpoints(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """``POST /midpoints``: the midpoint of each token, in the order asked; tokens without one are left out."""
        return await self._perform(_midpoints(token_ids))

    async def get_spread(self, token_id: str) -> Decimal:
        """``GET /spread``: best ask minus best bid."""
        return await self._perform(_spread(token_id))

    async def get_spreads(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """``POST /spreads``: the spread of each token, in the order asked; tokens without one are left out."""
        return await self._perform(_spreads(token_ids))

    async def get_last_trade_price(self, token_id: str) -> tuple[Decimal, Side] | None:
        """``GET /last-trade-price``: (price, taker side) of the token's last trade, None if it never
        traded (the venue then answers a placeholder 0.5)."""
        return await self._perform(_last_trade_price(token_id))

    async def get_last_trades_prices(self, token_ids: Iterable[str]) -> dict[str, tuple[Decimal, Side]]:
        """``POST /last-trades-prices``: (price, taker side) of each token's last trade, in the order
        asked; tokens that never traded (or that the venue does not know) are left out."""
        return await self._perform(_last_trades_prices(token_ids))

    async def get_tick_size(self, token_id: str) -> TickSize:
        """``GET /tick-size``: the token's market's current tick size."""
        return await self._perform(_tick_size(token_id))

    async def get_neg_risk(self, token_id: str) -> bool:
        """``GET /neg-risk``: whether the token's market is a negative-risk one (its own exchange contract)."""
        return await self._perform(_neg_risk(token_id))

    async def get_prices_history(
        self,
        token_id: str,
        *,
        interval: str | None = None,
        start_s: int | None = None,
        end_s: int | None = None,
        fidelity_minutes: int | None = None,
    ) -> list[tuple[int, Decimal]]:
        """``GET /prices-history``: (unix seconds, price) points, oldest first.

        Give an ``interval`` reaching back from now (one of :data:`PRICE_HISTORY_INTERVALS`) or
        both ``start_s`` and ``end_s``; ``fidelity_minutes`` keeps one point per that many minutes.
        """
        return await self._perform(_prices_history(token_id, interval, start_s, end_s, fidelity_minutes))

    # -- markets --------------------------------------------------------------------------------

    async def get_market(self, condition_id: str) -> MarketInfo:
        """``GET /markets/{condition_id}``: the market's trading rules. Its fee schedule is None:
        ``/markets`` carries none; :meth:`get_clob_market_info` has it."""
        return await self._perform(_market(condition_id))

    async def get_raw_market(self, condition_id: str) -> Market:
        """``GET /markets/{condition_id}`` as the venue's record, for the fields ``MarketInfo`` lacks
        (state, token prices, rewards, slug, dates)."""
        return await self._perform(_raw_market(condition_id))

    async def get_market_by_token(self, token_id: str) -> ConditionId:
        """``GET /markets-by-token/{token_id}``: the condition id of the token's market."""
        return await self._perform(_market_by_token(token_id))

    async def get_clob_market_info(self, condition_id: str) -> MarketInfo:
        """``GET /clob-markets/{condition_id}``: the market's trading rules with its fee schedule.
        Its ``question`` is ``""``: this answer carries none."""
        return await self._perform(_clob_market_info(condition_id))

    def iter_markets(self) -> AsyncIterator[Market]:
        """Every market of ``GET /markets``, page after page as it is consumed (the venue picks the
        page size: 100 in the real capture). Stop early by leaving the loop."""
        return self._walk(_MARKETS)

    def iter_simplified_markets(self) -> AsyncIterator[SimplifiedMarket]:
        """Every market of ``GET /simplified-markets``, lazily paged like :meth:`iter_markets`."""
        return self._walk(_SIMPLIFIED_MARKETS)

    def iter_sampling_markets(self) -> AsyncIterator[Market]:
        """Every market of ``GET /sampling-markets`` (those eligible for liquidity rewards), lazily paged."""
        return self._walk(_SAMPLING_MARKETS)

    def iter_sampling_simplified_markets(self) -> AsyncIterator[SimplifiedMarket]:
        """Every market of ``GET /sampling-simplified-markets``, lazily paged."""
        return self._walk(_SAMPLING_SIMPLIFIED_MARKETS)

    # -- rewards and activity -------------------------------------------------------------------

    def iter_current_rewards(self) -> AsyncIterator[RewardsMarket]:
        """Every market whose liquidity-reward program runs today (``GET /rewards/markets/current``),
        lazily paged: daily pool, smallest qualifying order, widest qualifying spread (in cents)."""
        return self._walk(_CURRENT_REWARDS)

    def iter_market_rewards(self, condition_id: str) -> AsyncIterator[MarketRewards]:
        """The reward program of one market (``GET /rewards/markets/{condition_id}``), lazily paged;
        nothing for a market without one."""
        return self._walk(_market_rewards_listing(condition_id))

    async def get_market_trade_events(self, condition_id: str) -> list[MarketTradeEvent]:
        """``GET /markets/live-activity/{condition_id}``: the market's recent trades, newest first,
        as the venue's records (sizes and prices as sent)."""
        return await self._perform(_market_trade_events(condition_id))


class SyncClobRestClient:
    """The blocking twin of :class:`ClobRestClient`, for scripts: same arguments, same methods, same
    answers, over :class:`~polyinfra.net.http.SyncHttpTransport`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        rate_limits: RateLimitTable = CLOB_LIMITS,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        transport: SyncHttpTransport | None = None,
    ) -> None:
        self._owns_transport = transport is None
        self.transport = (
            transport
            if transport is not None
            else SyncHttpTransport(
                base_url, rate_limits=rate_limits, retry=retry, breakers=breakers, timeouts=_timeouts(timeout_s)
            )
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the transport, if this client built it."""
        if self._owns_transport:
            self.transport.close()

    def _perform(self, call: _Call[_T]) -> _T:
        responses = [
            self.transport.request(request.method, request.path, params=request.params, content=request.body)
            for request in call.requests
        ]
        return call.result(responses)

    def _walk(self, listing: _Listing[_Item]) -> Iterator[_Item]:
        cursor: str | None = FIRST_CURSOR
        while cursor is not None:
            page = self._perform(_page_call(listing, cursor))
            cursor = _cursor_after(listing, cursor, page)
            yield from page.items

    def get_ok(self) -> None:
        """As :meth:`ClobRestClient.get_ok`, blocking."""
        return self._perform(_ok())

    def get_server_time(self) -> int:
        """As :meth:`ClobRestClient.get_server_time`, blocking."""
        return self._perform(_server_time())

    def get_version(self) -> int:
        """As :meth:`ClobRestClient.get_version`, blocking."""
        return self._perform(_version())

    def get_book(self, token_id: str) -> OrderBookSummary:
        """As :meth:`ClobRestClient.get_book`, blocking."""
        return self._perform(_book(token_id))

    def get_books(self, token_ids: Iterable[str]) -> list[OrderBookSummary]:
        """As :meth:`ClobRestClient.get_books`, blocking."""
        return self._perform(_books(token_ids))

    def get_price(self, token_id: str, side: Side | str) -> Decimal:
        """As :meth:`ClobRestClient.get_price`, blocking."""
        return self._perform(_price(token_id, side))

    def get_prices(self, requests: Iterable[tuple[str, Side | str]]) -> dict[tuple[str, Side], Decimal]:
        """As :meth:`ClobRestClient.get_prices`, blocking."""
        return self._perform(_prices(requests))

    def get_midpoint(self, token_id: str) -> Decimal:
        """As :meth:`ClobRestClient.get_midpoint`, blocking."""
        return self._perform(_midpoint(token_id))

    def get_midpoints(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """As :meth:`ClobRestClient.get_midpoints`, blocking."""
        return self._perform(_midpoints(token_ids))

    def get_spread(self, token_id: str) -> Decimal:
        """As :meth:`ClobRestClient.get_spread`, blocking."""
        return self._perform(_spread(token_id))

    def get_spreads(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """As :meth:`ClobRestClient.get_spreads`, blocking."""
        return self._perform(_spreads(token_ids))

    def get_last_trade_price(self, token_id: str) -> tuple[Decimal, Side] | None:
        """As :meth:`ClobRestClient.get_last_trade_price`, blocking."""
        return self._perform(_last_trade_price(token_id))

    def get_last_trades_prices(self, token_ids: Iterable[str]) -> dict[str, tuple[Decimal, Side]]:
        """As :meth:`ClobRestClient.get_last_trades_prices`, blocking."""
        return self._perform(_last_trades_prices(token_ids))

    def get_tick_size(self, token_id: str) -> TickSize:
        """As :meth:`ClobRestClient.get_tick_size`, blocking."""
        return self._perform(_tick_size(token_id))

    def get_neg_risk(self, token_id: str) -> bool:
        """As :meth:`ClobRestClient.get_neg_risk`, blocking."""
        return self._perform(_neg_risk(token_id))

    def get_prices_history(
        self,
        token_id: str,
        *,
        interval: str | None = None,
        start_s: int | None = None,
        end_s: int | None = None,
        fidelity_minutes: int | None = None,
    ) -> list[tuple[int, Decimal]]:
        """As :meth:`ClobRestClient.get_prices_history`, blocking."""
        return self._perform(_prices_history(token_id, interval, start_s, end_s, fidelity_minutes))

    def get_market(self, condition_id: str) -> MarketInfo:
        """As :meth:`ClobRestClient.get_market`, blocking."""
        return self._perform(_market(condition_id))

    def get_raw_market(self, condition_id: str) -> Market:
        """As :meth:`ClobRestClient.get_raw_market`, blocking."""
        return self._perform(_raw_market(condition_id))

    def get_market_by_token(self, token_id: str) -> ConditionId:
        """As :meth:`ClobRestClient.get_market_by_token`, blocking."""
        return self._perform(_market_by_token(token_id))

    def get_clob_market_info(self, condition_id: str) -> MarketInfo:
        """As :meth:`ClobRestClient.get_clob_market_info`, blocking."""
        return self._perform(_clob_market_info(condition_id))

    def iter_markets(self) -> Iterator[Market]:
        """As :meth:`ClobRestClient.iter_markets`, blocking."""
        return self._walk(_MARKETS)

    def iter_simplified_markets(self) -> Iterator[SimplifiedMarket]:
        """As :meth:`ClobRestClient.iter_simplified_markets`, blocking."""
        return self._walk(_SIMPLIFIED_MARKETS)

    def iter_sampling_markets(self) -> Iterator[Market]:
        """As :meth:`ClobRestClient.iter_sampling_markets`, blocking."""
        return self._walk(_SAMPLING_MARKETS)

    def iter_sampling_simplified_markets(self) -> Iterator[SimplifiedMarket]:
        """As :meth:`ClobRestClient.iter_sampling_simplified_markets`, blocking."""
        return self._walk(_SAMPLING_SIMPLIFIED_MARKETS)

    def iter_current_rewards(self) -> Iterator[RewardsMarket]:
        """As :meth:`ClobRestClient.iter_current_rewards`, blocking."""
        return self._walk(_CURRENT_REWARDS)

    def iter_market_rewards(self, condition_id: str) -> Iterator[MarketRewards]:
        """As :meth:`ClobRestClient.iter_market_rewards`, blocking."""
        return self._walk(_market_rewards_listing(condition_id))

    def get_market_trade_events(self, condition_id: str) -> list[MarketTradeEvent]:
        """As :meth:`ClobRestClient.get_market_trade_events`, blocking."""
        return self._perform(_market_trade_events(condition_id))


def _timeouts(timeout_s: float) -> Timeouts:
    return Timeouts(connect_s=timeout_s, read_s=timeout_s, write_s=timeout_s, pool_s=timeout_s)


# --- the endpoints, shared by both clients ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    params: QueryParams | None = None
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Call(Generic[_T]):
    """One client method's work: the requests to send, in order (several only for a batch beyond
    the payload limit), and how their answers make the result."""

    requests: tuple[_Request, ...]
    result: Callable[[list[Response]], _T]


@dataclass(frozen=True, slots=True)
class _Page(Generic[_Item]):
    items: list[_Item]
    next_cursor: str


def _get(path: str, read: Callable[[Response], _T], params: QueryParams | None = None) -> _Call[_T]:
    return _Call((_Request("GET", path, params),), lambda responses: read(responses[0]))


def _post_in_chunks(path: str, items: list[dict[str, str]], result: Callable[[list[Response]], _T]) -> _Call[_T]:
    requests = tuple(
        _Request("POST", path, body=_encode(items[start : start + TOKENS_PER_REQUEST]))
        for start in range(0, len(items), TOKENS_PER_REQUEST)
    )
    return _Call(requests, result)


def _ok() -> _Call[None]:
    def read(response: Response) -> None:
        # The body is the JSON string "OK"; anything else (a proxy's HTML page) is not the venue.
        response.decode(str)

    return _get("/ok", read)


def _server_time() -> _Call[int]:
    # A bare integer, not an object (venue notes: REST routes).
    return _get("/time", lambda response: response.decode(int))


def _version() -> _Call[int]:
    return _get("/version", lambda response: response.decode(VersionInfo).version)


def _book(token_id: str) -> _Call[OrderBookSummary]:
    return _get("/book", lambda response: response.decode(OrderBookSummary), {"token_id": _token(token_id)})


def _books(token_ids: Iterable[str]) -> _Call[list[OrderBookSummary]]:
    tokens = _unique_tokens(token_ids)
    return _post_in_chunks("/books", [{"token_id": token} for token in tokens], functools.partial(_summaries, tokens))


def _books_answer(token_ids: Iterable[str]) -> _Call[tuple[list[OrderBookSummary], bytes]]:
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


def _price(token_id: str, side: Side | str) -> _Call[Decimal]:
    token, wanted = _token(token_id), _side(side)
    return _get(
        "/price",
        lambda response: price_from_wire(response.decode(PriceQuote).price, token_id=token, field="price"),
        {"token_id": token, "side": wanted.value},
    )


def _prices(requests: Iterable[tuple[str, Side | str]]) -> _Call[dict[tuple[str, Side], Decimal]]:
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


def _midpoint(token_id: str) -> _Call[Decimal]:
    token = _token(token_id)
    return _get(
        "/midpoint",
        lambda response: price_from_wire(response.decode(Midpoint).mid, token_id=token, field="mid"),
        {"token_id": token},
    )


def _midpoints(token_ids: Iterable[str]) -> _Call[dict[str, Decimal]]:
    tokens = _unique_tokens(token_ids)

    def result(responses: list[Response]) -> dict[str, Decimal]:
        mids = _merged(responses, MidpointsByToken)
        return {token: price_from_wire(mids[token], token_id=token, field="mid") for token in tokens if token in mids}

    return _post_in_chunks("/midpoints", [{"token_id": token} for token in tokens], result)


def _spread(token_id: str) -> _Call[Decimal]:
    token = _token(token_id)
    return _get(
        "/spread",
        lambda response: price_from_wire(response.decode(Spread).spread, token_id=token, field="spread"),
        {"token_id": token},
    )


def _spreads(token_ids: Iterable[str]) -> _Call[dict[str, Decimal]]:
    tokens = _unique_tokens(token_ids)

    def result(responses: list[Response]) -> dict[str, Decimal]:
        spreads = _merged(responses, SpreadsByToken)
        return {
            token: price_from_wire(spreads[token], token_id=token, field="spread")
            for token in tokens
            if token in spreads
        }

    return _post_in_chunks("/spreads", [{"token_id": token} for token in tokens], result)


def _last_trade_price(token_id: str) -> _Call[tuple[Decimal, Side] | None]:
    token = _token(token_id)
    return _get(
        "/last-trade-price",
        lambda response: last_trade_from_wire(response.decode(LastTradePrice), token_id=token),
        {"token_id": token},
    )


def _last_trades_prices(token_ids: Iterable[str]) -> _Call[dict[str, tuple[Decimal, Side]]]:
    tokens = _unique_tokens(token_ids)

    def result(responses: list[Response]) -> dict[str, tuple[Decimal, Side]]:
        answers = {
            item.token_id: item for response in responses for item in response.decode(list[LastTradesPricesItem])
        }
        trades = {token: last_trade_from_wire(answers[token], token_id=token) for token in tokens if token in answers}
        return {token: trade for token, trade in trades.items() if trade is not None}

    return _post_in_chunks("/last-trades-prices", [{"token_id": token} for token in tokens], result)


def _tick_size(token_id: str) -> _Call[TickSize]:
    token = _token(token_id)
    return _get(
        "/tick-size",
        lambda response: tick_size_from_wire(response.decode(TickSizeInfo), token_id=token),
        {"token_id": token},
    )


def _neg_risk(token_id: str) -> _Call[bool]:
    return _get("/neg-risk", lambda response: response.decode(NegRiskInfo).neg_risk, {"token_id": _token(token_id)})


def _prices_history(
    token_id: str, interval: str | None, start_s: int | None, end_s: int | None, fidelity_minutes: int | None
) -> _Call[list[tuple[int, Decimal]]]:
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


def _raw_market(condition_id: str) -> _Call[Market]:
    return _get(f"/markets/{_condition(condition_id)}", lambda response: response.decode(Market))


def _market(condition_id: str) -> _Call[MarketInfo]:
    return _get(
        f"/markets/{_condition(condition_id)}", lambda response: market_info_from_market(response.decode(Market))
    )


def _market_by_token(token_id: str) -> _Call[ConditionId]:
    return _get(
        f"/markets-by-token/{_token(token_id)}",
        lambda response: ids.condition_id(response.decode(MarketByToken).condition_id),
    )


def _clob_market_info(condition_id: str) -> _Call[MarketInfo]:
    condition = _condition(condition_id)
    return _get(
        f"/clob-markets/{condition}",
        lambda response: market_info_from_clob_market_info(condition, response.decode(ClobMarketInfo)),
    )


@dataclass(frozen=True, slots=True)
class _Listing(Generic[_Item]):
    """A cursor-paged endpoint: its path and how one of its pages reads."""

    path: str
    read_page: Callable[[Response], _Page[_Item]]


def _markets_page(response: Response) -> _Page[Market]:
    page = response.decode(MarketsPage)
    return _Page(page.data, page.next_cursor)


def _simplified_markets_page(response: Response) -> _Page[SimplifiedMarket]:
    page = response.decode(SimplifiedMarketsPage)
    return _Page(page.data, page.next_cursor)


def _current_rewards_page(response: Response) -> _Page[RewardsMarket]:
    page = response.decode(RewardsPage[RewardsMarket])
    return _Page(page.data, page.next_cursor)


def _market_rewards_page(response: Response) -> _Page[MarketRewards]:
    page = response.decode(RewardsPage[MarketRewards])
    return _Page(page.data, page.next_cursor)


def _market_rewards_listing(condition_id: str) -> _Listing[MarketRewards]:
    return _Listing(f"/rewards/markets/{_condition(condition_id)}", _market_rewards_page)


def _market_trade_events(condition_id: str) -> _Call[list[MarketTradeEvent]]:
    return _get(
        f"/markets/live-activity/{_condition(condition_id)}",
        lambda response: response.decode(list[MarketTradeEvent]),
    )


_MARKETS: Final = _Listing("/markets", _markets_page)
_SIMPLIFIED_MARKETS: Final = _Listing("/simplified-markets", _simplified_markets_page)
_SAMPLING_MARKETS: Final = _Listing("/sampling-markets", _markets_page)
_SAMPLING_SIMPLIFIED_MARKETS: Final = _Listing("/sampling-simplified-markets", _simplified_markets_page)
_CURRENT_REWARDS: Final = _Listing("/rewards/markets/current", _current_rewards_page)


def _page_call(listing: _Listing[_Item], cursor: str) -> _Call[_Page[_Item]]:
    return _get(listing.path, listing.read_page, {"next_cursor": cursor})


def _cursor_after(listing: _Listing[_Item], cursor: str, page: _Page[_Item]) -> str | None:
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
