"""A US exchange server stream that starts with a snapshot and has no resume token, kept open.

The order stream (``CreateOrderSubscription``) and the position stream (``CreatePositionSubscription``) both
send a snapshot, then updates, and neither can resume: every session starts with a fresh snapshot, and what
happened while the stream was down is only the difference between it and what the last session showed
(venue notes: US exchange order entry). :class:`SnapshotStream` is that life, once; a subclass names the RPC
and turns each message into changes (:meth:`SnapshotStream._on_message`). The request and the messages are
spoken in the client's protos (:meth:`~polyinfra.us.client.UsExchangeClient.method`), as its unary calls are.

A session that ends (UNAVAILABLE, the server's end, a message that does not decode) is followed by another
after a jittered backoff, 1 s doubling to 30 s, reset once a session delivers its snapshot; a call refused
UNAUTHENTICATED is made again once with a fresh token (:class:`~polyinfra.us.grpc_auth.CallAuth`).
:meth:`SnapshotStream.start` returns once the first snapshot is in, or raises the first session's failure.
A server whose numbers are not the ones spoken (a message holding field numbers our protos lack, or protos
without the RPC) ends the stream with :class:`~polyinfra.errors.ProtoMismatchError`: no new session would
read it better. ``start`` raises it, or :meth:`SnapshotStream.changes` does after the changes before it.
Changes wait in a bounded queue; when the reader falls behind by ``queue_size``, the oldest change is dropped
and counted in ``dropped_changes`` (the subclass's own state stays whole).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterable
from functools import partial
from types import TracebackType
from typing import ClassVar, Final, Generic, Self, TypeVar

import grpc
from google.protobuf.message import Message

from polyinfra.core.backoff import Backoff
from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.errors import MalformedMessageError, PolyinfraError, ProtoMismatchError
from polyinfra.net.grpc_channel import CallHeaders, rpc_error
from polyinfra.net.ws_sessions import BackgroundTasks, describe_failure, run_sessions
from polyinfra.obs.logging import get_logger
from polyinfra.us.client import UsExchangeClient, UsMethod

__all__ = ["SnapshotStream"]

_log = get_logger(__name__)
_AUTH_REFUSALS: Final = frozenset({grpc.StatusCode.UNAUTHENTICATED})
ChangeT = TypeVar("ChangeT")
MessageT = TypeVar("MessageT", bound=Message)


class _Ended:
    """Queued after the last change of a stream that ended on ``failure``."""

    def __init__(self, failure: PolyinfraError) -> None:
        self.failure = failure


class SnapshotStream(Generic[ChangeT, MessageT]):
    """``request`` on the RPC ``_rpc`` of ``_service`` (``"polymarket.v1.OrderEntryAPI"``) over ``client``'s
    channel, session after session, each message a ``response``."""

    _service: ClassVar[str]
    _rpc: ClassVar[str]
    _name: ClassVar[str]
    """Names the stream in logs and its background task (a fixed string: it labels a metric)."""

    def __init__(
        self,
        client: UsExchangeClient,
        request: Message,
        response: type[MessageT],
        *,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        queue_size: int = 10_000,
    ) -> None:
        self._client = client
        self._request = request
        self._response = response
        self._backoff = Backoff(
            initial_s=positive_number("reconnect_initial_s", reconnect_initial_s),
            max_s=positive_number("reconnect_max_s", reconnect_max_s),
            random=random.Random().random,
        )
        self._queue_size = positive_int("queue_size", queue_size)
        self._changes: asyncio.Queue[ChangeT | _Ended] = asyncio.Queue()
        self._tasks = BackgroundTasks(self._name)
        self._stopped = False
        self._first: asyncio.Future[None] | None = None
        self.sessions = 0
        self.snapshots = 0
        self.dropped_changes = 0
        self.last_failure: PolyinfraError | None = None

    async def start(self) -> None:
        """Open the stream in the background; returns once the first snapshot is in, and raises the typed error
        of a first session that fails before it (a missing scope, an unreachable endpoint)."""
        self._first = asyncio.get_running_loop().create_future()
        self._tasks.spawn(
            run_sessions(self._session, self._backoff, ending=lambda: self._stopped, stream=self._name),
            self._name,
        )
        try:
            await self._first
        except PolyinfraError:
            await self.close()
            raise

    async def changes(self) -> AsyncIterator[ChangeT]:
        """Every change, in order, until the stream is closed; raises the failure that ended the stream (see
        the module's text) once the changes before it are read."""
        while True:
            change = await self._changes.get()
            if isinstance(change, _Ended):
                self._changes.put_nowait(change)  # for every later reader too
                raise change.failure
            yield change

    def drain(self) -> list[ChangeT]:
        """The changes waiting now, without waiting for more."""
        found = []
        while not self._changes.empty():
            change = self._changes.get_nowait()
            if isinstance(change, _Ended):
                self._changes.put_nowait(change)
                break
            found.append(change)
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

    # --- for subclasses ------------------------------------------------------------------------------

    def _on_message(self, message: MessageT) -> None:
        """Take one message: raise :class:`MalformedMessageError` for one that is not valid, call
        :meth:`_snapshot_taken` after a snapshot and :meth:`_emit` with the changes."""
        raise NotImplementedError

    def _snapshot_taken(self) -> None:
        self.snapshots += 1
        self._backoff.reset()
        if self._first is not None and not self._first.done():
            self._first.set_result(None)

    def _emit(self, changes: Iterable[ChangeT]) -> None:
        for change in changes:
            if self._changes.qsize() >= self._queue_size:
                self._changes.get_nowait()
                self.dropped_changes += 1
            self._changes.put_nowait(change)

    # --- sessions ------------------------------------------------------------------------------------

    async def _session(self, session_id: str) -> None:
        try:
            rpc = await self._client.method(self._service, self._rpc, self._response)
            await self._client.auth.call(partial(self._authenticated_session, rpc))
        except ProtoMismatchError as mismatch:
            self.last_failure = mismatch
            self._stopped = True
            self._changes.put_nowait(_Ended(mismatch))
            _log.error(
                "US stream ended: the server's protos differ", stream=self._name, error=describe_failure(mismatch)
            )
        except PolyinfraError as failure:
            self.last_failure = failure
            _log.warning("US stream ended", stream=self._name, error=describe_failure(failure))
        if self.last_failure is not None and self._first is not None and not self._first.done():
            self._first.set_exception(self.last_failure)

    async def _authenticated_session(self, rpc: UsMethod[MessageT], metadata: CallHeaders) -> None:
        self.sessions += 1
        # Bytes both ways: messages are decoded here, so a bad one is our typed error, not gRPC's.
        open_call: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = self._client.channel.unary_stream(rpc.path)
        call = open_call(rpc.encode(self._request), metadata=metadata.pairs())
        try:
            async for data in call:
                self._on_message(rpc.decode(data))
        except grpc.aio.AioRpcError as exc:
            error = rpc_error(exc, rpc.name)
            if exc.code() in _AUTH_REFUSALS:
                raise error from None
            self.last_failure = error
            _log.info("US stream session ended", stream=self._name, error=describe_failure(error))
        except ProtoMismatchError:
            raise
        except MalformedMessageError as malformed:
            # The next session's snapshot mends whatever this message would have told.
            self.last_failure = malformed
            _log.warning("US stream sent a malformed message", stream=self._name, error=describe_failure(malformed))
        finally:
            call.cancel()
