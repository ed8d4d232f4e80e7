"""The emulator's ``DropCopyAPI`` (four resumable streams) and ``ReportAPI`` searches over its DropCopy history.

A subscription resumes after its ``resume_token`` or from its ``resume_time`` (both at once is INVALID_ARGUMENT,
as the venue documents them mutually exclusive), or with neither goes live from now. It replays what the history
holds in responses of up to ``batch_size`` records, each with the token that resumes after it, then stays live;
with nothing to say it sends a token-only response every heartbeat interval (venue notes: US exchange DropCopy).
The instrument-state stream first sends every instrument's current state, in pages, as the venue's does on every
subscription. A refused token ends the call with the status :meth:`DropCopyHistory.resume_position` names; each
stream holds a slot of the firm's pooled stream budget (:mod:`polyinfra.emulator.us.stream_budget`, shared with
market data) and one over it is RESOURCE_EXHAUSTED; the knobs of :class:`UsDropCopyFaults` slow replays and drop
streams.

``SearchExecutions`` and ``SearchTrades`` page through the retained history by time window and symbol:
``page_size`` is required (the venue answers a search without one with OUT_OF_RANGE, its code 11), at most
1,000; the page token is the sequence number to continue from. Each firm gets ``search_per_minute`` calls
a minute (the venue's 12); one more is RESOURCE_EXHAUSTED. The firm is the ``x-participant-id`` a call
carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import grpc
from google.protobuf.message import Message

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.emulator.us.dropcopy_history import DropCopyHistory, Entry, TokenRefusal
from polyinfra.emulator.us.stream_budget import StreamBudget, firm_of
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, dropcopy_pb2_grpc, orders_pb2, report_pb2, report_pb2_grpc

__all__ = ["DropCopyService", "ReportService"]

MAX_PAGE_SIZE: Final = 1000
# A stream waiting for records looks at the knobs at least this often.
_TICK_S: Final = 0.25

Context = grpc.aio.ServicerContext[Any, Any]

_RESPONSES: Final[dict[DropCopyStream, tuple[Callable[..., Message], str]]] = {
    DropCopyStream.EXECUTIONS: (dropcopy_pb2.CreateDropCopySubscriptionResponse, "executions"),
    DropCopyStream.TRADES: (dropcopy_pb2.CreateTradeCaptureReportSubscriptionResponse, "trade_capture_reports"),
    DropCopyStream.INSTRUMENTS: (dropcopy_pb2.CreateInstrumentStateChangeSubscriptionResponse, "instruments"),
    DropCopyStream.POSITIONS: (dropcopy_pb2.CreatePositionChangeSubscriptionResponse, "position_changes"),
}


class _Dropped:
    """A flag the control route sets to end every open stream."""

    __slots__ = ("dropped", "wakeup")

    def __init__(self, wakeup: asyncio.Event) -> None:
        self.dropped = False
        self.wakeup = wakeup


class DropCopyService(dropcopy_pb2_grpc.DropCopyAPIServicer):
    """The four DropCopy streams over ``history``."""

    def __init__(self, history: DropCopyHistory, budget: StreamBudget) -> None:
        self._history = history
        self._budget = budget
        self._streams: list[_Dropped] = []
        self._rng = random.Random(history.faults.seed)
        self.streams_dropped = 0

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def drop_all(self) -> int:
        """Abort every open DropCopy stream with UNAVAILABLE; returns how many."""
        for stream in self._streams:
            stream.dropped = True
            stream.wakeup.set()
        return len(self._streams)

    async def CreateDropCopySubscription(self, request: Any, context: Context) -> None:  # noqa: N802
        await self._serve(DropCopyStream.EXECUTIONS, request, context)

    async def CreateTradeCaptureReportSubscription(self, request: Any, context: Context) -> None:  # noqa: N802
        await self._serve(DropCopyStream.TRADES, request, context)

    async def CreateInstrumentStateChangeSubscription(self, request: Any, context: Context) -> None:  # noqa: N802
        await self._serve(DropCopyStream.INSTRUMENTS, request, context)

    async def CreatePositionChangeSubscription(self, request: Any, context: Context) -> None:  # noqa: N802
        await self._serve(DropCopyStream.POSITIONS, request, context)

    @contextlib.asynccontextmanager
    async def _slot(self, context: Context, wakeup: asyncio.Event) -> AsyncIterator[_Dropped]:
        """The stream's slot of the firm's pooled budget (over it: the call ends RESOURCE_EXHAUSTED)."""
        async with self._budget.stream(context):
            stream = _Dropped(wakeup)
            self._streams.append(stream)
            try:
                yield stream
            finally:
                self._streams.remove(stream)

    async def _serve(self, kind: DropCopyStream, request: Any, context: Context) -> None:
        history, faults = self._history, self._history.faults
        if request.resume_token and request.HasField("resume_time"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "resume_token and resume_time are exclusive")
        resume_time = request.resume_time.ToNanoseconds() if request.HasField("resume_time") else None
        position = history.resume_position(kind, bytes(request.resume_token), resume_time)
        if isinstance(position, TokenRefusal):
            await context.abort(grpc.StatusCode[position.code], position.message)
        assert isinstance(position, int)
        symbols = frozenset(request.symbols)
        response_type, field = _RESPONSES[kind]
        wakeup = history.waiter()
        loop = asyncio.get_running_loop()
        try:
            async with self._slot(context, wakeup) as stream:
                replay_end = history.end(kind)  # what exists now is replayed; later records are live
                if kind is DropCopyStream.INSTRUMENTS:
                    current = history.current_instruments()
                    for start in range(0, len(current), faults.batch_size):
                        page = current[start : start + faults.batch_size]
                        await context.write(response_type(resume_token=history.token(position), instruments=page))
                last_sent_s = loop.time()
                while True:
                    wakeup.clear()
                    if stream.dropped:
                        self.streams_dropped += 1
                        await context.abort(grpc.StatusCode.UNAVAILABLE, "stream reset by the emulator")
                    found, position = history.read(kind, position, faults.batch_size, symbols)
                    if found:
                        if faults.replay_delay_s and found[-1].seq < replay_end:
                            await asyncio.sleep(faults.scaled_s(faults.replay_delay_s))
                        await context.write(_response(response_type, field, history.token(position), found))
                        last_sent_s = loop.time()
                        if faults.drop_chance and self._rng.random() < faults.drop_chance:
                            self.streams_dropped += 1
                            await context.abort(grpc.StatusCode.UNAVAILABLE, "stream reset by the emulator")
                        continue
                    heartbeat_s = faults.scaled_s(faults.heartbeat_interval_s)
                    if loop.time() - last_sent_s >= heartbeat_s:
                        await context.write(response_type(resume_token=history.token(position)))
                        last_sent_s = loop.time()
                        continue
                    wait_s = min(_TICK_S, max(0.0, last_sent_s + heartbeat_s - loop.time()))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wakeup.wait(), wait_s)
        finally:
            history.forget(wakeup)


def _response(response_type: Callable[..., Message], field: str, token: bytes, found: list[Entry]) -> Message:
    response = response_type(resume_token=token)
    getattr(response, field).extend(entry.message for entry in found)
    return response


class ReportService(report_pb2_grpc.ReportAPIServicer):
    """SearchExecutions and SearchTrades over ``history``'s retained executions and trade reports."""

    def __init__(self, history: DropCopyHistory) -> None:
        self._history = history
        self._calls: dict[str, deque[float]] = {}
        self.searches_refused = 0

    async def SearchExecutions(  # noqa: N802
        self, request: report_pb2.SearchExecutionsRequest, context: Context
    ) -> report_pb2.SearchExecutionsResponse:
        found, next_token = await self._search(DropCopyStream.EXECUTIONS, request, context)
        executions = [entry.message for entry in found if isinstance(entry.message, orders_pb2.Execution)]
        if request.exec_ids:
            wanted = set(request.exec_ids)
            executions = [execution for execution in executions if execution.id in wanted]
        return report_pb2.SearchExecutionsResponse(
            executions=executions, next_page_token=next_token, eof=not next_token
        )

    async def SearchTrades(  # noqa: N802
        self, request: report_pb2.SearchTradesRequest, context: Context
    ) -> report_pb2.SearchTradesResponse:
        found, next_token = await self._search(DropCopyStream.TRADES, request, context)
        trades = [entry.message for entry in found if isinstance(entry.message, orders_pb2.Trade)]
        return report_pb2.SearchTradesResponse(trade=trades, next_page_token=next_token)

    async def _search(self, kind: DropCopyStream, request: Any, context: Context) -> tuple[list[Entry], str]:
        history = self._history
        if not self._admit(f"{firm_of(context)}/{kind}"):
            self.searches_refused += 1
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "rate limit exceeded")
        if request.page_size <= 0:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, "pageSize is required")
        history.prune()
        start_ns = request.start_time.ToNanoseconds() if request.HasField("start_time") else 0
        end_ns = request.end_time.ToNanoseconds() if request.HasField("end_time") else None
        try:
            seq = int(request.page_token) if request.page_token else 0
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid page token")
        entries = history.entries(kind)
        found: list[Entry] = []
        limit = min(request.page_size, MAX_PAGE_SIZE)
        next_token = ""
        for entry in entries:
            if entry.seq < seq or entry.time_ns < start_ns or (request.symbol and entry.symbol != request.symbol):
                continue
            if end_ns is not None and entry.time_ns >= end_ns:
                break
            if len(found) == limit:
                next_token = str(entry.seq)
                break
            found.append(entry)
        return found, next_token

    def _admit(self, key: str) -> bool:
        faults = self._history.faults
        now_s = asyncio.get_running_loop().time()
        window_s = faults.scaled_s(60.0)
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now_s - window_s:
            calls.popleft()
        if len(calls) >= faults.search_per_minute:
            return False
        calls.append(now_s)
        return True
