"""A market's recent trades as the venue's live-activity feed (public): ``GET /markets/live-activity/{condition_id}``
(V2 clients) and ``GET /live-activity/events/{condition_id}`` (V1 clients).

Every fill of the matching engine in the market, the simulator's included, becomes one event from
the taker's side: its token, side and price, the fill's size, the taker's fee rate (``"0"`` for the
simulator, which pays none), and the taker as ``user`` (the API key's address, or the zero address
with the simulator agent's name as ``pseudonym``). Newest first; each market keeps its latest
:data:`EVENTS_PER_MARKET`. ``transaction_hash`` is empty: the feed reports the match, not the chain.
An unknown market is a 404 ``market not found``, as ``/markets/{condition_id}`` answers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from http import HTTPStatus
from typing import Final

from aiohttp import web

from polyinfra.core.matching import Fill
from polyinfra.emulator.exchange import Exchange, fee_rate_bps
from polyinfra.errors import ApiError
from polyinfra.model.ids import ConditionId
from polyinfra.model.numbers import format_micros
from polyinfra.wire.clob_rest import JSON_ENCODER, MarketTradeEvent, TradeEventMarket, TradeEventUser

__all__ = ["EVENTS_PER_MARKET", "MarketActivity"]

EVENTS_PER_MARKET: Final = 100
"""Trade events kept per market, newest first."""

_ZERO_ADDRESS: Final = "0x" + "00" * 20

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MarketActivity:
    """Recent trade events per market of ``exchange``; ``trader_address`` names the wallet of an
    order owner (an API key), None for the simulator's agents; ``clock_ms`` is the exchange's clock."""

    def __init__(
        self, exchange: Exchange, *, trader_address: Callable[[str], str | None], clock_ms: Callable[[], int]
    ) -> None:
        self._exchange = exchange
        self._trader_address = trader_address
        self._clock_ms = clock_ms
        self._events: dict[ConditionId, deque[MarketTradeEvent]] = {}
        self._unsubscribe = exchange.subscribe_fills(self._on_fills)

    def close(self) -> None:
        self._unsubscribe()

    def routes(self) -> list[tuple[str, str, _Handler]]:
        return [
            ("GET", "/markets/live-activity/{condition_id}", self._events_of),
            ("GET", "/live-activity/events/{condition_id}", self._events_of),
        ]

    def _on_fills(self, fills: Sequence[Fill]) -> None:
        timestamp = str(self._clock_ms() // 1000)
        for fill in fills:
            market = self._exchange.market_of(fill.taker_token_id)
            if market is None:
                continue
            address = self._trader_address(fill.taker_owner)
            listing = self._exchange.listing(market.condition_id)
            token_ids = [token.token_id for token in market.tokens]
            event = MarketTradeEvent(
                event_type="trade",
                market=TradeEventMarket(
                    condition_id=market.condition_id,
                    asset_id=fill.taker_token_id,
                    question=market.question,
                    icon="",
                    slug=listing.slug,
                ),
                user=TradeEventUser(
                    address=_ZERO_ADDRESS if address is None else address,
                    username="",
                    profile_picture="",
                    optimized_profile_picture="",
                    pseudonym=fill.taker_owner if address is None else "",
                ),
                side=fill.taker_side.value,
                size=format_micros(fill.size_micros),
                fee_rate_bps="0" if address is None else fee_rate_bps(market, taker=True),
                price=format_micros(fill.taker_price_micros),
                outcome=market.outcome_of(fill.taker_token_id),
                outcome_index=token_ids.index(fill.taker_token_id),
                transaction_hash="",
                timestamp=timestamp,
            )
            self._events.setdefault(market.condition_id, deque(maxlen=EVENTS_PER_MARKET)).appendleft(event)

    async def _events_of(self, request: web.Request) -> web.Response:
        condition = ConditionId(request.match_info["condition_id"])
        if condition not in self._exchange.markets:
            raise ApiError("market not found", status=HTTPStatus.NOT_FOUND, condition_id=condition)
        events = list(self._events.get(condition, ()))
        return web.Response(body=JSON_ENCODER.encode(events), content_type="application/json")
