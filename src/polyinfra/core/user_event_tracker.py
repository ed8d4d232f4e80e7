"""Which user-channel events are news: the latest known state of each order and trade, sans-I/O.

The user channel hears of one change twice and in any order: from the socket, and from the REST
reconciliation after a gap. :class:`UserEventTracker` remembers each order's and trade's latest known
state; an event (from the socket or from REST) is delivered only when it moves that state forward, so
duplicates, late socket messages that REST already reported, and REST rows the socket already
delivered are all skipped (counted by the channel). The live channel and its replay offer their events
to the same tracker, so both deliver the same ones.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any, Final, NamedTuple

from polyinfra.core.config_checks import positive_int
from polyinfra.model.trading_events import (
    OrderEventKind,
    OrderStatus,
    OrderUpdate,
    TradeStatus,
    TradeUpdate,
    UserChannelEvent,
)

__all__ = ["Offered", "UserEventTracker"]

# A trade's settlement order (venue notes: User channel): MATCHED, then MINED (or RETRYING and MINED again), then
# CONFIRMED or FAILED. REST may lag the socket: a reconciled status never moves a trade backwards.
_TRADE_RANK: Final[Mapping[TradeStatus, int]] = {
    TradeStatus.MATCHED: 0,
    TradeStatus.MINED: 1,
    TradeStatus.RETRYING: 1,
    TradeStatus.UNKNOWN: 1,
    TradeStatus.CONFIRMED: 2,
    TradeStatus.FAILED: 2,
}
_CLOSED_ORDER_STATUSES: Final = frozenset({OrderStatus.MATCHED, OrderStatus.CANCELED, OrderStatus.INVALID})


class Offered(NamedTuple):
    """:meth:`UserEventTracker.news` of a batch of events."""

    fresh: list[UserChannelEvent]
    unsubscribed: int
    """Events of markets not subscribed (kept from the tracker too: subscribed again, their news are news)."""
    duplicates: int


def _order_closed(update: OrderUpdate) -> bool:
    return (
        update.kind is OrderEventKind.CANCELLATION
        or update.status in _CLOSED_ORDER_STATUSES
        or update.size_matched >= update.original_size
    )


class UserEventTracker:
    """The latest known state of each order and trade, and whether an event moves it forward.

    Sans-I/O. An order moves forward when more of it matched, or when it closed (cancelled or
    fully matched) at the same size; a trade when its status changes and it had not reached a
    terminal one (``CONFIRMED``, ``FAILED``), except that a reconciled status never goes back
    along the settlement order (REST may lag the socket). Bounded: beyond ``limit`` of each, the
    least recently changed are forgotten.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self._limit = positive_int("limit", limit)
        # By order id: (size matched, closed), and its market (condition id).
        self._orders: OrderedDict[str, tuple[tuple[Decimal, bool], str]] = OrderedDict()
        self._trades: OrderedDict[str, tuple[TradeStatus, int | None]] = OrderedDict()

    def accept(self, event: UserChannelEvent) -> bool:
        """Record ``event`` if it is news and say so; False for what is already known."""
        if isinstance(event, OrderUpdate):
            return self._accept_order(event)
        return self._accept_trade(event)

    def _accept_order(self, update: OrderUpdate) -> bool:
        progress = (update.size_matched, _order_closed(update))
        known = self._orders.get(update.order_id)
        if known is not None and progress <= known[0]:
            return False
        self._remember(self._orders, update.order_id, (progress, update.market))
        return True

    def _accept_trade(self, update: TradeUpdate) -> bool:
        known = self._trades.get(update.trade_id)
        if known is not None:
            status = known[0]
            if update.status is status or status.terminal:
                return False
            if update.reconciled and _TRADE_RANK[update.status] < _TRADE_RANK[status]:
                return False
        self._remember(self._trades, update.trade_id, (update.status, update.matched_at_s))
        return True

    def _remember(self, states: OrderedDict[str, Any], key: str, state: object) -> None:
        states[key] = state
        states.move_to_end(key)
        if len(states) > self._limit:
            states.popitem(last=False)

    def news(self, events: list[UserChannelEvent], markets: Collection[str]) -> Offered:
        """What a channel subscribed to ``markets`` (empty: every market) delivers of ``events``:
        those of its markets that move a state forward (recorded as known), and how many were not."""
        wanted = [event for event in events if event.market in markets] if markets else events
        fresh = [event for event in wanted if self.accept(event)]
        return Offered(fresh, len(events) - len(wanted), len(wanted) - len(fresh))

    def knows_order(self, order_id: str) -> bool:
        return order_id in self._orders

    def may_have_changed(self, order_id: str) -> bool:
        """Unknown, or last known open: only such an order can have news."""
        known = self._orders.get(order_id)
        return known is None or not known[0][1]

    def open_order_ids(self, markets: Collection[str] = ()) -> list[str]:
        """Orders last known open (in ``markets``; empty: in any): if REST no longer lists them,
        something happened to them."""
        return [
            order_id
            for order_id, ((_, closed), market) in self._orders.items()
            if not closed and (not markets or market in markets)
        ]

    def oldest_unsettled_match_s(self) -> int | None:
        """The earliest match time of a trade not yet CONFIRMED or FAILED (its later statuses are due)."""
        times = [matched for status, matched in self._trades.values() if not status.terminal and matched is not None]
        return min(times, default=None)
