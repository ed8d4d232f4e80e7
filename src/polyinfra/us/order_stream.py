"""``UsOrderStream``: the US exchange's order stream, kept open, as a stream of order changes.

    async with UsExchangeClient(target, tokens=tokens) as us, UsOrderStream(us) as orders:
        async for change in orders.changes():
            print(change.kind, change.order.clord_id, change.order.state)

``CreateOrderSubscription`` sends a snapshot of the open orders, then executions; it has no resume token
(venue notes: US exchange order entry). So every session starts with a fresh snapshot, and
:class:`~polyinfra.core.us_order_view.OpenOrdersView` turns it into the differences against what the last
session showed: a reconnect emits only what changed while the stream was down (orders opened, changed or
gone), never the whole book of orders again. A session that ends (UNAVAILABLE, the server's end, a message
that does not decode) is followed by another after a jittered backoff, 1 s doubling to 30 s, reset once a
session delivers its snapshot; a call refused UNAUTHENTICATED is made again once with a fresh token.

:attr:`UsOrderStream.view` holds the open orders and the last state of every order seen by client order id,
which is how :class:`~polyinfra.us.order_entry.UsOrderEntry` resolves an insert whose answer was lost.
Changes wait in a bounded queue; when the reader falls behind by ``queue_size``, the oldest change is dropped
and counted in :attr:`UsOrderStream.dropped_changes` (the view itself stays whole).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterable
from types import TracebackType
from typing import Final, Self

import grpc
from google.protobuf.message import DecodeError

from polyinfra.core.book_sync import Backoff
from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.core.us_order_view import OpenOrdersView, OrderChange
from polyinfra.core.us_orders import execution_from_wire, order_from_wire
from polyinfra.errors import MalformedMessageError, PolyinfraError
from polyinfra.net.grpc_channel import CallHeaders, rpc_error
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure, run_sessions
from polyinfra.obs.logging import get_logger
from polyinfra.us.client import UsExchangeClient
from polyinfra.wire.us.polymarket.v1 import trading_pb2

__all__ = ["UsOrderStream"]

_log = get_logger(__name__)
_METHOD: Final = "/polymarket.v1.OrderEntryAPI/CreateOrderSubscription"
_RPC_NAME: Final = "OrderEntryAPI/CreateOrderSubscription"
_AUTH_REFUSALS: Final = frozenset({grpc.StatusCode.UNAUTHENTICATED})


class UsOrderStream:
    """The order stream of ``symbols`` and ``accounts`` (empty: all the user's) over ``client``'s channel."""

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
        self._client = client
        self._request = trading_pb2.CreateOrderSubscriptionRequest(symbols=list(symbols), accounts=list(accounts))
        self._backoff = Backoff(
            initial_s=positive_number("reconnect_initial_s", reconnect_initial_s),
            max_s=positive_number("reconnect_max_s", reconnect_max_s),
            random=random.Random().random,
        )
        self._queue_size = positive_int("queue_size", queue_size)
        self._changes: asyncio.Queue[OrderChange] = asyncio.Queue()
        self._tasks = BackgroundTasks("us-order-stream")
        self._stopped = False
        self._open: grpc.aio.UnaryStreamMultiCallable[trading_pb2.CreateOrderSubscriptionRequest, bytes] = (
            client.channel.unary_stream(
                _METHOD,
                request_serializer=trading_pb2.CreateOrderSubscriptionRequest.SerializeToString,
                response_deserializer=None,
            )
        )
        self.view = OpenOrdersView()
        """The open orders, and every order seen by client order id."""
        self.sessions = 0
        self.dropped_changes = 0
        self.last_failure: PolyinfraError | None = None
        self._first: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Open the stream in the background; returns once the first snapshot is in :attr:`view`, and raises the
        typed error of a first session that fails before it (a missing scope, an unreachable endpoint)."""
        self._first = asyncio.get_running_loop().create_future()
        self._tasks.spawn(
            run_sessions(self._session, self._backoff, ending=lambda: self._stopped, stream="orders"),
            "us-order-stream",
        )
        try:
            await self._first
        except PolyinfraError:
            await self.close()
            raise

    async def changes(self) -> AsyncIterator[OrderChange]:
        """Every change, in order, until the stream is closed."""
        while True:
            yield await self._changes.get()

    def drain(self) -> list[OrderChange]:
        """The changes waiting now, without waiting for more."""
        found = []
        while not self._changes.empty():
            found.append(self._changes.get_nowait())
        return found

    async def close(self) -> None:
        self._stopped = True
        await self._tasks.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    async def _session(self, session_id: str) -> None:
        try:
            await self._client.auth.call(self._authenticated_session)
        except PolyinfraError as failure:
            self.last_failure = failure
            _log.warning("US order stream ended", error=describe_failure(failure))
        if self.last_failure is not None and self._first is not None and not self._first.done():
            self._first.set_exception(self.last_failure)

    async def _authenticated_session(self, metadata: CallHeaders) -> None:
        self.sessions += 1
        call = self._open(self._request, metadata=metadata.pairs())
        try:
            async for data in call:
                self._on_message(data)
        except grpc.aio.AioRpcError as exc:
            error = rpc_error(exc, _RPC_NAME)
            if exc.code() in _AUTH_REFUSALS:
                raise error from None
            self.last_failure = error
            _log.info("US order stream session ended", error=describe_failure(error))
        except MalformedMessageError as malformed:
            # The next session's snapshot mends whatever this message would have told.
            self.last_failure = malformed
            _log.warning("US order stream sent a malformed message", error=describe_failure(malformed))
        finally:
            call.cancel()

    def _on_message(self, data: bytes) -> None:
        try:
            message = trading_pb2.CreateOrderSubscriptionResponse.FromString(data)
        except DecodeError:
            raise MalformedMessageError("an order stream message does not decode") from None
        event = message.WhichOneof("event")
        if event == "snapshot":
            changes = self.view.snapshot([order_from_wire(order) for order in message.snapshot.orders])
            self._backoff.reset()
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
        elif event == "update":
            decoded = [execution_from_wire(execution) for execution in message.update.executions]
            changes = [change for change in map(self.view.execution, decoded) if change is not None]
        else:
            return
        for change in changes:
            if self._changes.qsize() >= self._queue_size:
                self._changes.get_nowait()
                self.dropped_changes += 1
            self._changes.put_nowait(change)
