"""``LiveData``: wallet activity, prices and comments from one interface, holes marked (issue 14).

What a user asks for (the trades of some wallets, a few crypto prices, an event's comments) becomes
a :class:`LiveSubscription`: an async iterator and, if a callback is given, a callback, over the
events it asked for and the :class:`~polyinfra.model.live_events.Gap` events of its topics. Behind
it, :func:`~polyinfra.live.transport.transport_for` picks the transport that serves the topic
(PolyBolt for prices when CLOB API credentials are given, RTDS otherwise and always for activity
and comments), the transport's linter plans the subscription, and subscriptions shared by several
consumers are sent once and removed when the last one closes.

Filters the venue's server cannot be trusted with (``activity`` by wallet or slug) are applied
here, on a wide subscription. Symbols are canonical everywhere (``btcusdt`` and ``btc/usd`` are
``btcusd``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self

from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.config_checks import positive_int
from polyinfra.core.polybolt_feed import MARKET_PRICES
from polyinfra.core.rtds_topics import ALL_TYPES, PriceSource, SubscriptionPlan, canonical_symbol
from polyinfra.errors import InvalidValueError
from polyinfra.live.polybolt_client import PolyBoltClient
from polyinfra.live.rtds_client import RtdsClient, RtdsStats
from polyinfra.live.transport import LiveTransport, transport_for
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick, topic_of
from polyinfra.net.event_stream import EventFanout, EventStream
from polyinfra.wire.rtds import Subscription

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = ["VENUE_POLYBOLT_URL", "LiveData", "LiveSubscription", "PriceSource"]

VENUE_POLYBOLT_URL = "wss://ws-live-v2.polymarket.com/ws"
"""The venue's PolyBolt socket."""

_ACTIVITY = "activity"
_COMMENTS = "comments"


@dataclass(slots=True)
class _Wanted:
    """What one subscription lets through."""

    topics: frozenset[str]
    kinds: frozenset[str] | None = None
    wallets: frozenset[str] | None = None
    fields: Mapping[str, str] = field(default_factory=dict)
    symbols: frozenset[str] | None = None
    market_slugs: frozenset[str] | None = None

    def accepts(self, event: LiveEvent) -> bool:
        if isinstance(event, Gap):
            return event.topic in self.topics
        if isinstance(event, PriceTick):
            return event.source in self.topics and (self.symbols is None or event.symbol in self.symbols)
        if isinstance(event, ActivityTrade):
            if _ACTIVITY not in self.topics or (self.kinds is not None and event.kind not in self.kinds):
                return False
            if self.wallets is not None and event.wallet not in self.wallets:
                return False
            if self.market_slugs is not None and event.market_slug not in self.market_slugs:
                return False
            return all(_activity_field(event, name) == value for name, value in self.fields.items())
        if _COMMENTS not in self.topics or (self.kinds is not None and event.kind not in self.kinds):
            return False
        return all(_comment_field(event, name) == value for name, value in self.fields.items())


class LiveSubscription:
    """One consumer's events: ``async for event in subscription``; :meth:`close` unsubscribes."""

    def __init__(
        self,
        owner: LiveData,
        wanted: _Wanted,
        plans: list[tuple[LiveTransport, SubscriptionPlan]],
        queue_size: int,
        callback: Callable[[LiveEvent], None] | None,
    ) -> None:
        self._owner = owner
        self._wanted = wanted
        self._plans = plans
        self._fanout: EventFanout[LiveEvent] = EventFanout(queue_size, what="live data")
        self._stream: EventStream[LiveEvent] = self._fanout.stream()
        if callback is not None:
            self._fanout.add_listener(callback)
        self.closed = False

    @property
    def dropped(self) -> int:
        """Events this subscription's full queue dropped (oldest first)."""
        return self._fanout.dropped

    def _offer(self, events: list[LiveEvent]) -> None:
        accepts = self._wanted.accepts
        mine = [event for event in events if accepts(event)]
        if mine:
            self._fanout.deliver(mine)

    async def close(self) -> None:
        """Stop receiving; the iterator ends after the events already queued."""
        if not self.closed:
            self.closed = True
            self._fanout.close()
            await self._owner._release(self)

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self._stream


class LiveData:
    """Live wallet activity, prices and comments over RTDS and PolyBolt, with gaps marked.

    Use as ``async with LiveData(rtds_url) as live`` (or :meth:`start` / :meth:`stop`). ``rtds_url`` is
    the RTDS socket (``wss://ws-live-data.polymarket.com``, or the emulator's ``"rtds"`` URL).
    With ``credentials`` (the CLOB API key, secret and passphrase) the price topics go to PolyBolt at
    ``polybolt_url`` (the emulator's ``"polybolt"`` URL in tests), with ``polybolt_options`` for
    :class:`~polyinfra.live.polybolt_client.PolyBoltClient`; without them they stay on RTDS.
    ``price_topics_until`` is the last day RTDS price topics are used: after it they are refused
    with a message that names PolyBolt. ``queue_size`` bounds each subscription's queue (the oldest
    events make room). ``recorder`` records every frame and gap. Other keyword arguments go to
    :class:`~polyinfra.live.rtds_client.RtdsClient` (``ping_interval_s``, ``silence_timeout_s``,
    ``reconnect_initial_s``, ``clock``, ...).
    """

    def __init__(
        self,
        rtds_url: str,
        *,
        price_topics_until: dt.date | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        queue_size: int = 10_000,
        recorder: Recorder | None = None,
        credentials: ApiCredentials | None = None,
        polybolt_url: str = VENUE_POLYBOLT_URL,
        polybolt_options: Mapping[str, object] | None = None,
        **rtds_options: object,
    ) -> None:
        self._queue_size = positive_int("queue_size", queue_size)
        self.rtds = RtdsClient(
            rtds_url,
            price_topics_until=price_topics_until,
            today=today,
            recorder=recorder,
            **rtds_options,  # type: ignore[arg-type]
        )
        self._transports: dict[str, LiveTransport] = {self.rtds.name: self.rtds}
        self.polybolt: PolyBoltClient | None = None
        """The PolyBolt transport, when credentials were given."""
        if credentials is not None:
            self.polybolt = PolyBoltClient(
                polybolt_url,
                credentials,
                recorder=recorder,
                **dict(polybolt_options or {}),  # type: ignore[arg-type]
            )
            self._transports[self.polybolt.name] = self.polybolt
        self._subscriptions: list[LiveSubscription] = []
        # Who listens to each topic: an event is offered only to those (most frames are activity).
        self._by_topic: dict[str, list[LiveSubscription]] = {}
        self._uses: dict[tuple[str, Subscription], int] = {}
        self._started = False

    async def start(self) -> None:
        if not self._started:
            self._started = True
            for transport in self._transports.values():
                await transport.start(self._dispatch)

    async def stop(self) -> None:
        for subscription in list(self._subscriptions):
            await subscription.close()
        for transport in self._transports.values():
            await transport.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()

    def stats(self) -> RtdsStats:
        """The RTDS transport's counters: messages, gaps and staleness per topic (PolyBolt's:
        ``live.polybolt.stats()``)."""
        return self.rtds.stats()

    # --- what users subscribe to -----------------------------------------------------------------------

    async def activity(
        self,
        *,
        wallets: Iterable[str] | None = None,
        market_slugs: Iterable[str] | None = None,
        event_slug: str | None = None,
        kinds: Iterable[str] = ("trades",),
        callback: Callable[[LiveEvent], None] | None = None,
    ) -> LiveSubscription:
        """Trades (``kinds``: ``trades``, ``orders_matched``) of ``wallets`` (any case; None: everyone),
        in ``market_slugs`` / ``event_slug`` if given. The server's slug filter matches nothing, so
        the topic is subscribed whole and filtered here."""
        kind_set = frozenset(kinds)
        wallet_set = None if wallets is None else frozenset(wallet.strip().lower() for wallet in wallets)
        if wallet_set is not None and not wallet_set:
            raise InvalidValueError("wallets is empty: pass None for every wallet")
        fields: dict[str, str] = {} if event_slug is None else {"event_slug": event_slug}
        plans = [self._plan(_ACTIVITY, kind, None) for kind in sorted(kind_set)]
        slugs = None if market_slugs is None else frozenset(market_slugs)
        wanted = _Wanted(frozenset({_ACTIVITY}), kind_set, wallet_set, fields, market_slugs=slugs)
        return await self._open(wanted, plans, callback)

    async def prices(
        self,
        symbols: Iterable[str],
        *,
        source: PriceSource = PriceSource.BINANCE,
        callback: Callable[[LiveEvent], None] | None = None,
    ) -> LiveSubscription:
        """Prices of ``symbols`` (any spelling: ``btcusd``, ``btcusdt``, ``BTC/USD``; tickers for
        equities) from ``source``; each yields :class:`PriceTick` with the canonical symbol."""
        canonical = frozenset(canonical_symbol(symbol) for symbol in symbols)
        if not canonical:
            raise InvalidValueError("no symbol given")
        plans = [self._plan(source.value, "update", {"symbol": symbol}) for symbol in sorted(canonical)]
        return await self._open(_Wanted(frozenset({source.value}), symbols=canonical), plans, callback)

    async def market_prices(
        self, asset_ids: Iterable[str], *, callback: Callable[[LiveEvent], None] | None = None
    ) -> LiveSubscription:
        """Prices of Polymarket outcome tokens by asset (token) id, over PolyBolt (credentials needed);
        each :class:`PriceTick` has ``source`` ``market_prices`` and the asset id as its symbol."""
        wanted = frozenset(asset_ids)
        if not wanted:
            raise InvalidValueError("no asset id given")
        plans = [self._plan(MARKET_PRICES, "update", {"asset_id": asset_id}) for asset_id in sorted(wanted)]
        return await self._open(_Wanted(frozenset({MARKET_PRICES}), symbols=wanted), plans, callback)

    async def comments(
        self,
        *,
        parent_entity_id: int | None = None,
        parent_entity_type: str = "Event",
        kinds: Iterable[str] | None = None,
        callback: Callable[[LiveEvent], None] | None = None,
    ) -> LiveSubscription:
        """Comments and reactions (``kinds``: the venue's types; None: all) on one event or series
        (``parent_entity_id``; None: everywhere)."""
        filters = (
            None
            if parent_entity_id is None
            else {"parentEntityID": parent_entity_id, "parentEntityType": parent_entity_type}
        )
        kind_set = None if kinds is None else frozenset(kinds)
        types = [ALL_TYPES] if kind_set is None else sorted(kind_set)
        plans = [self._plan(_COMMENTS, kind, filters) for kind in types]
        # The server filters too; checked again here, as a wider subscription of another consumer shares the socket.
        fields = {} if filters is None else {name: str(value) for name, value in filters.items()}
        return await self._open(_Wanted(frozenset({_COMMENTS}), kind_set, fields=fields), plans, callback)

    # --- plumbing ----------------------------------------------------------------------------------------

    def _plan(
        self, topic: str, message_type: str, filters: Mapping[str, object] | None
    ) -> tuple[LiveTransport, SubscriptionPlan]:
        transport = transport_for(topic, self._transports)
        return transport, transport.plan(topic, message_type, filters)

    async def _open(
        self,
        wanted: _Wanted,
        plans: list[tuple[LiveTransport, SubscriptionPlan]],
        callback: Callable[[LiveEvent], None] | None,
    ) -> LiveSubscription:
        subscription = LiveSubscription(self, wanted, plans, self._queue_size, callback)
        self._subscriptions.append(subscription)
        for topic in wanted.topics:
            self._by_topic.setdefault(topic, []).append(subscription)
        for transport, plan in plans:
            key = (transport.name, plan.wire)
            self._uses[key] = self._uses.get(key, 0) + 1
            if self._uses[key] == 1:
                await transport.subscribe(plan)
        return subscription

    async def _release(self, subscription: LiveSubscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            for topic in subscription._wanted.topics:
                self._by_topic[topic].remove(subscription)
        for transport, plan in subscription._plans:
            key = (transport.name, plan.wire)
            self._uses[key] = self._uses.get(key, 1) - 1
            if not self._uses[key]:
                del self._uses[key]
                await transport.unsubscribe(plan)

    def _dispatch(self, events: list[LiveEvent]) -> None:
        # A frame's events share one topic (a gap is a batch of its own).
        subscriptions = self._by_topic.get(topic_of(events[0]))
        if subscriptions:
            for subscription in subscriptions:
                subscription._offer(events)


def _activity_field(event: ActivityTrade, name: str) -> str:
    return str(getattr(event, name, ""))


def _comment_field(event: CommentEvent, name: str) -> str:
    value = {"parentEntityID": event.parent_entity_id, "parentEntityType": event.parent_entity_type}.get(name, "")
    return str(value)
