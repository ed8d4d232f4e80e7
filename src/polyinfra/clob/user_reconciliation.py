"""What the user channel asks REST after a gap, and the events the answers tell (venue notes: User channel).

The venue does not replay what a socket missed, so after every gap the user channel asks REST: open
orders (``GET /data/orders``), the fate of orders it believed open that are no longer listed
(``GET /data/order/{id}``), and the trades since the last check (``GET /data/trades``), each for the
markets subscribed at the time (:func:`fetch_reconciliation_answers`). Whatever the socket did not
deliver is emitted as a synthesized event with ``reconciled=True``. The answers are kept as
:class:`ReconciliationAnswers`, which a recording stores, and :func:`reconciliation_events` makes the
events of them, live and in replay alike.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

import msgspec

from polyinfra.clob.trading import OpenOrder, TradingClient
from polyinfra.clob.user_events import order_update_from_rest, trade_update_from_wire
from polyinfra.core.user_event_tracker import UserEventTracker
from polyinfra.errors import NotFoundError
from polyinfra.model.trading_events import OrderEventKind, OrderStatus, UserChannelEvent, parse_order_status
from polyinfra.obs.logging import get_logger
from polyinfra.wire.clob_user import TradeRecord

__all__ = ["ReconciliationAnswers", "fetch_reconciliation_answers", "reconciliation_events"]

_log = get_logger(__name__)

# Trades are fetched from a little before the last reconciliation: the venue's match times are
# whole seconds of its own clock, which need not agree with ours.
_TRADES_MARGIN_S: Final = 60


class ReconciliationAnswers(msgspec.Struct):
    """The REST answers one reconciliation used, as recorded (decoded rows encoded again: the
    wire structs keep every field as the venue sent it); :func:`reconciliation_events` makes its
    events of them, live and in replay alike."""

    open_orders: list[OpenOrder] = []
    trades: list[TradeRecord] = []
    orders: list[OpenOrder] = []
    """``GET /data/order/{id}`` answers: orders that left the open list."""


async def fetch_reconciliation_answers(
    trading: TradingClient,
    tracker: UserEventTracker,
    markets: Collection[str],
    *,
    trades_since_s: int,
    api_key: str,
) -> ReconciliationAnswers:
    """The REST rows that tell what a channel subscribed to ``markets`` (empty: every market) may
    have missed: its open orders, the trades since ``trades_since_s`` (unix seconds; earlier while
    the tracker holds a trade not yet settled), and the orders that left the open list. ``api_key``
    picks the user's own orders out of the trades' makers."""
    answers = ReconciliationAnswers()
    # One REST filter per subscribed market; None (every market) when subscribed to all.
    market_filters: list[str | None] = [*markets] or [None]
    listed: set[str] = set()
    for market in market_filters:
        async for order in trading.iter_open_orders(market=market):
            answers.open_orders.append(order)
            listed.add(order.id)
    since_s = trades_since_s
    oldest_unsettled_s = tracker.oldest_unsettled_match_s()
    if oldest_unsettled_s is not None:
        since_s = min(since_s, oldest_unsettled_s)
    # Orders that left the open list since last known open, and orders of trades the socket
    # missed entirely (placed and filled during a gap): REST has their final state.
    # Only the subscribed markets' orders: the others' changes are not this channel's to report.
    unlisted = dict.fromkeys(order_id for order_id in tracker.open_order_ids(markets) if order_id not in listed)
    for market in market_filters:
        async for row in trading.iter_trades(market=market, after_s=max(0, since_s - _TRADES_MARGIN_S)):
            answers.trades.append(row)
            mine = [maker.order_id for maker in row.maker_orders if maker.owner == api_key]
            if row.trader_side == "TAKER":
                mine.append(row.taker_order_id)
            unlisted.update((order_id, None) for order_id in mine if order_id not in listed)
    for order_id in unlisted:
        if order_id in listed or not tracker.may_have_changed(order_id):
            continue
        try:
            order = await trading.get_order(order_id)
        except NotFoundError:
            _log.warning("an order of the user is unknown to the venue", order_id=order_id)
            continue
        answers.orders.append(order)
    return answers


def reconciliation_events(
    answers: ReconciliationAnswers, tracker: UserEventTracker, *, received_ns: int
) -> list[UserChannelEvent]:
    """The events a reconciliation's REST answers tell, as the tracker stands when they are offered
    to it: open orders (a placement unless the order is known), trades, then the orders that left
    the open list (their last fill or their cancellation)."""
    events: list[UserChannelEvent] = [
        order_update_from_rest(
            order,
            # Unknown: placed while nobody listened; known: it can only have matched more.
            OrderEventKind.UPDATE if tracker.knows_order(order.id) else OrderEventKind.PLACEMENT,
            received_ns=received_ns,
        )
        for order in answers.open_orders
    ]
    events.extend(trade_update_from_wire(row, received_ns=received_ns) for row in answers.trades)
    events.extend(
        order_update_from_rest(order, _unlisted_kind(order), received_ns=received_ns) for order in answers.orders
    )
    return events


def _unlisted_kind(order: OpenOrder) -> OrderEventKind:
    """What a closed order's REST row reports: a cancellation, or (matched) its last fill."""
    status, _ = parse_order_status(order.status)
    if status is OrderStatus.CANCELED or status is OrderStatus.INVALID:
        return OrderEventKind.CANCELLATION
    return OrderEventKind.UPDATE
