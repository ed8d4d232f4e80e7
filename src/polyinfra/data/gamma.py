"""The Gamma API client (venue notes: Gamma API): markets, events, tags, series, search and comments.

:class:`GammaClient` sends every request through :class:`~polyinfra.net.http.HttpTransport` with
Gamma's documented limits (:data:`~polyinfra.core.venue_rate_limits.GAMMA_LIMITS`), so bursts wait instead
of being throttled by the venue, ``Retry-After`` is honoured and 5xx answers are retried.

Listings page by offset (:meth:`GammaClient.events`, :meth:`~GammaClient.tags`, ...) as the venue
offers them; :meth:`GammaClient.all_markets` walks ``/markets/keyset`` by ``next_cursor`` until it is
absent, never by page length (offset paging of ``/markets`` ends near 2,000, venue notes: Gamma API).
A Gamma market joins into the CLOB's :class:`~polyinfra.model.market.MarketInfo` (tokens, tick,
neg-risk, fee schedule) with :func:`~polyinfra.core.from_wire.market_info_from_gamma`, or in one step
with :meth:`GammaClient.market_info`.

Answers are Gamma's objects as sent (:mod:`polyinfra.wire.gamma`), numbers exact ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from polyinfra.core.from_wire import market_info_from_gamma
from polyinfra.core.rate_limit_tables import RateLimitTable
from polyinfra.core.venue_rate_limits import GAMMA_LIMITS
from polyinfra.data.read_client import ReadClient, refuse_cursor_loop
from polyinfra.errors import InvalidValueError
from polyinfra.model.market import MarketInfo
from polyinfra.net.breaker import CircuitBreakers
from polyinfra.net.http import HttpTransport
from polyinfra.net.rate_limit import AsyncRateLimiter
from polyinfra.net.retry import RetryPolicy
from polyinfra.wire.gamma import (
    GammaEvent,
    GammaKeysetMarkets,
    GammaMarket,
    GammaSearchResponse,
    GammaSeries,
    GammaTag,
)
from polyinfra.wire.rtds import CommentPayload

__all__ = ["GAMMA_URL", "KEYSET_PAGE", "GammaClient"]

GAMMA_URL: Final = "https://gamma-api.polymarket.com"
KEYSET_PAGE: Final = 100
"""``/markets/keyset`` pages hold at most 100 markets (venue notes: Gamma API)."""
_COMMENT_ENTITIES: Final = ("Event", "Series", "PerpsAsset")


class GammaClient(ReadClient):
    """Async client of Gamma at ``base_url`` (see the module docstring)."""

    def __init__(
        self,
        base_url: str = GAMMA_URL,
        *,
        timeout_s: float = 10.0,
        rate_limits: RateLimitTable = GAMMA_LIMITS,
        limiter: AsyncRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        transport: HttpTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            rate_limits=rate_limits,
            timeout_s=timeout_s,
            limiter=limiter,
            retry=retry,
            breakers=breakers,
            transport=transport,
        )

    # --- markets -----------------------------------------------------------------------------------

    async def markets(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        closed: bool = False,
        condition_ids: Sequence[str] = (),
        slugs: Sequence[str] = (),
        tag_id: str | None = None,
    ) -> list[GammaMarket]:
        """One page of ``/markets`` (``closed`` markets or open ones, as the venue's default)."""
        # Array parameters go as repeated keys (venue notes: Gamma API).
        params: dict[str, str | Sequence[str]] = {"limit": str(limit), "offset": str(offset), "closed": _flag(closed)}
        if condition_ids:
            params["condition_ids"] = _list(condition_ids)
        if slugs:
            params["slug"] = _list(slugs)
        if tag_id is not None:
            params["tag_id"] = tag_id
        return await self._get("/markets", params, list[GammaMarket])

    async def all_markets(self, *, closed: bool = False) -> list[GammaMarket]:
        """Every market, walked through ``/markets/keyset`` until no ``next_cursor`` comes."""
        markets: list[GammaMarket] = []
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            params = {"limit": str(KEYSET_PAGE), "closed": _flag(closed)} | ({"after_cursor": cursor} if cursor else {})
            page = await self._get("/markets/keyset", params, GammaKeysetMarkets)
            markets.extend(page.markets)
            if not page.next_cursor:
                return markets
            cursor = page.next_cursor
            refuse_cursor_loop("/markets/keyset", cursor, seen)

    async def market(self, market_id: str) -> GammaMarket:
        """``/markets/{id}`` (:class:`~polyinfra.errors.NotFoundError` for an unknown id)."""
        return await self._get(f"/markets/{_segment(market_id)}", None, GammaMarket, endpoint="GET /markets/*")

    async def market_by_slug(self, slug: str) -> GammaMarket:
        """``/markets/slug/{slug}``."""
        return await self._get(f"/markets/slug/{_segment(slug)}", None, GammaMarket, endpoint="GET /markets/**")

    async def market_info(self, market_id: str) -> MarketInfo:
        """The market's CLOB trading rules (tokens, tick, neg-risk, fees) from its Gamma record."""
        return market_info_from_gamma(await self.market(market_id))

    # --- events, tags, series ------------------------------------------------------------------------

    async def events(
        self, *, limit: int = 20, offset: int = 0, closed: bool | None = None, tag_id: str | None = None
    ) -> list[GammaEvent]:
        """One page of ``/events``, each with its markets, tags and series."""
        params = {"limit": str(limit), "offset": str(offset)}
        if closed is not None:
            params["closed"] = _flag(closed)
        if tag_id is not None:
            params["tag_id"] = tag_id
        return await self._get("/events", params, list[GammaEvent])

    async def event(self, event_id: str) -> GammaEvent:
        """``/events/{id}``."""
        return await self._get(f"/events/{_segment(event_id)}", None, GammaEvent, endpoint="GET /events/**")

    async def tags(self, *, limit: int = 100, offset: int = 0) -> list[GammaTag]:
        """One page of ``/tags``."""
        return await self._get("/tags", {"limit": str(limit), "offset": str(offset)}, list[GammaTag])

    async def series(self, *, limit: int = 20, offset: int = 0) -> list[GammaSeries]:
        """One page of ``/series``, each with its events."""
        return await self._get("/series", {"limit": str(limit), "offset": str(offset)}, list[GammaSeries])

    # --- search and comments -------------------------------------------------------------------------

    async def search(self, text: str, *, limit_per_type: int = 10, page: int = 1) -> GammaSearchResponse:
        """``/public-search``: events, tags and profiles matching ``text``."""
        if not text.strip():
            raise InvalidValueError("search text must not be empty")
        params = {"q": text, "limit_per_type": str(limit_per_type), "page": str(page)}
        return await self._get("/public-search", params, GammaSearchResponse)

    async def comments(
        self, *, parent_entity_type: str, parent_entity_id: int, limit: int = 20, offset: int = 0
    ) -> list[CommentPayload]:
        """Comments on an event, series or perps asset (``limit`` counts top-level comments)."""
        if parent_entity_type not in _COMMENT_ENTITIES:
            # The spec lists "market" too, but the server accepts only these (venue notes: Gamma API).
            raise InvalidValueError("parent_entity_type must be Event, Series or PerpsAsset", value=parent_entity_type)
        params = {
            "parent_entity_type": parent_entity_type,
            "parent_entity_id": str(parent_entity_id),
            "limit": str(limit),
            "offset": str(offset),
        }
        return await self._get("/comments", params, list[CommentPayload])


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _list(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise InvalidValueError("expected a list of values, not one string")
    return list(values)


def _segment(value: str) -> str:
    if not value or "/" in value or "?" in value or "#" in value:
        raise InvalidValueError("not a Gamma id or slug", value=value[:80])
    return value
