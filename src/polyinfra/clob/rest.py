"""Typed clients for the CLOB's public REST endpoints (venue notes: REST routes, Responses).

:class:`ClobRestClient` (async) and :class:`SyncClobRestClient` (blocking, for scripts) have the
same methods, and each endpoint is defined once, in :mod:`polyinfra.clob.rest_endpoints` (with the
batch limits and the argument checks). The async client sends an endpoint's requests through
:class:`~polyinfra.net.http.HttpTransport`, the sync one through
:class:`~polyinfra.net.http.SyncHttpTransport`; that is all they differ in, which is why both live
here, as both transports live in one module. The transports do the rate limits, retries, circuit
breakers and error translation.

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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from types import TracebackType
from typing import Self, TypeVar

from polyinfra.clob import rest_endpoints as endpoints
from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.core.venue_rate_limits import CLOB_LIMITS
from polyinfra.model.ids import ConditionId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize
from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http import HttpTransport, SyncHttpTransport
from polyinfra.net.http_request import Timeouts
from polyinfra.net.retry import RetryPolicy
from polyinfra.net.transport_client import TransportClient
from polyinfra.wire.clob_rest import Market, MarketTradeEvent, OrderBookSummary, SimplifiedMarket
from polyinfra.wire.clob_rewards import MarketRewards, RewardsMarket

__all__ = ["ClobRestClient", "SyncClobRestClient"]

_T = TypeVar("_T")
_Item = TypeVar("_Item")


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

    async def _perform(self, call: endpoints.Call[_T]) -> _T:
        responses = [
            await self.transport.request(request.method, request.path, params=request.params, content=request.body)
            for request in call.requests
        ]
        return call.result(responses)

    async def _walk(self, listing: endpoints.Listing[_Item]) -> AsyncIterator[_Item]:
        cursor: str | None = endpoints.FIRST_CURSOR
        while cursor is not None:
            page = await self._perform(endpoints.page_call(listing, cursor))
            cursor = endpoints.cursor_after(listing, cursor, page)
            for item in page.items:
                yield item

    # -- service --------------------------------------------------------------------------------

    async def get_ok(self) -> None:
        """``GET /ok``: returns when the venue answers healthy, raises the typed error otherwise."""
        return await self._perform(endpoints.ok())

    async def get_server_time(self) -> int:
        """``GET /time``: the venue's clock, in unix seconds."""
        return await self._perform(endpoints.server_time())

    async def get_version(self) -> int:
        """``GET /version``: the CLOB API generation (2 since the V2 cutover)."""
        return await self._perform(endpoints.version())

    # -- books and prices -----------------------------------------------------------------------

    async def get_book(self, token_id: str) -> OrderBookSummary:
        """``GET /book``: the token's book summary as received (hash verifiable; best price last on
        both sides). ``order_book_from_summary`` makes an ``OrderBook`` of it."""
        return await self._perform(endpoints.book(token_id))

    async def get_books(self, token_ids: Iterable[str]) -> list[OrderBookSummary]:
        """``POST /books``: the summaries of many tokens, in the order asked, each token once; tokens
        without a book are left out."""
        return await self._perform(endpoints.books(token_ids))

    async def get_books_answer(self, token_ids: Iterable[str]) -> tuple[list[OrderBookSummary], bytes]:
        """``POST /books`` for at most :data:`~polyinfra.clob.rest_endpoints.BOOKS_PER_REQUEST`
        tokens, as :meth:`get_books`, and the answer's body exactly as received (what a recorder
        keeps, so that a parser fixed later reads the venue's bytes, not polyinfra's copy of them)."""
        return await self._perform(endpoints.books_answer(token_ids))

    async def get_price(self, token_id: str, side: Side | str) -> Decimal:
        """``GET /price``: the best price for ``side`` (BUY quotes the best bid, SELL the best ask,
        as the venue does). :class:`NotFoundError` when the token has no book or that side is empty."""
        return await self._perform(endpoints.price(token_id, side))

    async def get_prices(self, requests: Iterable[tuple[str, Side | str]]) -> dict[tuple[str, Side], Decimal]:
        """``POST /prices``: the best price of each ``(token_id, side)`` asked, keyed and ordered as
        asked; pairs without a price are left out."""
        return await self._perform(endpoints.prices(requests))

    async def get_midpoint(self, token_id: str) -> Decimal:
        """``GET /midpoint``: halfway between the best bid and the best ask."""
        return await self._perform(endpoints.midpoint(token_id))

    async def get_midpoints(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """``POST /midpoints``: the midpoint of each token, in the order asked; tokens without one are left out."""
        return await self._perform(endpoints.midpoints(token_ids))

    async def get_spread(self, token_id: str) -> Decimal:
        """``GET /spread``: best ask minus best bid."""
        return await self._perform(endpoints.spread(token_id))

    async def get_spreads(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """``POST /spreads``: the spread of each token, in the order asked; tokens without one are left out."""
        return await self._perform(endpoints.spreads(token_ids))

    async def get_last_trade_price(self, token_id: str) -> tuple[Decimal, Side] | None:
        """``GET /last-trade-price``: (price, taker side) of the token's last trade, None if it never
        traded (the venue then answers a placeholder 0.5)."""
        return await self._perform(endpoints.last_trade_price(token_id))

    async def get_last_trades_prices(self, token_ids: Iterable[str]) -> dict[str, tuple[Decimal, Side]]:
        """``POST /last-trades-prices``: (price, taker side) of each token's last trade, in the order
        asked; tokens that never traded (or that the venue does not know) are left out."""
        return await self._perform(endpoints.last_trades_prices(token_ids))

    async def get_tick_size(self, token_id: str) -> TickSize:
        """``GET /tick-size``: the token's market's current tick size."""
        return await self._perform(endpoints.tick_size(token_id))

    async def get_neg_risk(self, token_id: str) -> bool:
        """``GET /neg-risk``: whether the token's market is a negative-risk one (its own exchange contract)."""
        return await self._perform(endpoints.neg_risk(token_id))

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

        Give an ``interval`` reaching back from now (one of
        :data:`~polyinfra.clob.rest_endpoints.PRICE_HISTORY_INTERVALS`) or both ``start_s`` and
        ``end_s``; ``fidelity_minutes`` keeps one point per that many minutes.
        """
        return await self._perform(endpoints.prices_history(token_id, interval, start_s, end_s, fidelity_minutes))

    # -- markets --------------------------------------------------------------------------------

    async def get_market(self, condition_id: str) -> MarketInfo:
        """``GET /markets/{condition_id}``: the market's trading rules. Its fee schedule is None:
        ``/markets`` carries none; :meth:`get_clob_market_info` has it."""
        return await self._perform(endpoints.market(condition_id))

    async def get_raw_market(self, condition_id: str) -> Market:
        """``GET /markets/{condition_id}`` as the venue's record, for the fields ``MarketInfo`` lacks
        (state, token prices, rewards, slug, dates)."""
        return await self._perform(endpoints.raw_market(condition_id))

    async def get_market_by_token(self, token_id: str) -> ConditionId:
        """``GET /markets-by-token/{token_id}``: the condition id of the token's market."""
        return await self._perform(endpoints.market_by_token(token_id))

    async def get_clob_market_info(self, condition_id: str) -> MarketInfo:
        """``GET /clob-markets/{condition_id}``: the market's trading rules with its fee schedule.
        Its ``question`` is ``""``: this answer carries none."""
        return await self._perform(endpoints.clob_market_info(condition_id))

    def iter_markets(self) -> AsyncIterator[Market]:
        """Every market of ``GET /markets``, page after page as it is consumed (the venue picks the
        page size: 100 in the real capture). Stop early by leaving the loop."""
        return self._walk(endpoints.MARKETS)

    def iter_simplified_markets(self) -> AsyncIterator[SimplifiedMarket]:
        """Every market of ``GET /simplified-markets``, lazily paged like :meth:`iter_markets`."""
        return self._walk(endpoints.SIMPLIFIED_MARKETS)

    def iter_sampling_markets(self) -> AsyncIterator[Market]:
        """Every market of ``GET /sampling-markets`` (those eligible for liquidity rewards), lazily paged."""
        return self._walk(endpoints.SAMPLING_MARKETS)

    def iter_sampling_simplified_markets(self) -> AsyncIterator[SimplifiedMarket]:
        """Every market of ``GET /sampling-simplified-markets``, lazily paged."""
        return self._walk(endpoints.SAMPLING_SIMPLIFIED_MARKETS)

    # -- rewards and activity -------------------------------------------------------------------

    def iter_current_rewards(self) -> AsyncIterator[RewardsMarket]:
        """Every market whose liquidity-reward program runs today (``GET /rewards/markets/current``),
        lazily paged: daily pool, smallest qualifying order, widest qualifying spread (in cents)."""
        return self._walk(endpoints.CURRENT_REWARDS)

    def iter_market_rewards(self, condition_id: str) -> AsyncIterator[MarketRewards]:
        """The reward program of one market (``GET /rewards/markets/{condition_id}``), lazily paged;
        nothing for a market without one."""
        return self._walk(endpoints.market_rewards_listing(condition_id))

    async def get_market_trade_events(self, condition_id: str) -> list[MarketTradeEvent]:
        """``GET /markets/live-activity/{condition_id}``: the market's recent trades, newest first,
        as the venue's records (sizes and prices as sent)."""
        return await self._perform(endpoints.market_trade_events(condition_id))


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

    def _perform(self, call: endpoints.Call[_T]) -> _T:
        responses = [
            self.transport.request(request.method, request.path, params=request.params, content=request.body)
            for request in call.requests
        ]
        return call.result(responses)

    def _walk(self, listing: endpoints.Listing[_Item]) -> Iterator[_Item]:
        cursor: str | None = endpoints.FIRST_CURSOR
        while cursor is not None:
            page = self._perform(endpoints.page_call(listing, cursor))
            cursor = endpoints.cursor_after(listing, cursor, page)
            yield from page.items

    def get_ok(self) -> None:
        """As :meth:`ClobRestClient.get_ok`, blocking."""
        return self._perform(endpoints.ok())

    def get_server_time(self) -> int:
        """As :meth:`ClobRestClient.get_server_time`, blocking."""
        return self._perform(endpoints.server_time())

    def get_version(self) -> int:
        """As :meth:`ClobRestClient.get_version`, blocking."""
        return self._perform(endpoints.version())

    def get_book(self, token_id: str) -> OrderBookSummary:
        """As :meth:`ClobRestClient.get_book`, blocking."""
        return self._perform(endpoints.book(token_id))

    def get_books(self, token_ids: Iterable[str]) -> list[OrderBookSummary]:
        """As :meth:`ClobRestClient.get_books`, blocking."""
        return self._perform(endpoints.books(token_ids))

    def get_price(self, token_id: str, side: Side | str) -> Decimal:
        """As :meth:`ClobRestClient.get_price`, blocking."""
        return self._perform(endpoints.price(token_id, side))

    def get_prices(self, requests: Iterable[tuple[str, Side | str]]) -> dict[tuple[str, Side], Decimal]:
        """As :meth:`ClobRestClient.get_prices`, blocking."""
        return self._perform(endpoints.prices(requests))

    def get_midpoint(self, token_id: str) -> Decimal:
        """As :meth:`ClobRestClient.get_midpoint`, blocking."""
        return self._perform(endpoints.midpoint(token_id))

    def get_midpoints(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """As :meth:`ClobRestClient.get_midpoints`, blocking."""
        return self._perform(endpoints.midpoints(token_ids))

    def get_spread(self, token_id: str) -> Decimal:
        """As :meth:`ClobRestClient.get_spread`, blocking."""
        return self._perform(endpoints.spread(token_id))

    def get_spreads(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """As :meth:`ClobRestClient.get_spreads`, blocking."""
        return self._perform(endpoints.spreads(token_ids))

    def get_last_trade_price(self, token_id: str) -> tuple[Decimal, Side] | None:
        """As :meth:`ClobRestClient.get_last_trade_price`, blocking."""
        return self._perform(endpoints.last_trade_price(token_id))

    def get_last_trades_prices(self, token_ids: Iterable[str]) -> dict[str, tuple[Decimal, Side]]:
        """As :meth:`ClobRestClient.get_last_trades_prices`, blocking."""
        return self._perform(endpoints.last_trades_prices(token_ids))

    def get_tick_size(self, token_id: str) -> TickSize:
        """As :meth:`ClobRestClient.get_tick_size`, blocking."""
        return self._perform(endpoints.tick_size(token_id))

    def get_neg_risk(self, token_id: str) -> bool:
        """As :meth:`ClobRestClient.get_neg_risk`, blocking."""
        return self._perform(endpoints.neg_risk(token_id))

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
        return self._perform(endpoints.prices_history(token_id, interval, start_s, end_s, fidelity_minutes))

    def get_market(self, condition_id: str) -> MarketInfo:
        """As :meth:`ClobRestClient.get_market`, blocking."""
        return self._perform(endpoints.market(condition_id))

    def get_raw_market(self, condition_id: str) -> Market:
        """As :meth:`ClobRestClient.get_raw_market`, blocking."""
        return self._perform(endpoints.raw_market(condition_id))

    def get_market_by_token(self, token_id: str) -> ConditionId:
        """As :meth:`ClobRestClient.get_market_by_token`, blocking."""
        return self._perform(endpoints.market_by_token(token_id))

    def get_clob_market_info(self, condition_id: str) -> MarketInfo:
        """As :meth:`ClobRestClient.get_clob_market_info`, blocking."""
        return self._perform(endpoints.clob_market_info(condition_id))

    def iter_markets(self) -> Iterator[Market]:
        """As :meth:`ClobRestClient.iter_markets`, blocking."""
        return self._walk(endpoints.MARKETS)

    def iter_simplified_markets(self) -> Iterator[SimplifiedMarket]:
        """As :meth:`ClobRestClient.iter_simplified_markets`, blocking."""
        return self._walk(endpoints.SIMPLIFIED_MARKETS)

    def iter_sampling_markets(self) -> Iterator[Market]:
        """As :meth:`ClobRestClient.iter_sampling_markets`, blocking."""
        return self._walk(endpoints.SAMPLING_MARKETS)

    def iter_sampling_simplified_markets(self) -> Iterator[SimplifiedMarket]:
        """As :meth:`ClobRestClient.iter_sampling_simplified_markets`, blocking."""
        return self._walk(endpoints.SAMPLING_SIMPLIFIED_MARKETS)

    def iter_current_rewards(self) -> Iterator[RewardsMarket]:
        """As :meth:`ClobRestClient.iter_current_rewards`, blocking."""
        return self._walk(endpoints.CURRENT_REWARDS)

    def iter_market_rewards(self, condition_id: str) -> Iterator[MarketRewards]:
        """As :meth:`ClobRestClient.iter_market_rewards`, blocking."""
        return self._walk(endpoints.market_rewards_listing(condition_id))

    def get_market_trade_events(self, condition_id: str) -> list[MarketTradeEvent]:
        """As :meth:`ClobRestClient.get_market_trade_events`, blocking."""
        return self._perform(endpoints.market_trade_events(condition_id))


def _timeouts(timeout_s: float) -> Timeouts:
    return Timeouts(connect_s=timeout_s, read_s=timeout_s, write_s=timeout_s, pool_s=timeout_s)
