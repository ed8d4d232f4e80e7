"""The emulator's OrderEntryAPI and PositionAPI over :class:`~polyinfra.emulator.us.order_engine.UsOrderEngine`.

Unary calls answer as the venue's gRPC gateway does: InsertOrder the new order's id, cancels and replaces an
empty message; a refused order ends the call with a status and the venue's sentence (the REJECTED execution
also goes out on the streams). Every order-entry message counts against the firm's ingress limit (100 a
second averaged over a minute, the ``ingress_limit_per_s`` knob); past it a call ends RESOURCE_EXHAUSTED.
The ``drop_insert_replies`` knob makes an accepted insert end UNAVAILABLE instead of answering: the order
exists, the caller cannot know it.

``CreateOrderSubscription`` sends a snapshot of the open orders, then every execution as an update (and each
refused cancel or replace as an update with a ``CancelReject``), and a
heartbeat whenever it has been quiet for ``heartbeat_interval_s``; it carries no resume token, as the venue's
does not. ``CreatePositionSubscription`` sends the account's positions, then each change.
:class:`StreamHub` is the :class:`~polyinfra.emulator.us.exchange_events.UsExchangeEvents` listener that feeds
both; :meth:`StreamHub.drop_all` aborts every stream with UNAVAILABLE (``POST /_emulator/us/orders/drop``).
Each stream holds a slot of the firm's pooled stream budget (:mod:`polyinfra.emulator.us.stream_budget`, shared
with market data and DropCopy) while it runs; one over it ends RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Final, TypeVar

import grpc

from polyinfra.emulator.us.order_engine import DEFAULT_ACCOUNT, Refusal, UsOrderEngine
from polyinfra.emulator.us.order_faults import UsOrderFaults
from polyinfra.emulator.us.stream_budget import StreamBudget
from polyinfra.wire.us.polymarket.v1 import (
    dropcopy_pb2,
    orders_pb2,
    positions_pb2,
    positions_pb2_grpc,
    refdata_pb2,
    trading_pb2,
    trading_pb2_grpc,
    types_pb2,
)

__all__ = ["OrderEntryService", "PositionService", "StreamHub"]

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")
INGRESS_WINDOW_S: Final = 60.0
MAX_LIST_REQUESTS: Final = 20
MAX_STREAM_BACKLOG: Final = 10_000


class _Subscriber:
    __slots__ = ("accounts", "failure", "queue", "symbols")

    def __init__(self, symbols: list[str], accounts: list[str]) -> None:
        self.symbols = frozenset(symbols)
        self.accounts = frozenset(accounts)
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.failure: tuple[grpc.StatusCode, str] | None = None

    def wants(self, symbol: str, account: str) -> bool:
        return (not self.symbols or symbol in self.symbols) and (not self.accounts or account in self.accounts)

    def put(self, item: object) -> None:
        if self.queue.qsize() >= MAX_STREAM_BACKLOG:
            self.fail(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow consumer: the stream fell too far behind")
        else:
            self.queue.put_nowait(item)

    def fail(self, code: grpc.StatusCode, details: str) -> None:
        if self.failure is None:
            self.failure = (code, details)
        self.queue.put_nowait(None)


class StreamHub:
    """Hands executions to the order streams and position changes to the position streams; each stream holds
    a slot of the firm's pooled ``budget`` while it runs (:meth:`subscribed`)."""

    def __init__(self, budget: StreamBudget) -> None:
        self.budget = budget
        self.orders: list[_Subscriber] = []
        self.positions: list[_Subscriber] = []

    @contextlib.asynccontextmanager
    async def subscribed(
        self, streams: list[_Subscriber], subscriber: _Subscriber, context: Context
    ) -> AsyncIterator[None]:
        """``subscriber`` on ``streams`` (:attr:`orders` or :attr:`positions`) for the block, in a slot of the
        call's firm's budget (over it: the call ends RESOURCE_EXHAUSTED)."""
        async with self.budget.stream(context):
            streams.append(subscriber)
            try:
                yield
            finally:
                streams.remove(subscriber)

    def execution(self, execution: orders_pb2.Execution) -> None:
        for subscriber in self.orders:
            if subscriber.wants(execution.order.symbol, execution.order.account):
                subscriber.put(execution)

    def trade(self, trade: orders_pb2.Trade) -> None:
        pass  # the order stream carries executions only; trades are DropCopy's

    def instrument_state_change(self, instrument: refdata_pb2.Instrument) -> None:
        pass

    def position_change(self, change: dropcopy_pb2.PositionChange) -> None:
        for subscriber in self.positions:
            if subscriber.wants(change.position.symbol, change.position.account):
                subscriber.put(change.position)

    def cancel_reject(self, reject: trading_pb2.CancelReject, symbol: str) -> None:
        """A refused cancel or replace, for the order streams (of ``symbol``, when the request named one)."""
        for subscriber in self.orders:
            if not symbol or not subscriber.symbols or symbol in subscriber.symbols:
                subscriber.put(reject)

    def drop_all(self) -> int:
        """Abort every order and position stream with UNAVAILABLE; returns how many."""
        streams = [*self.orders, *self.positions]
        for subscriber in streams:
            subscriber.fail(grpc.StatusCode.UNAVAILABLE, "stream reset by the emulator")
        return len(streams)


async def _serve(
    context: Context,
    subscriber: _Subscriber,
    heartbeat_s: Callable[[], float],
    make: Callable[[list[Any] | None], Iterable[Any]],
) -> None:
    """Write the messages ``make(items)`` gives for what the queue holds, ``make(None)`` (a heartbeat) when
    quiet."""
    while True:
        try:
            first = await asyncio.wait_for(subscriber.queue.get(), timeout=heartbeat_s())
        except TimeoutError:
            for message in make(None):
                await context.write(message)
            continue
        items = [first]
        while not subscriber.queue.empty():
            items.append(subscriber.queue.get_nowait())
        if subscriber.failure is not None:
            await context.abort(*subscriber.failure)
        for message in make(items):
            await context.write(message)


class OrderEntryService(trading_pb2_grpc.OrderEntryAPIServicer):
    """The venue's order entry over ``engine``; ``clock_s`` times the ingress limit."""

    def __init__(
        self, engine: UsOrderEngine, hub: StreamHub, faults: UsOrderFaults, clock_s: Callable[[], float]
    ) -> None:
        self._engine = engine
        self._hub = hub
        self._faults = faults
        self._clock_s = clock_s
        self._ingress: deque[float] = deque()
        self.ingress_refused = 0

    async def _admit(self, context: Context, messages: int = 1) -> None:
        now = self._clock_s()
        while self._ingress and self._ingress[0] <= now - INGRESS_WINDOW_S:
            self._ingress.popleft()
        if len(self._ingress) + messages > self._faults.ingress_limit_per_s * INGRESS_WINDOW_S:
            self.ingress_refused += 1
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "ingress rate limit exceeded")
        self._ingress.extend([now] * messages)

    async def _refuse(self, context: Context, refusal: Refusal) -> None:
        await context.abort(grpc.StatusCode[refusal.code], refusal.text)

    def _cancel_rejected(
        self,
        request: trading_pb2.CancelOrderRequest | trading_pb2.CancelReplaceOrderRequest,
        refusal: Refusal,
        *,
        is_replace: bool,
    ) -> None:
        reject = trading_pb2.CancelReject(
            order_id=request.order_id[:200], clord_id=request.clord_id[:200], text=refusal.text, is_replace=is_replace
        )
        reject.transact_time.FromNanoseconds(int(self._clock_s() * 1_000_000_000))
        self._hub.cancel_reject(reject, request.symbol[:200])

    def _clear_soon(self) -> None:
        # Trades clear after the call that made them has answered.
        asyncio.get_running_loop().call_soon(self._engine.clear_trades)

    async def InsertOrder(  # noqa: N802 (the venue's method name)
        self, request: trading_pb2.InsertOrderRequest, context: Context
    ) -> trading_pb2.InsertOrderResponse:
        await self._admit(context)
        try:
            order = self._engine.insert(request)
        except Refusal as refusal:
            await self._refuse(context, refusal)
            raise
        finally:
            self._clear_soon()
        if self._faults.take("drop_insert_replies"):
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, "upstream connect error or disconnect/reset before headers"
            )
        return trading_pb2.InsertOrderResponse(order_id=order.id)

    async def InsertOrderList(  # noqa: N802
        self, request: trading_pb2.InsertOrderListRequest, context: Context
    ) -> trading_pb2.InsertOrderListResponse:
        responses = [trading_pb2.InsertOrderResponse() for _ in request.requests]
        slots = iter(responses)  # one per request, in order; a refused one stays without an order id

        def insert(one: trading_pb2.InsertOrderRequest) -> None:
            slot = next(slots)
            slot.order_id = self._engine.insert(one).id

        await self._each(context, request.requests, insert)
        self._clear_soon()
        return trading_pb2.InsertOrderListResponse(responses=responses)

    async def InsertOrderCross(  # noqa: N802
        self, request: trading_pb2.InsertOrderCrossRequest, context: Context
    ) -> trading_pb2.InsertOrderCrossResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "crosses are not emulated")
        raise AssertionError  # abort raises

    async def CancelOrder(  # noqa: N802
        self, request: trading_pb2.CancelOrderRequest, context: Context
    ) -> trading_pb2.CancelOrderResponse:
        await self._admit(context)
        try:
            self._engine.cancel(request)
        except Refusal as refusal:
            self._cancel_rejected(request, refusal, is_replace=False)
            await self._refuse(context, refusal)
        return trading_pb2.CancelOrderResponse()

    async def _each(self, context: Context, requests: Sequence[T], act: Callable[[T], object]) -> None:
        """``act`` on each request of a list (at most 20, one ingress message); a refused one changes nothing and
        the rest still go (its REJECTED execution or cancel reject says why)."""
        if len(requests) > MAX_LIST_REQUESTS:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"at most {MAX_LIST_REQUESTS} requests per list")
        await self._admit(context)
        for one in requests:
            with contextlib.suppress(Refusal):
                act(one)

    async def CancelOrderList(  # noqa: N802
        self, request: trading_pb2.CancelOrderListRequest, context: Context
    ) -> trading_pb2.CancelOrderListResponse:
        await self._each(context, request.requests, self._engine.cancel)
        return trading_pb2.CancelOrderListResponse(
            responses=[trading_pb2.CancelOrderResponse() for _ in request.requests]
        )

    async def CancelReplaceOrder(  # noqa: N802
        self, request: trading_pb2.CancelReplaceOrderRequest, context: Context
    ) -> trading_pb2.CancelReplaceOrderResponse:
        await self._admit(context)
        try:
            self._engine.replace(request)
        except Refusal as refusal:
            self._cancel_rejected(request, refusal, is_replace=True)
            await self._refuse(context, refusal)
        finally:
            self._clear_soon()
        return trading_pb2.CancelReplaceOrderResponse()

    async def CancelReplaceOrderList(  # noqa: N802
        self, request: trading_pb2.CancelReplaceOrderListRequest, context: Context
    ) -> trading_pb2.CancelReplaceOrderListResponse:
        await self._each(context, request.requests, self._engine.replace)
        self._clear_soon()
        return trading_pb2.CancelReplaceOrderListResponse(
            responses=[trading_pb2.CancelReplaceOrderResponse() for _ in request.requests]
        )

    async def PreviewOrder(  # noqa: N802
        self, request: trading_pb2.PreviewOrderRequest, context: Context
    ) -> trading_pb2.PreviewOrderResponse:
        try:
            return trading_pb2.PreviewOrderResponse(preview_order=self._engine.preview(request.request))
        except Refusal as refusal:
            await self._refuse(context, refusal)
            raise

    async def GetOpenOrders(  # noqa: N802
        self, request: trading_pb2.GetOpenOrdersRequest, context: Context
    ) -> trading_pb2.GetOpenOrdersResponse:
        return trading_pb2.GetOpenOrdersResponse(
            orders=self._engine.open_orders(list(request.symbols), list(request.accounts))
        )

    async def CreateOrderSubscription(  # noqa: N802
        self, request: trading_pb2.CreateOrderSubscriptionRequest, context: Context
    ) -> None:
        session_id = f"session-{id(context):x}"
        subscriber = _Subscriber(list(request.symbols), list(request.accounts))
        # Subscribed before the snapshot is taken, on the same loop turn: nothing falls between the two.
        async with self._hub.subscribed(self._hub.orders, subscriber, context):
            snapshot = self._engine.open_orders(list(request.symbols), list(request.accounts))
            await context.write(
                trading_pb2.CreateOrderSubscriptionResponse(
                    snapshot=trading_pb2.OrderSubscriptionSnapshot(orders=snapshot), session_id=session_id
                )
            )
            if request.snapshot_only:
                return

            def make(items: list[Any] | None) -> list[trading_pb2.CreateOrderSubscriptionResponse]:
                if items is None:
                    return [
                        trading_pb2.CreateOrderSubscriptionResponse(
                            heartbeat=types_pb2.Heartbeat(), session_id=session_id
                        )
                    ]
                # Executions go together; each cancel reject has an update of its own.
                executions = [item for item in items if isinstance(item, orders_pb2.Execution)]
                updates = [trading_pb2.OrderSubscriptionUpdate(executions=executions)] if executions else []
                updates += [
                    trading_pb2.OrderSubscriptionUpdate(cancel_reject=item)
                    for item in items
                    if isinstance(item, trading_pb2.CancelReject)
                ]
                return [
                    trading_pb2.CreateOrderSubscriptionResponse(update=update, session_id=session_id)
                    for update in updates
                ]

            await _serve(context, subscriber, lambda: self._faults.heartbeat_interval_s, make)


class PositionService(positions_pb2_grpc.PositionAPIServicer):
    """Positions and balances of the engine's accounts."""

    def __init__(self, engine: UsOrderEngine, hub: StreamHub, faults: UsOrderFaults) -> None:
        self._engine = engine
        self._hub = hub
        self._faults = faults

    async def ListAccountPositions(  # noqa: N802
        self, request: positions_pb2.ListAccountPositionsRequest, context: Context
    ) -> positions_pb2.ListAccountPositionsResponse:
        positions = [
            position
            for position in self._engine.positions(request.name or DEFAULT_ACCOUNT)
            if (not request.symbol or position.symbol == request.symbol)
            and (not request.non_zero_only or position.net_position != 0)
        ]
        return positions_pb2.ListAccountPositionsResponse(
            positions=positions, available_position=[p.net_position for p in positions], eof=True
        )

    async def GetAccountBalance(  # noqa: N802
        self, request: positions_pb2.GetAccountBalanceRequest, context: Context
    ) -> positions_pb2.GetAccountBalanceResponse:
        balance, buying_power = self._engine.balance(request.name or DEFAULT_ACCOUNT)
        return positions_pb2.GetAccountBalanceResponse(
            balance=str(balance), buying_power=str(buying_power), excess_capital=str(buying_power)
        )

    async def CreatePositionSubscription(  # noqa: N802
        self, request: positions_pb2.CreatePositionSubscriptionRequest, context: Context
    ) -> None:
        accounts = list(request.accounts) or [DEFAULT_ACCOUNT]
        subscriber = _Subscriber([], accounts)
        async with self._hub.subscribed(self._hub.positions, subscriber, context):
            snapshot = [position for account in accounts for position in self._engine.positions(account)]
            await context.write(
                positions_pb2.CreatePositionSubscriptionResponse(
                    snapshot=positions_pb2.PositionSubscriptionSnapshot(positions=snapshot)
                )
            )

            def make(items: list[Any] | None) -> list[positions_pb2.CreatePositionSubscriptionResponse]:
                if items is None:
                    return [positions_pb2.CreatePositionSubscriptionResponse(heartbeat=types_pb2.Heartbeat())]
                return [
                    positions_pb2.CreatePositionSubscriptionResponse(
                        update=positions_pb2.PositionSubscriptionUpdate(positions=[i for i in items if i is not None])
                    )
                ]

            await _serve(context, subscriber, lambda: self._faults.heartbeat_interval_s, make)
