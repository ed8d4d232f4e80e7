"""The emulator's Gamma API (venue notes: Gamma API): the exchange's markets, grouped in events with
tags and series, in Gamma's shapes.

* **Markets** are the exchange's listings with their CLOB tokens, tick, minimum size, neg-risk flag
  and fee schedule, and prices from the live books (``outcomePrices`` the displayed prices,
  ``bestBid``/``bestAsk``/``lastTradePrice``); a resolved market is ``closed`` with prices 1 and 0.
  ``outcomes``, ``outcomePrices`` and ``clobTokenIds`` are JSON-encoded strings, as the venue sends them.
* **Events** group the markets that ask about one topic ("Will the Fed cut interest rates by ...?"),
  numbered in order of first listing; each carries one category **tag**, and each tag has one
  **series** of its events.
* **Search** (``/public-search``) finds events by their title or a market's question, tags by label
  and profiles (wallets that traded) by name; **comments** are those the RTDS sources posted.

Paging is as the venue's: ``/markets`` by offset up to 2,000 (beyond: 422 ``offset too large, use
/markets/keyset``), ``/markets/keyset`` by an opaque ``next_cursor`` (``offset`` there: 422),
``limit`` clamped, never refused. ``closed`` defaults to false on ``/markets``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Final

from aiohttp import web

from polyinfra.emulator.client_input import whole_number
from polyinfra.emulator.data.edge import gamma_error
from polyinfra.emulator.data.ledger import WalletLedger
from polyinfra.emulator.data.query import QueryError, flag, number, strings
from polyinfra.emulator.exchange import Exchange, MarketListing
from polyinfra.emulator.live.rtds_sources import RtdsSources
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import micros_to_decimal
from polyinfra.wire.clob_rest import JSON_ENCODER
from polyinfra.wire.gamma import (
    GammaEvent,
    GammaFeeSchedule,
    GammaMarket,
    GammaSearchPagination,
    GammaSearchResponse,
    GammaSeries,
    GammaTag,
)

__all__ = ["MAX_MARKETS_OFFSET", "GammaApi"]

MAX_MARKETS_OFFSET: Final = 2_000
"""``/markets`` offset paging ends here (venue notes: Gamma API)."""
_MAX_LIMIT: Final = 500
_KEYSET_MAX_LIMIT: Final = 100
_DEFAULT_LIMIT: Final = 20

# Category tags by a keyword of the market's topic; the first match wins.
_TAGS: Final = (
    ("1", "Crypto", ("Bitcoin", "Ethereum")),
    ("2", "Economy", ("Fed", "S&P", "gold")),
    ("3", "Tech", ("SpaceX", "Apple", "OpenAI", "NVIDIA", "Tesla")),
    ("4", "Sports", ("Lakers",)),
    ("5", "Culture", ("Taylor Swift",)),
    ("6", "Politics", ("UK", "Pope")),
    ("7", "Weather", ("hurricane",)),
)
_OTHER_TAG: Final = ("8", "Other", ())
_SERIES_ID_BASE: Final = 500
_EVENT_ID_BASE: Final = 9_000
_TOPIC: Final = re.compile(r"^Will (?P<topic>.+) by [^?]+\?$")
_COMMENT_ENTITIES: Final = ("Event", "Series", "PerpsAsset")

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class _Event:
    id: str
    topic: str
    slug: str
    tag: tuple[str, str, tuple[str, ...]]
    markets: tuple[MarketInfo, ...]


class GammaApi:
    """Gamma's routes over ``exchange``; comments from ``rtds_sources``, profiles from ``ledger``."""

    def __init__(self, exchange: Exchange, *, rtds_sources: RtdsSources, ledger: WalletLedger) -> None:
        self._exchange = exchange
        self._rtds_sources = rtds_sources
        self._ledger = ledger

    def routes(self) -> list[tuple[str, str, _Handler]]:
        """(method, path below the host's prefix, handler)."""
        return [
            ("GET", "/markets", self._markets),
            ("GET", "/markets/keyset", self._markets_keyset),
            ("GET", "/markets/slug/{slug}", self._market_by_slug),
            ("GET", "/markets/{id}", self._market_by_id),
            ("GET", "/events", self._events),
            ("GET", "/events/slug/{slug}", self._event_by_slug),
            ("GET", "/events/{id}", self._event_by_id),
            ("GET", "/tags", self._tags),
            ("GET", "/tags/{id}", self._tag_by_id),
            ("GET", "/series", self._series),
            ("GET", "/series/{id}", self._series_by_id),
            ("GET", "/public-search", self._search),
            ("GET", "/comments", self._comments),
        ]

    # --- the catalogue ---------------------------------------------------------------------------

    def _events_catalogue(self) -> list[_Event]:
        grouped: dict[str, list[MarketInfo]] = {}
        for info in self._exchange.markets.values():
            found = _TOPIC.match(info.question)
            grouped.setdefault(found.group("topic") if found else info.question, []).append(info)
        return [
            _Event(
                id=str(_EVENT_ID_BASE + index),
                topic=topic,
                slug=re.sub(r"[^a-z0-9]+", "-", topic.lower()).strip("-"),
                tag=_tag_of(topic),
                markets=tuple(markets),
            )
            for index, (topic, markets) in enumerate(grouped.items(), start=1)
        ]

    def _gamma_market(self, info: MarketInfo, *, parent: _Event | None) -> GammaMarket:
        exchange = self._exchange
        listing: MarketListing = exchange.listing(info.condition_id)
        winner = exchange.winning_token(info.condition_id)
        first, second = info.tokens
        if winner is None:
            prices = [micros_to_decimal(exchange.display_price(token.token_id)) for token in info.tokens]
        else:
            prices = [Decimal(1 if token.token_id == winner else 0) for token in info.tokens]
        schedule = info.fee_schedule
        fees = schedule is not None and schedule.rate > 0
        market = GammaMarket(
            id=listing.listing_id,
            question=info.question,
            condition_id=info.condition_id,
            slug=listing.slug,
            description=listing.description,
            outcomes=json.dumps([first.outcome, second.outcome]),
            outcome_prices=json.dumps([str(price) for price in prices]),
            clob_token_ids=json.dumps([first.token_id, second.token_id]),
            active=True,
            closed=winner is not None,
            archived=False,
            question_id=listing.question_id,
            enable_order_book=True,
            order_price_min_tick_size=info.tick_size.decimal,
            order_min_size=info.min_order_size,
            accepting_orders=winner is None,
            neg_risk=info.neg_risk,
            fees_enabled=fees,
            fee_schedule=(
                GammaFeeSchedule(
                    rate=schedule.rate, exponent=Decimal(schedule.exponent), taker_only=schedule.taker_only
                )
                if fees and schedule is not None
                else None
            ),
        )
        if winner is None:
            bid, ask = exchange.best_bid(first.token_id), exchange.best_ask(first.token_id)
            if bid is not None:
                market.best_bid = micros_to_decimal(bid)
            if ask is not None:
                market.best_ask = micros_to_decimal(ask)
            if bid is not None and ask is not None:
                market.spread = micros_to_decimal(ask - bid)
            last = exchange.last_trade(first.token_id)
            if last is not None:
                market.last_trade_price = micros_to_decimal(last[0])
        if parent is not None:
            market.events = [self._gamma_event(parent, with_markets=False)]
        return market

    def _gamma_event(self, event: _Event, *, with_markets: bool = True) -> GammaEvent:
        closed = all(self._exchange.winning_token(info.condition_id) is not None for info in event.markets)
        gamma = GammaEvent(
            id=event.id,
            ticker=event.slug,
            slug=event.slug,
            title=f"Will {event.topic}?",
            active=True,
            closed=closed,
            archived=False,
            enable_order_book=True,
            neg_risk=any(info.neg_risk for info in event.markets),
            tags=[_gamma_tag(event.tag)],
        )
        if with_markets:
            gamma.markets = [self._gamma_market(info, parent=None) for info in event.markets]
            tag_id, label, _ = event.tag
            gamma.series = [_gamma_series_head(tag_id, label)]
        return gamma

    # --- markets ---------------------------------------------------------------------------------

    def _filtered_markets(self, request: web.Request) -> list[tuple[MarketInfo, _Event]]:
        query = request.query
        closed = flag(query, "closed")
        closed = False if closed is None else closed
        ids = set(strings(query, "id"))
        slugs = set(strings(query, "slug"))
        tokens = set(strings(query, "clob_token_ids"))
        conditions = {text.lower() for text in strings(query, "condition_ids")}
        tag_id = query.get("tag_id")
        chosen: list[tuple[MarketInfo, _Event]] = []
        for event in self._events_catalogue():
            if tag_id and event.tag[0] != tag_id:
                continue
            for info in event.markets:
                listing = self._exchange.listing(info.condition_id)
                if (self._exchange.winning_token(info.condition_id) is not None) != closed:
                    continue
                if ids and listing.listing_id not in ids:
                    continue
                if slugs and listing.slug not in slugs:
                    continue
                if tokens and not tokens & {token.token_id for token in info.tokens}:
                    continue
                if conditions and info.condition_id.lower() not in conditions:
                    continue
                chosen.append((info, event))
        chosen.sort(key=lambda pair: int(self._exchange.listing(pair[0].condition_id).listing_id))
        return chosen

    async def _markets(self, request: web.Request) -> web.Response:
        try:
            limit = number(request.query, "limit", _DEFAULT_LIMIT, maximum=_MAX_LIMIT)
            offset = number(request.query, "offset", 0)
            if offset > MAX_MARKETS_OFFSET:
                return gamma_error("offset too large, use /markets/keyset", HTTPStatus.UNPROCESSABLE_ENTITY)
            chosen = self._filtered_markets(request)
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        return _json([self._gamma_market(info, parent=event) for info, event in chosen[offset : offset + limit]])

    async def _markets_keyset(self, request: web.Request) -> web.Response:
        query = request.query
        if "offset" in query:
            return gamma_error("offset is not supported, use after_cursor", HTTPStatus.UNPROCESSABLE_ENTITY)
        try:
            limit = number(query, "limit", _DEFAULT_LIMIT, maximum=_KEYSET_MAX_LIMIT)
            chosen = self._filtered_markets(request)
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        cursor = query.get("after_cursor")
        start = _keyset_position(cursor) if cursor else 0
        if start is None:
            return gamma_error("invalid cursor", HTTPStatus.UNPROCESSABLE_ENTITY)
        page = chosen[start : start + max(1, limit)]
        body: dict[str, object] = {"markets": [self._gamma_market(info, parent=event) for info, event in page]}
        if start + len(page) < len(chosen):
            body["next_cursor"] = base64.urlsafe_b64encode(f"k{start + len(page)}".encode()).decode()
        return _json(body)

    async def _market_by_id(self, request: web.Request) -> web.Response:
        return self._one_market(lambda listing: listing.listing_id == request.match_info["id"])

    async def _market_by_slug(self, request: web.Request) -> web.Response:
        return self._one_market(lambda listing: listing.slug == request.match_info["slug"])

    def _one_market(self, matches: Callable[[MarketListing], bool]) -> web.Response:
        for event in self._events_catalogue():
            for info in event.markets:
                if matches(self._exchange.listing(info.condition_id)):
                    return _json(self._gamma_market(info, parent=event))
        return gamma_error("market not found", HTTPStatus.NOT_FOUND, kind="not found error")

    # --- events, tags, series ----------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = number(query, "limit", _DEFAULT_LIMIT, maximum=_MAX_LIMIT)
            offset = number(query, "offset", 0)
            closed = flag(query, "closed")
            ids = set(strings(query, "id"))
            slugs = set(strings(query, "slug"))
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        tag_id = query.get("tag_id")
        events = [self._gamma_event(event) for event in self._events_catalogue()]
        chosen = [
            event
            for event in events
            if (closed is None or event.closed == closed)
            and (not ids or event.id in ids)
            and (not slugs or event.slug in slugs)
            and (not tag_id or any(tag.id == tag_id for tag in event.tags or ()))
        ]
        return _json(chosen[offset : offset + limit])

    async def _event_by_id(self, request: web.Request) -> web.Response:
        return self._one_event(lambda event: event.id == request.match_info["id"])

    async def _event_by_slug(self, request: web.Request) -> web.Response:
        return self._one_event(lambda event: event.slug == request.match_info["slug"])

    def _one_event(self, matches: Callable[[_Event], bool]) -> web.Response:
        for event in self._events_catalogue():
            if matches(event):
                return _json(self._gamma_event(event))
        return gamma_error("event not found", HTTPStatus.NOT_FOUND, kind="not found error")

    async def _tags(self, request: web.Request) -> web.Response:
        try:
            limit = number(request.query, "limit", _MAX_LIMIT, maximum=_MAX_LIMIT)
            offset = number(request.query, "offset", 0)
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        return _json([_gamma_tag(tag) for tag in (*_TAGS, _OTHER_TAG)][offset : offset + limit])

    async def _tag_by_id(self, request: web.Request) -> web.Response:
        for tag in (*_TAGS, _OTHER_TAG):
            if tag[0] == request.match_info["id"]:
                return _json(_gamma_tag(tag))
        return gamma_error("tag not found", HTTPStatus.NOT_FOUND, kind="not found error")

    def _all_series(self) -> list[GammaSeries]:
        events = self._events_catalogue()
        result: list[GammaSeries] = []
        for tag_id, label, _keywords in (*_TAGS, _OTHER_TAG):
            members = [self._gamma_event(event, with_markets=False) for event in events if event.tag[0] == tag_id]
            if members:
                series = _gamma_series_head(tag_id, label)
                series.events = members
                result.append(series)
        return result

    async def _series(self, request: web.Request) -> web.Response:
        try:
            limit = number(request.query, "limit", _DEFAULT_LIMIT, maximum=_MAX_LIMIT)
            offset = number(request.query, "offset", 0)
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        return _json(self._all_series()[offset : offset + limit])

    async def _series_by_id(self, request: web.Request) -> web.Response:
        for series in self._all_series():
            if series.id == request.match_info["id"]:
                return _json(series)
        return gamma_error("series not found", HTTPStatus.NOT_FOUND, kind="not found error")

    # --- search and comments -----------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query
        text = query.get("q", "").strip().lower()
        if not text:
            return gamma_error("q is required", HTTPStatus.UNPROCESSABLE_ENTITY)
        try:
            per_type = max(1, number(query, "limit_per_type", 10, maximum=_MAX_LIMIT))
            page = max(1, number(query, "page", 1))
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        events = [
            event
            for event in self._events_catalogue()
            if text in f"will {event.topic}".lower() or any(text in info.question.lower() for info in event.markets)
        ]
        start = (page - 1) * per_type
        tags = [tag for tag in (*_TAGS, _OTHER_TAG) if text in tag[1].lower()]
        profiles: list[dict[str, object] | None] = [
            {"name": name, "proxyWallet": wallet}
            for wallet, name in self._ledger.names().items()
            if text in name.lower()
        ]
        response = GammaSearchResponse(
            events=[self._gamma_event(event) for event in events[start : start + per_type]],
            tags=[{"id": tag[0], "label": tag[1], "slug": tag[1].lower()} for tag in tags[:per_type]],
            profiles=list(profiles[:per_type]),
            pagination=GammaSearchPagination(has_more=start + per_type < len(events), total_results=len(events)),
        )
        return _json(response)

    async def _comments(self, request: web.Request) -> web.Response:
        query = request.query
        entity_type = query.get("parent_entity_type")
        if entity_type is not None and entity_type not in _COMMENT_ENTITIES:
            return gamma_error('expected value to be one of "Event, Series, PerpsAsset"', HTTPStatus.BAD_REQUEST)
        try:
            limit = number(query, "limit", _DEFAULT_LIMIT, maximum=_MAX_LIMIT)
            offset = number(query, "offset", 0)
        except QueryError as exc:
            return gamma_error(exc.message, HTTPStatus.UNPROCESSABLE_ENTITY)
        entity_id = whole_number(query.get("parent_entity_id"), max_digits=12)
        chosen = [
            comment
            for comment in reversed(self._rtds_sources.published_comments)
            if (entity_type is None or comment.parent_entity_type == entity_type)
            and (entity_id is None or comment.parent_entity_id == entity_id)
        ]
        return _json(chosen[offset : offset + limit])


def _tag_of(topic: str) -> tuple[str, str, tuple[str, ...]]:
    return next((tag for tag in _TAGS if any(keyword in topic for keyword in tag[2])), _OTHER_TAG)


def _gamma_tag(tag: tuple[str, str, tuple[str, ...]]) -> GammaTag:
    tag_id, label, _ = tag
    return GammaTag(id=tag_id, label=label, slug=label.lower(), force_show=False, is_carousel=False)


def _gamma_series_head(tag_id: str, label: str) -> GammaSeries:
    slug = f"{label.lower()}-markets"
    return GammaSeries(
        id=str(_SERIES_ID_BASE + int(tag_id)),
        ticker=slug,
        slug=slug,
        title=f"{label} markets",
        series_type="single",
        recurrence="none",
        active=True,
        closed=False,
    )


def _keyset_position(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return whole_number(text[1:], max_digits=9) if text.startswith("k") else None


def _json(body: object) -> web.Response:
    return web.Response(body=JSON_ENCODER.encode(body), content_type="application/json")
