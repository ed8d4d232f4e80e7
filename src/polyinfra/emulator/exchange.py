"""The emulator's exchange: market state over many binary markets, and the market-channel events
every change produces (venue notes: Market channel), built on :class:`~polyinfra.core.matching.MatchingEngine`.

Every action (place, cancel, expiry, tick change, listing, resolution) changes state, then calls
each listener once with the wire events it produced, in order, before it returns: a REST read
after an action sees exactly the state its events describe.

The events of one action on a market come in this order, each describing the state at its point
in the sequence (so every hash it carries is the hash a replaying client computes there):

1. one ``price_change`` for all level changes, with an entry per token for each Yes-space level
   (the level and its No-space mirror); ``size`` is the new aggregate, ``hash`` the token's book
   hash and ``best_bid``/``best_ask`` its best prices right after that entry, an empty bid side
   reported as "0" and an empty ask side as "1";
2. after trades, a ``last_trade_price`` for each token that traded (the price of its last fill in
   the action, the taker's side, the action's total size on that token), then a full ``book`` of
   both tokens (venue notes: Market channel);
3. ``best_bid_ask`` for both tokens when the market's best bid or ask changed;
4. ``tick_size_change`` for both tokens when the venue's tick rule fires: a market quoted coarser
   than 0.001 moves to 0.001 once a book or trade price goes above 0.96 or below 0.04 (venue notes: Orders).
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import count
from types import MappingProxyType
from typing import TypeVar

from polyinfra.core.book_summary import book_message, hashed_summary
from polyinfra.core.matching import (
    BookLevels,
    Cancellation,
    Fill,
    LevelChange,
    MatchingEngine,
    MatchKind,
    Order,
    SubmitResult,
    project_levels,
)
from polyinfra.errors import InvalidValueError
from polyinfra.model.ids import ConditionId, TokenId
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side, TickSize, format_micros, to_micros
from polyinfra.model.orders import TimeInForce
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BestBidAskMessage,
    BookMessage,
    LastTradePriceMessage,
    MarketEvent,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChange,
    PriceChangeMessage,
    TickSizeChangeMessage,
)

__all__ = ["CancelListener", "Exchange", "FillListener", "MarketListener", "fee_rate_bps"]

MarketListener = Callable[[Sequence[MarketEvent]], None]
"""Receives the market-channel events of one action, in order."""

CancelListener = Callable[[Sequence[Order]], None]
"""Receives the orders one action took off a book: a cancel, a GTD expiry or a resolution."""

FillListener = Callable[[Sequence[Fill]], None]
"""Receives the fills of one placement, in matching order."""

_Listener = TypeVar("_Listener", MarketListener, CancelListener, FillListener)

_Canceller = Callable[[MatchingEngine, int], Cancellation]
"""A cancelling engine call, given the engine and the action's time in unix seconds."""

_GTD_SECURITY_THRESHOLD_S = 60
"""A GTD order lives until one minute before its ``expiration`` (to expire in 90 s,
clients send now + 60 + 30), so one expiring sooner than that is refused."""

_PRICE_HISTORY_LIMIT = 100_000

_BPS_PER_UNIT = 10_000
"""Points of trade-price history kept per token (one per second at most): about a day of
continuous trading, so an emulator left running for weeks stays bounded."""

_UNTRADED_PRICE_MICROS = 500_000
"""What listings show for a token with neither a two-sided book nor a trade."""

_TICK_RULE_HIGH_MICROS = 960_000
_TICK_RULE_LOW_MICROS = 40_000
_FINE_TICK = TickSize.TICK_0_001
# What the venue reports for an empty side in price_change and best_bid_ask (venue notes: Market channel).
_EMPTY_BID = "0"
_EMPTY_ASK = "1"


@dataclass(frozen=True, slots=True)
class MarketListing:
    """What the venue's listing says about a market besides its trading rules: shown the same way
    in ``new_market`` / ``market_resolved`` events and in ``/markets``."""

    listing_id: str
    """Gamma-style numeric market id: the market's position in the listing, stable for the session."""
    question_id: str
    slug: str
    description: str


@dataclass(slots=True)
class _Market:
    info: MarketInfo
    listing: MarketListing
    engine: MatchingEngine
    book_timestamp_ms: int
    """Time of the last level change; the summaries' ``timestamp``."""
    min_order_size_micros: int
    last_trades: dict[TokenId, tuple[int, Side]] = field(default_factory=dict)
    price_histories: dict[TokenId, deque[tuple[int, int]]] = field(default_factory=dict)
    winning_token: TokenId | None = None

    @property
    def yes_token(self) -> TokenId:
        return self.info.tokens[0].token_id

    @property
    def no_token(self) -> TokenId:
        return self.info.tokens[1].token_id


class Exchange:
    """Market state of the emulator: books, trades and listings of many binary markets.

    The first token of each :class:`MarketInfo` is the one whose price space its book is kept in
    (the "Yes" of a Yes/No market). ``clock_ms`` is read once per action; with a deterministic
    clock, the same actions produce the same events.
    """

    def __init__(self, markets: Sequence[MarketInfo], *, clock_ms: Callable[[], int]) -> None:
        self._clock_ms = clock_ms
        self._markets: dict[ConditionId, _Market] = {}
        self._infos: dict[ConditionId, MarketInfo] = {}
        self._markets_by_token: dict[str, _Market] = {}
        self._order_markets: dict[str, _Market] = {}
        self._listeners: dict[int, MarketListener] = {}
        self._cancel_listeners: dict[int, CancelListener] = {}
        self._fill_listeners: dict[int, FillListener] = {}
        self._listener_ids = count()
        self._neg_risk_events: dict[str, tuple[ConditionId, ...]] = {}
        now_ms = clock_ms()
        for market in markets:
            self._list(market, now_ms)

    # --- market data -----------------------------------------------------------------------------

    @property
    def markets(self) -> Mapping[ConditionId, MarketInfo]:
        """Every listed market by condition id, in listing order, with its current tick size."""
        return MappingProxyType(self._infos)

    def group_neg_risk_event(self, market_id: str, questions: Sequence[ConditionId]) -> None:
        """Record that the listed neg-risk markets ``questions`` (in question-index order) are the questions of
        the neg-risk market ``market_id``: what the emulated neg-risk adapter converts between."""
        for condition in questions:
            if not self._market(condition).info.neg_risk:
                raise InvalidValueError("only neg-risk markets are questions of a neg-risk event", market=condition)
        self._neg_risk_events[market_id.lower()] = tuple(questions)

    def neg_risk_questions(self, market_id: str) -> tuple[ConditionId, ...]:
        """The questions of the neg-risk market ``market_id`` in index order; empty for one never prepared."""
        return self._neg_risk_events.get(market_id.lower(), ())

    def neg_risk_market_id(self, condition_id: str) -> str | None:
        """The neg-risk market a question belongs to, None for a market outside any."""
        return next((event for event, questions in self._neg_risk_events.items() if condition_id in questions), None)

    def market_of(self, token_id: str) -> MarketInfo | None:
        """The market trading ``token_id``, or None for an unknown token."""
        market = self._markets_by_token.get(token_id)
        return None if market is None else market.info

    def tokens(self) -> list[TokenId]:
        """Every token id, market by market in listing order."""
        return [token.token_id for info in self._infos.values() for token in info.tokens]

    def listing(self, condition_id: str) -> MarketListing:
        """The market's listing details (id, question id, slug, description)."""
        return self._market(condition_id).listing

    def winning_token(self, condition_id: str) -> TokenId | None:
        """The token a market resolved to, or None while it is open."""
        return self._market(condition_id).winning_token

    def book_summary(self, token_id: str) -> OrderBookSummary:
        """``GET /book`` for one token, hash included (venue notes: Order books)."""
        market = self._market_of_token(token_id)
        token = _token(market, token_id)
        return self._summary(market, token, market.engine.levels(token))

    def book_message(self, token_id: str) -> BookMessage:
        """The market channel's ``book`` snapshot of one token: its summary as an event."""
        return book_message(self.book_summary(token_id))

    def levels(self, token_id: str) -> BookLevels:
        """The token's aggregate levels as ints of micro-units, best price last on both sides."""
        return self._market_of_token(token_id).engine.levels(token_id)

    def best_bid(self, token_id: str) -> int | None:
        return self._market_of_token(token_id).engine.best_bid(token_id)

    def best_ask(self, token_id: str) -> int | None:
        return self._market_of_token(token_id).engine.best_ask(token_id)

    def midpoint(self, token_id: str) -> int | None:
        """Halfway between the token's best bid and best ask, in micros; None when a side is empty."""
        bid, ask = self.best_bid(token_id), self.best_ask(token_id)
        if bid is None or ask is None:
            return None
        # Prices are whole ticks (multiples of 100 micros), so the sum halves exactly.
        return (bid + ask) // 2

    def display_price(self, token_id: str) -> int:
        """The price a listing shows for the token, in micros: its midpoint when both sides of the
        book are there, else its last trade price, else 0.5."""
        mid = self.midpoint(token_id)
        if mid is not None:
            return mid
        last = self.last_trade(token_id)
        return _UNTRADED_PRICE_MICROS if last is None else last[0]

    def last_trade(self, token_id: str) -> tuple[int, Side] | None:
        """Price and taker side of the token's last trade, or None when it never traded."""
        market = self._market_of_token(token_id)
        return market.last_trades.get(_token(market, token_id))

    def price_history(self, token_id: str) -> list[tuple[int, int]]:
        """Trade prices of the token as (unix seconds, price micros), oldest first, one per second."""
        market = self._market_of_token(token_id)
        return list(market.price_histories.get(_token(market, token_id), ()))

    def open_orders(self, owner: str | None = None) -> list[Order]:
        """Resting orders of every market (all, or one owner's), market by market in arrival order."""
        return [order for market in self._markets.values() for order in market.engine.open_orders(owner)]

    def open_orders_in(self, token_id: str, owner: str) -> list[Order]:
        """``owner``'s resting orders on ``token_id``, in arrival order: one market's, whatever the rest hold."""
        resting = self._market_of_token(token_id).engine.open_orders(owner)
        return [order for order in resting if order.token_id == token_id]

    def subscribe(self, listener: MarketListener) -> Callable[[], None]:
        """Call ``listener`` with the events of every later action; returns the unsubscribe function.

        Listeners run synchronously inside the action. A listener that raises does not stop the
        others; the first error is re-raised once all have run.
        """
        return self._subscribe(self._listeners, listener)

    def subscribe_cancellations(self, listener: CancelListener) -> Callable[[], None]:
        """Call ``listener`` with the orders every later cancel takes off a book; returns the unsubscribe function.

        Covers the cancels the exchange makes by itself (GTD expiry, also inside :meth:`place`, and
        :meth:`resolve_market`) as well as requested ones, so an order owner hears of all of them the
        same way. Listeners run synchronously, before the action's market events are published.
        """
        return self._subscribe(self._cancel_listeners, listener)

    def subscribe_fills(self, listener: FillListener) -> Callable[[], None]:
        """Call ``listener`` with the fills of every later placement that traded; returns the unsubscribe function.

        Whoever placed the taking order (a REST client or the simulator), so that the owners of
        resting orders see every change of their remaining sizes. Listeners run synchronously,
        before the placement's market events are published.
        """
        return self._subscribe(self._fill_listeners, listener)

    # --- trading ---------------------------------------------------------------------------------

    def place(self, order: Order) -> SubmitResult:
        """Submit an order to its token's market (see :meth:`MatchingEngine.submit`).

        Also refused with :class:`~polyinfra.errors.InvalidValueError`: an unknown token, a resolved
        market, a size below the market's ``min_order_size`` and a GTD expiring within the venue's
        one-minute threshold. GTD orders of the market that expired are cancelled first, as an
        action of their own, so they never trade.
        """
        market = self._market_of_token(order.token_id)
        if market.winning_token is not None:
            raise InvalidValueError("market is resolved", market=market.info.condition_id, order_id=order.order_id)
        if order.order_id in self._order_markets:
            raise InvalidValueError("an order with this id is already live", order_id=order.order_id)
        if order.size_micros < market.min_order_size_micros:
            # The venue's text: "Size (x) lower than the minimum: 5" (venue notes: Orders).
            raise InvalidValueError(
                "size lower than the minimum",
                order_id=order.order_id,
                size=format_micros(order.size_micros),
                min_order_size=format_micros(market.min_order_size_micros),
            )
        now_ms = self._clock_ms()
        now_s = now_ms // 1000
        if order.time_in_force is TimeInForce.GTD and order.expiration_s <= now_s + _GTD_SECURITY_THRESHOLD_S:
            raise InvalidValueError(
                "GTD expiration must be more than 60 s in the future",
                order_id=order.order_id,
                expiration_s=order.expiration_s,
                now_s=now_s,
            )
        market.engine.validate(order)
        self._publish(self._cancel_in(market, _expire, now_ms)[1])

        yes_sizes = market.engine.yes_space_sizes()
        result = market.engine.submit(order)
        if result.rests:
            self._order_markets[order.order_id] = market
        for fill in result.fills:
            if not fill.maker_remaining_micros:
                del self._order_markets[fill.maker_order_id]
        if result.fills:
            for fill_listener in list(self._fill_listeners.values()):
                fill_listener(result.fills)
        self._publish(self._market_events(market, yes_sizes, result.level_changes, result.fills, now_ms))
        return result

    def cancel(self, order_id: str) -> Cancellation:
        """Cancel one resting order; an unknown or no longer resting id cancels nothing."""
        market = self._order_markets.get(order_id)
        if market is None:
            return Cancellation((), ())
        cancellation, events = self._cancel_in(market, lambda engine, _now_s: engine.cancel(order_id), self._clock_ms())
        self._publish(events)
        return cancellation

    def cancel_all(self, owner: str) -> list[Order]:
        """Cancel every resting order of ``owner`` in every market; returns them."""
        return self._cancel_everywhere(lambda engine, _now_s: engine.cancel_owner(owner))

    def expire_orders(self) -> list[Order]:
        """Cancel the GTD orders of every market whose lifetime is over; returns them.

        :meth:`place` expires its own market's orders first; a server calls this periodically so
        that quiet markets stop showing expired orders too.
        """
        return self._cancel_everywhere(_expire)

    # --- market lifecycle ------------------------------------------------------------------------

    def set_tick_size(self, condition_id: str, tick_size: TickSize) -> None:
        """Change a market's tick size; resting orders keep their prices. Emits ``tick_size_change``."""
        market = self._market(condition_id)
        if tick_size is market.info.tick_size:
            return
        self._publish(self._change_tick_size(market, tick_size, self._clock_ms()))

    def add_market(self, market: MarketInfo) -> None:
        """List a new market (empty books). Emits ``new_market``."""
        now_ms = self._clock_ms()
        listed = self._list(market, now_ms)
        first, second = market.tokens
        self._publish(
            [
                NewMarketMessage(
                    id=listed.listing.listing_id,
                    market=market.condition_id,
                    assets_ids=[first.token_id, second.token_id],
                    timestamp=str(now_ms),
                    question=market.question,
                    slug=listed.listing.slug,
                    description=listed.listing.description,
                    outcomes=[first.outcome, second.outcome],
                )
            ]
        )

    def resolve_market(self, condition_id: str, winning_token_id: str) -> Cancellation:
        """Resolve a market: cancel its resting orders, refuse new ones, emit ``market_resolved``."""
        market = self._market(condition_id)
        info = market.info
        if market.winning_token is not None:
            raise InvalidValueError("market is already resolved", market=condition_id)
        winner = _token(market, winning_token_id)
        market.winning_token = winner
        now_ms = self._clock_ms()
        cancellation, events = self._cancel_in(market, lambda engine, _now_s: engine.cancel_all(), now_ms)
        first, second = info.tokens
        events.append(
            MarketResolvedMessage(
                id=market.listing.listing_id,
                market=info.condition_id,
                assets_ids=[first.token_id, second.token_id],
                winning_asset_id=winner,
                winning_outcome=info.outcome_of(winner),
                timestamp=str(now_ms),
                question=info.question,
                slug=market.listing.slug,
                description=market.listing.description,
                outcomes=[first.outcome, second.outcome],
            )
        )
        self._publish(events)
        return cancellation

    # --- internals -------------------------------------------------------------------------------

    def _subscribe(self, listeners: dict[int, _Listener], listener: _Listener) -> Callable[[], None]:
        listener_id = next(self._listener_ids)
        listeners[listener_id] = listener

        def unsubscribe() -> None:
            listeners.pop(listener_id, None)

        return unsubscribe

    def _list(self, info: MarketInfo, now_ms: int) -> _Market:
        if info.condition_id in self._markets:
            raise InvalidValueError("market is already listed", market=info.condition_id)
        first, second = info.tokens
        for token in info.tokens:
            if token.token_id in self._markets_by_token:
                raise InvalidValueError("token is already listed", token_id=token.token_id)
        market = _Market(
            info=info,
            listing=MarketListing(
                listing_id=str(len(self._markets) + 1),
                # The emulator has no separate question ids: a stable one derived from the condition id.
                question_id="0x" + hashlib.sha256(f"question:{info.condition_id}".encode()).hexdigest(),
                slug=_slug(info.question),
                description=_description(info),
            ),
            engine=MatchingEngine(yes_token_id=first.token_id, no_token_id=second.token_id, tick_size=info.tick_size),
            book_timestamp_ms=now_ms,
            min_order_size_micros=to_micros(info.min_order_size),
        )
        self._markets[info.condition_id] = market
        self._infos[info.condition_id] = info
        self._markets_by_token[first.token_id] = market
        self._markets_by_token[second.token_id] = market
        return market

    def _market(self, condition_id: str) -> _Market:
        market = self._markets.get(ConditionId(condition_id))
        if market is None:
            raise InvalidValueError("unknown market", market=condition_id)
        return market

    def _market_of_token(self, token_id: str) -> _Market:
        market = self._markets_by_token.get(token_id)
        if market is None:
            raise InvalidValueError("unknown token", token_id=token_id)
        return market

    def _cancel_in(self, market: _Market, cancel: _Canceller, now_ms: int) -> tuple[Cancellation, list[MarketEvent]]:
        """Run a cancelling engine call on one market; the cancellation and the events it produced."""
        yes_sizes = market.engine.yes_space_sizes()
        cancellation = cancel(market.engine, now_ms // 1000)
        for order in cancellation.orders:
            del self._order_markets[order.order_id]
        if cancellation.orders:
            for listener in list(self._cancel_listeners.values()):
                listener(cancellation.orders)
        return cancellation, self._market_events(market, yes_sizes, cancellation.level_changes, (), now_ms)

    def _cancel_everywhere(self, cancel: _Canceller) -> list[Order]:
        """One action over every market; the orders it cancelled."""
        now_ms = self._clock_ms()
        orders: list[Order] = []
        events: list[MarketEvent] = []
        for market in self._markets.values():
            cancellation, market_events = self._cancel_in(market, cancel, now_ms)
            orders.extend(cancellation.orders)
            events.extend(market_events)
        self._publish(events)
        return orders

    def _publish(self, events: list[MarketEvent]) -> None:
        if not events:
            return
        batch = tuple(events)  # immutable: every listener sees the same events
        first_error: Exception | None = None
        for listener in list(self._listeners.values()):
            try:
                listener(batch)
            except Exception as error:  # one broken listener must not starve the others
                if first_error is None:
                    first_error = error
        if first_error is not None:
            raise first_error

    def _market_events(
        self,
        market: _Market,
        yes_sizes_before: tuple[dict[int, int], dict[int, int]],
        level_changes: Sequence[LevelChange],
        fills: Sequence[Fill],
        now_ms: int,
    ) -> list[MarketEvent]:
        """Apply the bookkeeping of an engine action and build its events, in the module's order."""
        if not level_changes and not fills:
            return []
        bids_before, asks_before = yes_sizes_before
        best_before = (max(bids_before, default=None), min(asks_before, default=None))
        market.book_timestamp_ms = now_ms
        # Fills always change levels, so every action that gets here has a price_change.
        events: list[MarketEvent] = [self._price_change(market, bids_before, asks_before, level_changes)]
        if fills:
            events.extend(self._record_trades(market, fills, now_ms))
            for token in (market.yes_token, market.no_token):
                summary = self._summary(market, token, market.engine.levels(token))
                events.append(book_message(summary))
        yes_bid = market.engine.best_bid(market.yes_token)
        yes_ask = market.engine.best_ask(market.yes_token)
        if (yes_bid, yes_ask) != best_before:
            events.extend(self._best_bid_ask(market, yes_bid, yes_ask, now_ms))
        if market.info.tick_size.micros_per_tick > _FINE_TICK.micros_per_tick and _beyond_tick_rule(
            [yes_bid, yes_ask, *(fill.maker_price_micros for fill in fills)]
        ):
            events.extend(self._change_tick_size(market, _FINE_TICK, now_ms))
        return events

    def _price_change(
        self,
        market: _Market,
        bids: dict[int, int],
        asks: dict[int, int],
        level_changes: Sequence[LevelChange],
    ) -> PriceChangeMessage:
        """One message for the action; ``bids``/``asks`` (Yes-space sizes before it) are advanced
        entry by entry so each entry's hash and best prices are those right after it."""
        entries: list[PriceChange] = []
        for change in level_changes:
            sizes = bids if change.side is Side.BUY else asks
            if change.size_micros:
                sizes[change.price_micros] = change.size_micros
            else:
                sizes.pop(change.price_micros, None)
            size = format_micros(change.size_micros)
            for token, side, price in (
                (market.yes_token, change.side, change.price_micros),
                (market.no_token, change.side.opposite, MICROS - change.price_micros),
            ):
                levels = project_levels(bids, asks, yes_token=token == market.yes_token)
                entries.append(
                    PriceChange(
                        asset_id=token,
                        price=format_micros(price),
                        side=side.value,
                        size=size,
                        hash=self._summary(market, token, levels).hash,
                        best_bid=format_micros(levels.bids[-1].price_micros) if levels.bids else _EMPTY_BID,
                        best_ask=format_micros(levels.asks[-1].price_micros) if levels.asks else _EMPTY_ASK,
                    )
                )
        return PriceChangeMessage(
            market=market.info.condition_id, timestamp=str(market.book_timestamp_ms), price_changes=entries
        )

    def _record_trades(self, market: _Market, fills: Sequence[Fill], now_ms: int) -> list[MarketEvent]:
        """Update last trade and price history per token; one ``last_trade_price`` per token that traded."""
        traded: dict[TokenId, tuple[int, int, Side]] = {}  # token -> (last price, total size, taker side)
        for fill in fills:
            sides = [(fill.taker_token_id, fill.taker_price_micros)]
            if fill.kind is not MatchKind.NORMAL:
                sides.append((fill.maker_token_id, fill.maker_price_micros))
            for token, price in sides:
                _, size, _ = traded.get(token, (0, 0, fill.taker_side))
                # In a mint both sides buy and in a merge both sell, so the taker's side is each token's.
                traded[token] = (price, size + fill.size_micros, fill.taker_side)
        now_s = now_ms // 1000
        events: list[MarketEvent] = []
        for token in (market.yes_token, market.no_token):
            if token not in traded:
                continue
            price, size, side = traded[token]
            market.last_trades[token] = (price, side)
            history = market.price_histories.setdefault(token, deque(maxlen=_PRICE_HISTORY_LIMIT))
            if history and history[-1][0] == now_s:
                history[-1] = (now_s, price)
            else:
                history.append((now_s, price))
            events.append(
                LastTradePriceMessage(
                    asset_id=token,
                    market=market.info.condition_id,
                    price=format_micros(price),
                    timestamp=str(now_ms),
                    side=side.value,
                    size=format_micros(size),
                    fee_rate_bps=fee_rate_bps(market.info, taker=True),
                )
            )
        return events

    def _best_bid_ask(
        self, market: _Market, yes_bid: int | None, yes_ask: int | None, now_ms: int
    ) -> list[MarketEvent]:
        no_bid = None if yes_ask is None else MICROS - yes_ask
        no_ask = None if yes_bid is None else MICROS - yes_bid
        events: list[MarketEvent] = []
        for token, bid, ask in ((market.yes_token, yes_bid, yes_ask), (market.no_token, no_bid, no_ask)):
            bid_micros = 0 if bid is None else bid
            ask_micros = MICROS if ask is None else ask
            events.append(
                BestBidAskMessage(
                    market=market.info.condition_id,
                    asset_id=token,
                    best_bid=format_micros(bid_micros),
                    best_ask=format_micros(ask_micros),
                    spread=format_micros(ask_micros - bid_micros),
                    timestamp=str(now_ms),
                )
            )
        return events

    def _change_tick_size(self, market: _Market, tick_size: TickSize, now_ms: int) -> list[MarketEvent]:
        old = market.info.tick_size
        market.engine.set_tick_size(tick_size)
        market.info = replace(market.info, tick_size=tick_size)
        self._infos[market.info.condition_id] = market.info
        return [
            TickSizeChangeMessage(
                asset_id=token,
                market=market.info.condition_id,
                old_tick_size=old.text,
                new_tick_size=tick_size.text,
                timestamp=str(now_ms),
            )
            for token in (market.yes_token, market.no_token)
        ]

    def _summary(self, market: _Market, token_id: TokenId, levels: BookLevels) -> OrderBookSummary:
        """The token's summary with the market's current fields and the given levels, hash included."""
        info = market.info
        last_trade = market.last_trades.get(token_id)
        return hashed_summary(
            market=info.condition_id,
            asset_id=token_id,
            timestamp=str(market.book_timestamp_ms),
            bids=levels.bids,
            asks=levels.asks,
            min_order_size=format_micros(market.min_order_size_micros),
            tick_size=info.tick_size.text,
            neg_risk=info.neg_risk,
            last_trade_price="" if last_trade is None else format_micros(last_trade[0]),
        )


def _expire(engine: MatchingEngine, now_s: int) -> Cancellation:
    """Cancel GTD orders within the venue's one-minute threshold of their expiration."""
    return engine.expire(now_s + _GTD_SECURITY_THRESHOLD_S)


def _token(market: _Market, token_id: str) -> TokenId:
    """``token_id`` as one of the market's tokens, or a typed error."""
    for token in (market.yes_token, market.no_token):
        if token == token_id:
            return token
    raise InvalidValueError("token is not part of this market", token_id=token_id, market=market.info.condition_id)


def _beyond_tick_rule(prices: Iterable[int | None]) -> bool:
    """True when a price is above 0.96 or below 0.04 (Yes and No prices mirror, so either token's do)."""
    return any(price is not None and not _TICK_RULE_LOW_MICROS <= price <= _TICK_RULE_HIGH_MICROS for price in prices)


def _slug(question: str) -> str:
    """A Gamma-style slug: "Will X happen?" -> "will-x-happen"."""
    return re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")


def _description(info: MarketInfo) -> str:
    first, second = info.tokens
    return (
        f'This market will resolve to "{first.outcome}" if the answer to "{info.question}" is yes. '
        f'Otherwise, this market will resolve to "{second.outcome}".'
    )


def fee_rate_bps(market: MarketInfo, *, taker: bool) -> str:
    """A trade side's ``fee_rate_bps``: the rate of the market's schedule its fee was charged at,
    in basis points (``"300"`` for 0.03), or ``"0"`` for a side that pays none (a maker under a
    taker-only schedule, a fee-free market). After V2 the field is the fee actually charged, not
    V1's signed 1000-bps cap (venue notes: Fees); basis points keep it the integer it always was."""
    schedule = market.fee_schedule
    if schedule is None or (not taker and schedule.taker_only):
        return "0"
    return format((schedule.rate * _BPS_PER_UNIT).normalize(), "f")
