"""The emulated venue's public CLOB REST API (venue notes: REST routes, Responses), served from the exchange.

Shapes, status codes and error bodies are the venue's: ``{"error": "<message>"}`` with the
messages of the venue's error reference (``Invalid token id``, ``Invalid side``, ``Invalid
payload``, ``Payload exceeds the limit``, ``No orderbook exists for the requested token id``);
numbers are strings where the venue sends strings and exact JSON numbers (from ``Decimal``) where
it sends numbers. Both raw (``MA==``) and url-encoded (``MA%3D%3D``) cursors work, as V1 clients
send the first and V2 clients the second (venue notes: REST routes).

Every route passes through the HTTP fault knobs (latency, injected 429 / 425 / 5xx) before it is
handled, and so do the trading routes (:meth:`RestApi.venue_route`); the emulator's own
``/_emulator/`` endpoints and the WebSocket upgrades do not.
:meth:`RestApi.outage_response` answers for a restart or a 5xx storm (:class:`OutageSchedule`) and
:meth:`RestApi.post_only_refusal` for the post-only mode after a restart: the server asks them
before routing, the second once the request is authenticated, as it reads the orders in the body.

Where the venue's behaviour is not documented the emulator picks one and says so: a batch request
answers for the tokens that have a value and leaves the others out, and a price that needs a book
side that is empty answers like a token without a book (404).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Final, TypeVar

import msgspec
from aiohttp import web

from polyinfra.core.token_requests import (
    BATCH_LIMIT,
    NO_ORDERBOOK,
    TokenRequest,
    requested_batch,
    requested_token,
)
from polyinfra.emulator.client_input import whole_number
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig, FaultDice, HttpFault, OutageSchedule
from polyinfra.emulator.paging import page_of
from polyinfra.emulator.poison import poison_document
from polyinfra.emulator.rewards import RewardProgram
from polyinfra.errors import ApiError, InvalidValueError, MalformedMessageError
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, format_micros
from polyinfra.wire.clob_rest import (
    JSON_ENCODER,
    ClobMarketInfo,
    ClobToken,
    ErrorBody,
    FeeDetails,
    LastTradePrice,
    LastTradesPricesItem,
    Market,
    MarketsPage,
    MarketToken,
    Midpoint,
    NegRiskInfo,
    PriceHistory,
    PriceHistoryPoint,
    PriceQuote,
    Rewards,
    SimplifiedMarket,
    SimplifiedMarketsPage,
    Spread,
    TickSizeInfo,
)
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["BATCH_LIMIT", "DEFAULT_PAGE_SIZE", "RestApi", "RestStats", "too_many_requests"]

DEFAULT_PAGE_SIZE: Final = 100
"""Markets per page, as in the real ``/markets`` capture (``limit: 100``, ``next_cursor: "MTAw"``)."""


_FEE_RATE_NOT_FOUND: Final = "fee rate not found for market"
_V1_FEE_AUTHORIZATION_BPS: Final = 1000
_INVALID_SIDE: Final = "Invalid side"
# What the venue says during matching-engine restarts, as plain text: py-clob-client#273 shows
# ``error_message=service not ready``, which the official client prints for a non-JSON body.
_SERVICE_NOT_READY: Final = "service not ready"
_POST_ONLY_MODE: Final = "post-only mode: only post-only orders and cancels are allowed"
# The requests that place orders, refused in post-only mode unless every order is post-only.
_ORDER_PLACEMENTS: Final = frozenset({("POST", "/order"), ("POST", "/orders")})
_ANY_JSON: Final[JsonDecoder[object]] = JsonDecoder(what="order body")
_QUERY_DIGITS: Final = 18
"""Digits of a whole number in a query string (timestamps, fidelity): any int64."""
# The POST routes that only read, whose answers the poison knob may spoil along with every GET's.
_READING_POSTS: Final = frozenset({"/books", "/prices", "/midpoints", "/spreads", "/last-trades-prices"})

_DEFAULT_LAST_TRADE = LastTradePrice(price="0.5", side="")
_NO_REWARDS = Rewards(rates=None, min_size=Decimal(0), max_spread=Decimal(0))
_ZERO = Decimal(0)
_ONE = Decimal(1)

# ``interval`` values of /prices-history (venue notes: REST routes) and how far back each reaches; "1m" is a month.
_INTERVAL_SECONDS: Final[dict[str, int | None]] = {
    "max": None,
    "all": None,
    "1m": 30 * 86_400,
    "1w": 7 * 86_400,
    "1d": 86_400,
    "6h": 6 * 3_600,
    "1h": 3_600,
}

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Item = TypeVar("_Item")


@dataclass(slots=True)
class RestStats:
    """Counters of the venue REST API since the emulator started."""

    requests: int = 0
    client_errors: int = 0
    injected_429: int = 0
    injected_425: int = 0
    injected_5xx: int = 0
    restart_425: int = 0
    """Requests answered 425 during a simulated matching-engine restart."""
    post_only_503: int = 0
    """Order placements refused in the post-only mode after a restart."""
    storm_5xx: int = 0
    """Requests answered by a 5xx storm."""
    answers_poisoned: int = 0
    """Answers sent with one hostile value (``poison_http_rate``)."""


class RestApi:
    """The venue's public REST routes over one :class:`Exchange`.

    ``outages`` are the timed outages :meth:`outage_response` answers for;
    ``clock_ms`` is the exchange's clock (``GET /time``, ``/prices-history`` windows);
    ``page_size`` is the number of markets per page of the paged endpoints; ``reward_programs``
    the markets' liquidity-reward programs, shown in their listings.
    """

    def __init__(
        self,
        exchange: Exchange,
        *,
        faults: FaultConfig,
        outages: OutageSchedule,
        clock_ms: Callable[[], int],
        page_size: int = DEFAULT_PAGE_SIZE,
        reward_programs: Mapping[ConditionId, RewardProgram] | None = None,
    ) -> None:
        if page_size < 1:
            raise InvalidValueError("page size must be at least 1", page_size=page_size)
        self._exchange = exchange
        self._faults = faults
        self._outages = outages
        self._clock_ms = clock_ms
        self._page_size = page_size
        self._reward_programs = reward_programs or {}
        self._dice = FaultDice(faults, "http")
        self.stats = RestStats()

    def routes(self) -> list[web.RouteDef]:
        """Every venue route, each wrapped in the HTTP fault knobs."""
        table: Sequence[tuple[str, str, _Handler]] = (
            ("GET", "/", self._ok),
            ("GET", "/ok", self._ok),
            ("GET", "/time", self._time),
            ("GET", "/version", self._version),
            ("GET", "/book", self._book),
            ("POST", "/books", self._books),
            ("GET", "/price", self._price),
            ("POST", "/prices", self._prices),
            ("GET", "/midpoint", self._midpoint),
            ("POST", "/midpoints", self._midpoints),
            ("GET", "/spread", self._spread),
            ("POST", "/spreads", self._spreads),
            ("GET", "/last-trade-price", self._last_trade_price),
            ("POST", "/last-trades-prices", self._last_trades_prices),
            ("GET", "/tick-size", self._tick_size),
            ("GET", "/neg-risk", self._neg_risk),
            ("GET", "/fee-rate", self._fee_rate),
            ("GET", "/fee-rate/{token_id}", self._fee_rate),
            ("GET", "/prices-history", self._prices_history),
            ("GET", "/markets", self._markets),
            ("GET", "/markets/{condition_id}", self._market),
            ("GET", "/simplified-markets", self._simplified_markets),
            ("GET", "/sampling-markets", self._sampling_markets),
            ("GET", "/sampling-simplified-markets", self._sampling_simplified_markets),
            ("GET", "/clob-markets/{condition_id}", self._clob_market),
            ("GET", "/markets-by-token/{token_id}", self._market_by_token),
        )
        return [web.route(method, path, self.venue_route(handler)) for method, path, handler in table]

    # -- faults and errors -------------------------------------------------------------------

    def venue_route(self, handler: _Handler) -> _Handler:
        """``handler`` behind the HTTP fault knobs; the server wraps the trading routes with it too."""

        async def venue_route(request: web.Request) -> web.StreamResponse:
            self.stats.requests += 1
            if self._faults.latency_ms:
                await asyncio.sleep(self._faults.latency_ms / 1000)
            fault = self._dice.http_fault()
            if fault is not None:
                return self._fault_response(fault)
            try:
                response = await handler(request)
            except ApiError as error:
                self.stats.client_errors += 1
                response = _json(ErrorBody(error=error.message), status=error.status)
            if isinstance(response, web.Response):
                self._poison(request, response)
                # Compressed when the client accepts it (the official client asks for gzip, venue notes: REST routes).
                response.enable_compression()
            return response

        return venue_route

    def _poison(self, request: web.Request, response: web.Response) -> None:
        """Plant a hostile value in a reading request's JSON answer, as ``poison_http_rate`` says."""
        if not (
            response.status == HTTPStatus.OK
            and response.content_type == "application/json"
            and isinstance(response.body, bytes)
            and (request.method == "GET" or request.path in _READING_POSTS)
        ):
            return
        poison = self._dice.poison(self._faults.poison_http_rate)
        if poison is not None:
            response.body = poison_document(response.body, poison, self._dice.pick)
            self.stats.answers_poisoned += 1

    def _fault_response(self, fault: HttpFault) -> web.Response:
        if fault is HttpFault.TOO_MANY_REQUESTS:
            self.stats.injected_429 += 1
            return too_many_requests(self._faults.retry_after_s)
        if fault is HttpFault.TOO_EARLY:
            self.stats.injected_425 += 1
            return _service_not_ready()
        self.stats.injected_5xx += 1
        return _server_error(self._faults.http_5xx_status)

    def outage_response(self, request: web.Request) -> web.Response | None:
        """The answer of a restart or a 5xx storm to a venue request, or ``None`` to handle it normally."""
        if self._outages.restarting(request.path):
            self.stats.restart_425 += 1
            return _service_not_ready()
        storm_status = self._outages.storm_status()
        if storm_status is not None:
            self.stats.storm_5xx += 1
            return _server_error(storm_status)
        return None

    async def post_only_refusal(self, request: web.Request) -> web.Response | None:
        """The 503 of the post-only mode after a restart to an order placement that is not all
        post-only, or ``None``; the body is read, so ask only once the request is authenticated."""
        post_only_s = self._outages.post_only_remaining_s()
        if (
            post_only_s > 0
            and (request.method, request.path) in _ORDER_PLACEMENTS
            and not _all_post_only(await request.read())
        ):
            self.stats.post_only_503 += 1
            retry_after_s = math.ceil(post_only_s)
            response = _json(
                ErrorBody(error=_POST_ONLY_MODE, code="post_only_mode", retry_after_seconds=retry_after_s),
                status=HTTPStatus.SERVICE_UNAVAILABLE,
            )
            response.headers["Retry-After"] = str(retry_after_s)
            return response
        return None

    # -- service -----------------------------------------------------------------------------

    async def _ok(self, request: web.Request) -> web.Response:
        return _json("OK")

    async def _time(self, request: web.Request) -> web.Response:
        # A bare integer of unix seconds, not an object (venue notes: REST routes).
        return _json(self._clock_ms() // 1000)

    async def _version(self, request: web.Request) -> web.Response:
        return _json({"version": 2})

    # -- books and prices --------------------------------------------------------------------

    async def _book(self, request: web.Request) -> web.Response:
        token = self._known_token(request.query.get("token_id"))
        return _json(self._exchange.book_summary(token))

    async def _books(self, request: web.Request) -> web.Response:
        items = await self._batch(request)
        tokens = self._known_tokens(item.token_id for item in items)
        return _json([self._exchange.book_summary(token) for token in tokens])

    async def _price(self, request: web.Request) -> web.Response:
        token = requested_token(request.query.get("token_id"))
        side = _side(request.query.get("side"))
        price = self._best_price(self._require_book(token), side)
        if price is None:
            raise ApiError(NO_ORDERBOOK, status=HTTPStatus.NOT_FOUND)
        return _json(PriceQuote(price=format_micros(price)))

    async def _prices(self, request: web.Request) -> web.Response:
        items = await self._batch(request)
        requested = [(item.token_id, _side(item.side)) for item in items]
        prices: dict[str, dict[str, str]] = {}
        for token, side in requested:
            price = self._best_price(token, side) if self._exchange.market_of(token) is not None else None
            if price is not None:
                prices.setdefault(token, {})[side.value] = format_micros(price)
        return _json(prices)

    async def _midpoint(self, request: web.Request) -> web.Response:
        token = self._known_token(request.query.get("token_id"))
        mid = self._exchange.midpoint(token)
        if mid is None:
            raise ApiError(NO_ORDERBOOK, status=HTTPStatus.NOT_FOUND)
        return _json(Midpoint(mid=format_micros(mid)))

    async def _midpoints(self, request: web.Request) -> web.Response:
        items = await self._batch(request)
        mids: dict[str, str] = {}
        for token in self._known_tokens(item.token_id for item in items):
            mid = self._exchange.midpoint(token)
            if mid is not None:
                mids[token] = format_micros(mid)
        return _json(mids)

    async def _spread(self, request: web.Request) -> web.Response:
        token = self._known_token(request.query.get("token_id"))
        spread = self._spread_micros(token)
        if spread is None:
            raise ApiError(NO_ORDERBOOK, status=HTTPStatus.NOT_FOUND)
        return _json(Spread(spread=format_micros(spread)))

    async def _spreads(self, request: web.Request) -> web.Response:
        items = await self._batch(request)
        spreads: dict[str, str] = {}
        for token in self._known_tokens(item.token_id for item in items):
            spread = self._spread_micros(token)
            if spread is not None:
                spreads[token] = format_micros(spread)
        return _json(spreads)

    async def _last_trade_price(self, request: web.Request) -> web.Response:
        token = self._known_token(request.query.get("token_id"))
        return _json(self._last_trade(token))

    async def _last_trades_prices(self, request: web.Request) -> web.Response:
        items = await self._batch(request)
        answers: list[LastTradesPricesItem] = []
        for token in self._known_tokens(item.token_id for item in items):
            last = self._last_trade(token)
            answers.append(LastTradesPricesItem(token_id=token, price=last.price, side=last.side))
        return _json(answers)

    async def _tick_size(self, request: web.Request) -> web.Response:
        market = self._market_of_known_token(request.query.get("token_id"))
        # A JSON number, exact: encoded from the tick's Decimal, never a float (venue notes: REST routes).
        return _json(TickSizeInfo(minimum_tick_size=market.tick_size.decimal))

    async def _neg_risk(self, request: web.Request) -> web.Response:
        market = self._market_of_known_token(request.query.get("token_id"))
        return _json(NegRiskInfo(neg_risk=market.neg_risk))

    async def _fee_rate(self, request: web.Request) -> web.Response:
        # Not the rate charged: the V1 fee authorization, 1000 bps on every fee-bearing market and 0
        # on fee-free ones (venue notes: Fees); V2 orders carry no fee field.
        text = request.match_info.get("token_id") or request.query.get("token_id")
        market = self._exchange.market_of(requested_token(text))
        if market is None:
            raise ApiError(_FEE_RATE_NOT_FOUND, status=HTTPStatus.NOT_FOUND, token_id=text)
        fee_bearing = market.fee_schedule is not None and market.fee_schedule.rate > 0
        return _json({"base_fee": _V1_FEE_AUTHORIZATION_BPS if fee_bearing else 0})

    async def _prices_history(self, request: web.Request) -> web.Response:
        query = request.query
        token = requested_token(query.get("market"))
        interval = query.get("interval")
        now_s = self._clock_ms() // 1000
        if interval is not None:
            if interval not in _INTERVAL_SECONDS:
                raise ApiError(f"invalid interval, expected one of {', '.join(_INTERVAL_SECONDS)}", status=400)
            reach_s = _INTERVAL_SECONDS[interval]
            start_s, end_s = (None if reach_s is None else now_s - reach_s), now_s
        elif "startTs" in query and "endTs" in query:
            start_s, end_s = _whole_number(query, "startTs"), _whole_number(query, "endTs")
        else:
            raise ApiError("interval or both startTs and endTs are required", status=400)
        history = self._exchange.price_history(token) if self._exchange.market_of(token) is not None else []
        points = [
            (time_s, price) for time_s, price in history if (start_s is None or time_s >= start_s) and time_s <= end_s
        ]
        if "fidelity" in query:
            fidelity_minutes = _whole_number(query, "fidelity")
            if fidelity_minutes == 0:
                raise ApiError("invalid fidelity", status=HTTPStatus.BAD_REQUEST, value=0)
            # One point per fidelity bucket: the last one in it.
            last_in_bucket = {time_s // (fidelity_minutes * 60): (time_s, price) for time_s, price in points}
            points = list(last_in_bucket.values())
        return _json(PriceHistory(history=[PriceHistoryPoint(t=time_s, p=_number(price)) for time_s, price in points]))

    # -- markets -----------------------------------------------------------------------------

    async def _markets(self, request: web.Request) -> web.Response:
        page, next_cursor = self._page(request, list(self._exchange.markets.values()))
        data = [self._market_body(market) for market in page]
        return _json(MarketsPage(data=data, next_cursor=next_cursor, limit=self._page_size, count=len(data)))

    async def _sampling_markets(self, request: web.Request) -> web.Response:
        page, next_cursor = self._page(request, self._sampling())
        data = [self._market_body(market) for market in page]
        return _json(MarketsPage(data=data, next_cursor=next_cursor, limit=self._page_size, count=len(data)))

    async def _simplified_markets(self, request: web.Request) -> web.Response:
        page, next_cursor = self._page(request, list(self._exchange.markets.values()))
        data = [self._simplified_body(market) for market in page]
        return _json(SimplifiedMarketsPage(data=data, next_cursor=next_cursor, limit=self._page_size, count=len(data)))

    async def _sampling_simplified_markets(self, request: web.Request) -> web.Response:
        page, next_cursor = self._page(request, self._sampling())
        data = [self._simplified_body(market) for market in page]
        return _json(SimplifiedMarketsPage(data=data, next_cursor=next_cursor, limit=self._page_size, count=len(data)))

    async def _market(self, request: web.Request) -> web.Response:
        return _json(self._market_body(self._market_by_condition(request.match_info["condition_id"])))

    async def _clob_market(self, request: web.Request) -> web.Response:
        market = self._market_by_condition(request.match_info["condition_id"])
        fees = market.fee_schedule
        return _json(
            ClobMarketInfo(
                condition_id=market.condition_id,
                game_start_time=None,
                rewards={},
                tokens=[ClobToken(token_id=token.token_id, outcome=token.outcome) for token in market.tokens],
                min_order_size=market.min_order_size,
                min_tick_size=market.tick_size.decimal,
                maker_base_fee=_ZERO,
                taker_base_fee=_ZERO,
                rfq_enabled=False,
                taker_order_delay_enabled=False,
                blockaid_check_enabled=False,
                # A market listed without a fee schedule has none: ``fd`` absent, as the venue
                # sends for fee-free markets (venue notes: Market info).
                fee_details=msgspec.UNSET
                if fees is None
                else FeeDetails(rate=fees.rate, exponent=Decimal(fees.exponent), taker_only=fees.taker_only),
                min_order_age_s=0,
                # The venue leaves ``nr`` out when false (venue notes: Market info).
                neg_risk=True if market.neg_risk else msgspec.UNSET,
            )
        )

    async def _market_by_token(self, request: web.Request) -> web.Response:
        market = self._market_of_known_token(request.match_info["token_id"])
        return _json({"condition_id": market.condition_id})

    # -- helpers -----------------------------------------------------------------------------

    def _require_book(self, token: TokenId) -> TokenId:
        if self._exchange.market_of(token) is None:
            raise ApiError(NO_ORDERBOOK, status=HTTPStatus.NOT_FOUND, token_id=token)
        return token

    def _known_token(self, text: str | None) -> TokenId:
        return self._require_book(requested_token(text))

    def _market_of_known_token(self, text: str | None) -> MarketInfo:
        market = self._exchange.market_of(requested_token(text))
        if market is None:
            raise ApiError(NO_ORDERBOOK, status=HTTPStatus.NOT_FOUND, token_id=text)
        return market

    def _known_tokens(self, tokens: Iterable[TokenId]) -> list[TokenId]:
        return [token for token in dict.fromkeys(tokens) if self._exchange.market_of(token) is not None]

    async def _batch(self, request: web.Request) -> list[TokenRequest]:
        return requested_batch(await request.read())

    def _best_price(self, token: TokenId, side: Side) -> int | None:
        # BUY quotes the best bid and SELL the best ask, as the live venue does (venue notes: REST routes).
        return self._exchange.best_bid(token) if side is Side.BUY else self._exchange.best_ask(token)

    def _spread_micros(self, token: TokenId) -> int | None:
        bid, ask = self._exchange.best_bid(token), self._exchange.best_ask(token)
        if bid is None or ask is None:
            return None
        return ask - bid

    def _last_trade(self, token: TokenId) -> LastTradePrice:
        last = self._exchange.last_trade(token)
        if last is None:
            # The venue's answer for a token that never traded (venue notes: REST routes).
            return _DEFAULT_LAST_TRADE
        price, side = last
        return LastTradePrice(price=format_micros(price), side=side.value)

    def _market_by_condition(self, condition: str) -> MarketInfo:
        market = self._exchange.markets.get(ConditionId(condition))
        if market is None:
            raise ApiError("market not found", status=HTTPStatus.NOT_FOUND, condition_id=condition)
        return market

    def _sampling(self) -> list[MarketInfo]:
        # Sampling markets are those eligible for liquidity rewards; every open emulated market is
        # (the markets without a program of their own earn nothing there, rewards.py).
        return [
            market
            for market in self._exchange.markets.values()
            if self._exchange.winning_token(market.condition_id) is None
        ]

    def _rewards(self, market: MarketInfo) -> Rewards:
        program = self._reward_programs.get(market.condition_id)
        return _NO_REWARDS if program is None else program.listing_rewards()

    def _page(self, request: web.Request, items: list[_Item]) -> tuple[list[_Item], str]:
        return page_of(items, request.query.get("next_cursor"), self._page_size)

    def _tokens_of(self, market: MarketInfo) -> list[MarketToken]:
        winner = self._exchange.winning_token(market.condition_id)
        tokens = []
        for token in market.tokens:
            if winner is not None:
                price = _ONE if token.token_id == winner else _ZERO
            else:
                price = _number(self._exchange.display_price(token.token_id))
            tokens.append(
                MarketToken(
                    token_id=token.token_id, outcome=token.outcome, price=price, winner=token.token_id == winner
                )
            )
        return tokens

    def _market_body(self, market: MarketInfo) -> Market:
        open_for_trading = self._exchange.winning_token(market.condition_id) is None
        listing = self._exchange.listing(market.condition_id)
        return Market(
            enable_order_book=open_for_trading,
            active=True,
            closed=not open_for_trading,
            archived=False,
            accepting_orders=open_for_trading,
            accepting_order_timestamp=None,
            minimum_order_size=market.min_order_size,
            minimum_tick_size=market.tick_size.decimal,
            condition_id=market.condition_id,
            question_id=listing.question_id,
            question=market.question,
            description=listing.description,
            market_slug=listing.slug,
            end_date_iso=None,
            game_start_time=None,
            seconds_delay=0,
            fpmm="",
            maker_base_fee=_ZERO,
            taker_base_fee=_ZERO,
            notifications_enabled=False,
            neg_risk=market.neg_risk,
            neg_risk_market_id=self._exchange.neg_risk_market_id(market.condition_id) or "",
            neg_risk_request_id="",
            icon="",
            image="",
            rewards=self._rewards(market),
            is_50_50_outcome=False,
            tokens=self._tokens_of(market),
            tags=[],
        )

    def _simplified_body(self, market: MarketInfo) -> SimplifiedMarket:
        open_for_trading = self._exchange.winning_token(market.condition_id) is None
        return SimplifiedMarket(
            condition_id=market.condition_id,
            tokens=self._tokens_of(market),
            rewards=self._rewards(market),
            active=True,
            closed=not open_for_trading,
            archived=False,
            accepting_orders=open_for_trading,
        )


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), status=status, content_type="application/json")


def too_many_requests(retry_after_s: int) -> web.Response:
    """The venue's 429: body ``{"error": "Too Many Requests"}``, ``Retry-After`` in seconds."""
    response = _json(ErrorBody(error="Too Many Requests"), status=HTTPStatus.TOO_MANY_REQUESTS)
    response.headers["Retry-After"] = str(retry_after_s)
    return response


def _service_not_ready() -> web.Response:
    return web.Response(status=HTTPStatus.TOO_EARLY, text=_SERVICE_NOT_READY)


def _server_error(status: int) -> web.Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server Error"
    return _json(ErrorBody(error=phrase), status=status)


def _all_post_only(body: bytes) -> bool:
    # POST /order carries one order, POST /orders a list of them, each with "postOnly" (venue notes: REST routes).
    try:
        decoded = _ANY_JSON.decode(body)
    except MalformedMessageError:
        return False
    orders = decoded if isinstance(decoded, list) else [decoded]
    return bool(orders) and all(isinstance(order, dict) and order.get("postOnly") is True for order in orders)


def _side(text: str | None) -> Side:
    if text not in ("BUY", "SELL"):
        raise ApiError(_INVALID_SIDE, status=HTTPStatus.BAD_REQUEST, side=text)
    return Side(text)


def _whole_number(query: Mapping[str, str], name: str) -> int:
    text = query.get(name)
    number = whole_number(text, max_digits=_QUERY_DIGITS)
    if number is None:
        raise ApiError(f"invalid {name}", status=HTTPStatus.BAD_REQUEST, value=text)
    return number


def _number(micros: int) -> Decimal:
    # Through the canonical string, so 0 encodes as 0, not 0E-6.
    return Decimal(format_micros(micros))
