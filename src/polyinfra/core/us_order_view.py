"""The open orders as the US exchange's order stream shows them, and what changed, sans-I/O.

The order stream (``CreateOrderSubscription``) sends a snapshot of the open orders, then executions; it has
no resume token, so a reconnect starts with a fresh snapshot and whatever happened while it was down is only
visible as the difference between the last view and that snapshot (venue notes: US exchange order entry).
:class:`OpenOrdersView` holds the view and reports changes, never the same state twice::

    snapshot (first)      -> OPEN for every order
    execution             -> OPEN (new), CHANGED (fill, replace) or CLOSED (filled, cancelled, expired,
                             rejected), by the order it carries
    cancel reject         -> CANCEL_REJECTED with the order as the view knows it and the venue's reason
    snapshot (reconnect)  -> OPEN for orders new to the view, CHANGED for orders whose state, filled quantity,
                             price or quantity differ, CLOSED for orders the snapshot no longer holds
                             (their last known state kept: the stream cannot say how they ended)

Client order ids of every order seen are remembered (bounded, oldest forgotten first), so an insert whose
answer was lost can be found here even after its order closed.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from polyinfra.core.us_orders import UsExecution, UsOrder

__all__ = ["MAX_REMEMBERED_ORDERS", "OpenOrdersView", "OrderChange", "OrderChangeKind"]

MAX_REMEMBERED_ORDERS: Final = 100_000


class OrderChangeKind(StrEnum):
    OPEN = "open"
    CHANGED = "changed"
    CLOSED = "closed"
    CANCEL_REJECTED = "cancel_rejected"
    """A cancel or replace of the order was refused; the order is as it was (``text`` says why)."""


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One change of the view; ``execution`` is the execution that made it (None when a snapshot did), ``text``
    the venue's reason of a refused cancel or replace."""

    kind: OrderChangeKind
    order: UsOrder
    execution: UsExecution | None = None
    text: str = ""


def _same(left: UsOrder, right: UsOrder) -> bool:
    return (left.state, left.filled, left.price, left.quantity) == (
        right.state,
        right.filled,
        right.price,
        right.quantity,
    )


class OpenOrdersView:
    """The open orders by order id, and the orders seen by client order id."""

    def __init__(self, *, remember: int = MAX_REMEMBERED_ORDERS) -> None:
        self._open: dict[str, UsOrder] = {}
        self._seen: OrderedDict[str, UsOrder] = OrderedDict()
        self._remember = remember
        self.snapshots = 0

    @property
    def open_orders(self) -> list[UsOrder]:
        return list(self._open.values())

    def by_clord_id(self, clord_id: str) -> UsOrder | None:
        """The last known state of the order with this client order id, open or closed."""
        return self._seen.get(clord_id)

    def snapshot(self, orders: Iterable[UsOrder]) -> list[OrderChange]:
        """Take a snapshot of the open orders; the changes against the view held before it."""
        fresh = {order.order_id: order for order in orders if order.is_open}
        changes: list[OrderChange] = []
        for order_id, order in fresh.items():
            known = self._open.get(order_id)
            if known is None:
                changes.append(OrderChange(OrderChangeKind.OPEN, order))
            elif not _same(known, order):
                changes.append(OrderChange(OrderChangeKind.CHANGED, order))
            self._note(order)
        changes.extend(
            OrderChange(OrderChangeKind.CLOSED, order)
            for order_id, order in self._open.items()
            if order_id not in fresh
        )
        self._open = fresh
        self.snapshots += 1
        return changes

    def execution(self, execution: UsExecution) -> OrderChange | None:
        """Apply one execution; its change, or None when the view already showed that state (a duplicate)."""
        order = execution.order
        known = self._open.get(order.order_id)
        previous = self._seen.get(order.clord_id) if order.clord_id else None
        self._note(order)
        if order.is_open:
            self._open[order.order_id] = order
            if known is None:
                return OrderChange(OrderChangeKind.OPEN, order, execution)
            return None if _same(known, order) else OrderChange(OrderChangeKind.CHANGED, order, execution)
        if known is None and previous is not None and previous.order_id == order.order_id and _same(previous, order):
            return None  # delivery is at-least-once: this close was already reported
        self._open.pop(order.order_id, None)
        return OrderChange(OrderChangeKind.CLOSED, order, execution)

    def cancel_reject(self, order_id: str, clord_id: str, text: str) -> OrderChange | None:
        """A refused cancel or replace of an order the view knows (by id, else client order id); None for one
        it does not know."""
        order = self._open.get(order_id) or self._seen.get(clord_id)
        if order is None and order_id:
            order = next((seen for seen in self._seen.values() if seen.order_id == order_id), None)
        return None if order is None else OrderChange(OrderChangeKind.CANCEL_REJECTED, order, text=text[:300])

    def _note(self, order: UsOrder) -> None:
        if not order.clord_id:
            return
        self._seen[order.clord_id] = order
        self._seen.move_to_end(order.clord_id)
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
