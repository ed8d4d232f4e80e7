"""``UsOrderStream``: the US exchange's order stream, kept open, as a stream of order changes.

    async with UsExchangeClient(target, tokens=tokens) as us, UsOrderStream(us) as orders:
        async for change in orders.changes():
            print(change.kind, change.order.clord_id, change.order.state)

``CreateOrderSubscription`` sends a snapshot of the open orders, then executions and cancel rejects (a
CANCEL_REJECTED change with the venue's reason); it has no resume token, so
every session starts with a fresh snapshot (:class:`~polyinfra.us.snapshot_stream.SnapshotStream`: sessions,
backoff, the first failure), and :class:`~polyinfra.core.us_order_view.OpenOrdersView` turns it into the
differences against what the last session showed: a reconnect emits only what changed while the stream was
down (orders opened, changed or gone), never the whole book of orders again.

:attr:`UsOrderStream.view` holds the open orders and the last state of every order seen by client order id,
which is how :class:`~polyinfra.us.order_entry.UsOrderEntry` resolves an insert whose answer was lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import ClassVar

from polyinfra.core.us_order_view import OpenOrdersView, OrderChange
from polyinfra.core.us_orders import UsOrder, execution_from_wire, order_from_wire
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.snapshot_stream import SnapshotStream
from polyinfra.wire.us.polymarket.v1 import trading_pb2

__all__ = ["UsOrderStream"]


class UsOrderStream(SnapshotStream[OrderChange, trading_pb2.CreateOrderSubscriptionResponse]):
    """The order stream of ``symbols`` and ``accounts`` (empty: all the user's) over ``client``'s channel."""

    _service: ClassVar[str] = "polymarket.v1.OrderEntryAPI"
    _rpc: ClassVar[str] = "CreateOrderSubscription"
    _name: ClassVar[str] = "us-order-stream"

    def __init__(
        self,
        client: UsExchangeClient,
        *,
        symbols: Iterable[str] = (),
        accounts: Iterable[str] = (),
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        queue_size: int = 10_000,
    ) -> None:
        super().__init__(
            client,
            trading_pb2.CreateOrderSubscriptionRequest(symbols=list(symbols), accounts=list(accounts)),
            trading_pb2.CreateOrderSubscriptionResponse,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            queue_size=queue_size,
        )
        self.view = OpenOrdersView()
        """The open orders, and every order seen by client order id."""
        self._progress = asyncio.Event()  # set, and replaced, whenever the view has taken a message

    async def wait_for_clord_id(self, clord_id: str, timeout_s: float) -> UsOrder | None:
        """The order with this client order id as soon as the stream has shown it, or None after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                while (found := self.view.by_clord_id(clord_id)) is None:
                    await self._progress.wait()
        except TimeoutError:
            return None
        return found

    def _emit(self, changes: Iterable[OrderChange]) -> None:
        super()._emit(changes)
        self._progress.set()
        self._progress = asyncio.Event()

    def _on_message(self, message: trading_pb2.CreateOrderSubscriptionResponse) -> None:
        event = message.WhichOneof("event")
        if event == "snapshot":
            self._emit(self.view.snapshot([order_from_wire(order) for order in message.snapshot.orders]))
            self._snapshot_taken()
        elif event == "update":
            decoded = [execution_from_wire(execution) for execution in message.update.executions]
            self._emit(change for change in map(self.view.execution, decoded) if change is not None)
            if message.update.HasField("cancel_reject"):
                reject = message.update.cancel_reject
                refused = self.view.cancel_reject(reject.order_id[:200], reject.clord_id[:200], reject.text)
                self._emit([] if refused is None else [refused])
