"""``DropCopyArchiver``: the US exchange's four DropCopy streams archived exactly once.

    archive = open_archive("sqlite:///archive.db")  # or postgresql://...
    archiver = DropCopyArchiver(target, archive, firm="firm-a", tokens=tokens)
    await archiver.run()

Per stream, one task (venue notes: US exchange DropCopy):

1. **Lease.** It waits for the stream's lease (:meth:`DropCopyArchive.acquire`, or with ``fleet`` a
   key-value lease of :mod:`polyinfra.record.dropcopy_fleet`, renewed while the stream runs): one active
   consumer per firm and stream, with a fencing number every commit is checked against, so a paused or
   zombie process cannot commit an older token.
2. **Resume.** It opens the subscription after the stored resume token; with none, from the last
   applied time (after a gap) or from ``since_ns`` (a cold start; None: live only).
3. **Apply.** Every response is decoded (:func:`~polyinfra.core.us_dropcopy.decode_batch`) and committed
   with its token and its ledger link in one transaction; only then is the token the one to resume
   after. Token-only responses are committed too: they are the heartbeats, and they say the replay has
   caught up.
4. **Reconnect.** A stream that ends, fails (UNAVAILABLE, a reset) or stays silent for
   ``silence_timeout_s`` (the venue advises 180 s) is opened again after a jittered backoff, from the
   stored token.
5. **Gap.** A stored token the venue refuses (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE or
   NOT_FOUND: expired, or its history wiped) breaks the chain. The window from the last applied time to
   now is read again through ``SearchExecutions`` / ``SearchTrades`` (every page, within the venue's
   12 calls a minute and with the ``page_size`` it requires) and committed as a ``gap`` link whose
   note names the refusal and what the search found; the stream then resumes by time from the last
   applied time. Duplicates the two overlap on are absorbed by the archive's keys.

Streams, searches and reference data are spoken in ``protos`` (as :class:`~polyinfra.us.client.UsExchangeClient`
takes it: polyinfra's numbers, the venue's bundle or the server's reflection); a server whose numbers are not
the ones spoken stops the archiver with :class:`~polyinfra.errors.ProtoMismatchError` before anything is
committed from it.

A deadline on these calls is refused (:func:`~polyinfra.core.us_dropcopy.checked_stream_deadline`):
cut short, a replay restarts from the same token and never catches up. :attr:`DropCopyArchiver.status`
is what the command's status line shows.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import grpc
from google.protobuf.message import Message

from polyinfra.core.backoff import Backoff
from polyinfra.core.rate_limit_tables import EndpointRule, RateLimitTable, Scope, Window
from polyinfra.core.us_dropcopy import (
    CatchUp,
    DecodedBatch,
    DropCopyStream,
    TokenChain,
    checked_stream_deadline,
    decode_batch,
    execution_from_wire,
    trade_from_wire,
)
from polyinfra.core.us_instruments import UsInstrument
from polyinfra.errors import (
    FencedOffError,
    GrpcAuthError,
    InvalidValueError,
    MalformedMessageError,
    PolyinfraError,
    ProtoMismatchError,
)
from polyinfra.net.first_to_end import first_to_end
from polyinfra.net.grpc_channel import CallMetadata, rpc_error
from polyinfra.net.rate_limit import AsyncRateLimiter
from polyinfra.record.dropcopy_archive import DropCopyArchive, Lease
from polyinfra.record.dropcopy_fleet import FleetStreamLeases, HeldStream
from polyinfra.us.client import ProtosChoice, UsExchangeClient, UsMethod
from polyinfra.us.token_manager import TokenManager
from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, report_pb2

__all__ = ["DropCopyArchiver", "StreamStatus", "search_limits"]

_log = logging.getLogger(__name__)

TOKEN_REFUSALS: Final = frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "NOT_FOUND"})
SEARCH_PAGE_SIZE: Final = 1000
MAX_SEARCH_PAGES: Final = 10_000
SEARCH_TIMEOUT_S: Final = 15.0
DROPCOPY_API: Final = "polymarket.v1.DropCopyAPI"
REPORT_API: Final = "polymarket.v1.ReportAPI"
_REQUESTS: Final[Mapping[DropCopyStream, Callable[..., Message]]] = {
    DropCopyStream.EXECUTIONS: dropcopy_pb2.CreateDropCopySubscriptionRequest,
    DropCopyStream.TRADES: dropcopy_pb2.CreateTradeCaptureReportSubscriptionRequest,
    DropCopyStream.INSTRUMENTS: dropcopy_pb2.CreateInstrumentStateChangeSubscriptionRequest,
    DropCopyStream.POSITIONS: dropcopy_pb2.CreatePositionChangeSubscriptionRequest,
}
_RESPONSES: Final[Mapping[DropCopyStream, type[Message]]] = {
    DropCopyStream.EXECUTIONS: dropcopy_pb2.CreateDropCopySubscriptionResponse,
    DropCopyStream.TRADES: dropcopy_pb2.CreateTradeCaptureReportSubscriptionResponse,
    DropCopyStream.INSTRUMENTS: dropcopy_pb2.CreateInstrumentStateChangeSubscriptionResponse,
    DropCopyStream.POSITIONS: dropcopy_pb2.CreatePositionChangeSubscriptionResponse,
}


def search_limits(time_scale: float = 1.0) -> RateLimitTable:
    """The venue's 12 calls a minute for each report search, the minute scaled by ``time_scale`` (for an
    emulator whose DropCopy ``time_scale`` knob is the same)."""
    window = Window(12, 60.0 * time_scale)
    return RateLimitTable(
        venue="us-report",
        scopes=[Scope("SearchExecutions", (window,)), Scope("SearchTrades", (window,))],
        endpoints=[
            EndpointRule("POST /SearchExecutions", ("SearchExecutions",), "report"),
            EndpointRule("POST /SearchTrades", ("SearchTrades",), "report"),
        ],
        shared=(),
    )


@dataclass(slots=True)
class StreamStatus:
    """What one stream's task is doing, for the status line."""

    state: str = "starting"
    events: int = 0
    new_events: int = 0
    responses: int = 0
    reconnects: int = 0
    gaps: int = 0
    fence: int | None = None
    last_token_wall_ns: int | None = None
    caught_up: bool = False
    last_error: str | None = None
    gap_notes: list[str] = field(default_factory=list)


class _TokenRefusedError(Exception):
    def __init__(self, error: PolyinfraError) -> None:
        super().__init__(error.message)
        self.error = error


class DropCopyArchiver:
    """Archives ``streams`` of ``firm`` from the exchange at ``target`` into ``archive`` (see the module text).

    ``reference`` gives the instruments' scales (executions and trades carry their own; position changes
    need these); without it they are read from the exchange (``ListInstruments``) when a record names an
    instrument not known yet, at most once every ``reference_refresh_s``. ``symbols`` narrows the
    subscriptions (none: the whole firm). ``since_ns`` is where a cold start begins (None: live only).
    ``search_table`` paces the report searches (default: the venue's). ``fleet`` takes the streams' leases
    from a NATS key-value bucket instead of the archive's lock, for an archive several machines share.
    ``protos`` picks the field numbers spoken (see the module's text).
    """

    def __init__(
        self,
        target: str,
        archive: DropCopyArchive,
        *,
        firm: str = "",
        streams: Iterable[DropCopyStream] = tuple(DropCopyStream),
        reference: Mapping[str, UsInstrument] | None = None,
        reference_refresh_s: float = 60.0,
        insecure: bool = False,
        tokens: TokenManager | None = None,
        call_metadata: CallMetadata | None = None,
        symbols: Iterable[str] = (),
        since_ns: int | None = 0,
        deadline_s: float | None = None,
        silence_timeout_s: float = 180.0,
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        lease_poll_s: float = 1.0,
        fleet: FleetStreamLeases | None = None,
        search_table: RateLimitTable | None = None,
        search_page_size: int = SEARCH_PAGE_SIZE,
        clock_ns: Callable[[], int] = time.time_ns,
        seed: int | None = None,
        protos: ProtosChoice = None,
    ) -> None:
        self._deadline_s = checked_stream_deadline(deadline_s)
        if not 0 < search_page_size <= SEARCH_PAGE_SIZE:
            raise InvalidValueError(f"search_page_size must be 1 to {SEARCH_PAGE_SIZE}", value=search_page_size)
        self._target = target
        self._archive = archive
        self._firm = firm
        self._streams = tuple(dict.fromkeys(streams))
        self._reference = dict(reference or {})
        self._fetch_reference = reference is None
        self._reference_refresh_s = reference_refresh_s
        self._reference_fetched_at: float | None = None
        self._reference_lock = asyncio.Lock()
        self._insecure = insecure
        self._tokens = tokens
        self._call_metadata = call_metadata
        self._protos = protos
        self._symbols = list(symbols)
        self._since_ns = since_ns
        self._silence_s = silence_timeout_s
        self._reconnect = (reconnect_initial_s, reconnect_max_s)
        self._lease_poll_s = lease_poll_s
        self._fleet = fleet
        self._search = AsyncRateLimiter(clock=time.monotonic)
        self._search_table = search_table if search_table is not None else search_limits()
        self._page_size = search_page_size
        self._clock_ns = clock_ns
        self._random = random.Random(seed)
        self.status: dict[DropCopyStream, StreamStatus] = {stream: StreamStatus() for stream in self._streams}

    @property
    def stream_count(self) -> int:
        """The concurrent streams this archiver holds of the firm's pooled 20 (one per archived stream; the
        report searches are not streams): give :func:`~polyinfra.core.us_books.stream_share` it when market
        data of the same firm runs beside it."""
        return len(self._streams)

    async def run(self, duration_s: float | None = None) -> None:
        """Archive until ``duration_s`` passes (None: until cancelled). A stream fenced off by another
        archiver stops; an error no reconnect can cure (a missing scope) is raised."""
        exchange = UsExchangeClient(
            self._target,
            insecure=self._insecure,
            tokens=self._tokens,
            call_metadata=self._call_metadata,
            timeout_s=SEARCH_TIMEOUT_S,
            protos=self._protos,
        )
        async with exchange:
            tasks = [asyncio.create_task(self._run_stream(exchange, stream)) for stream in self._streams]
            try:
                async with asyncio.timeout(duration_s):
                    await asyncio.gather(*tasks)
            except TimeoutError:
                pass
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _run_stream(self, exchange: UsExchangeClient, stream: DropCopyStream) -> None:
        status = self.status[stream]
        status.state = "waiting for the lease"
        held = await self._acquire(stream)
        lease = held if isinstance(held, Lease) else held.lease
        status.fence = lease.fence
        try:
            if isinstance(held, Lease):
                await self._consume(exchange, stream, lease, status)
            else:
                await first_to_end(self._consume(exchange, stream, lease, status), self._fleet_keep(held))
        except FencedOffError as fenced:
            status.state = "fenced off"
            status.last_error = fenced.message
            _log.warning("DropCopy %s: %s", stream, fenced)
        except ProtoMismatchError as mismatch:
            # Every reconnect would hear the same numbers: nothing this server sends can be archived.
            status.state = "refused"
            status.last_error = mismatch.message
            raise
        finally:
            lease.release()
            if not isinstance(held, Lease) and self._fleet is not None:
                await self._fleet.release(held)

    async def _acquire(self, stream: DropCopyStream) -> Lease | HeldStream:
        """The stream's lease: the archive's own lock, or the fleet's key-value lease when one is set."""
        while True:
            if self._fleet is None:
                held: Lease | HeldStream | None = await asyncio.to_thread(self._archive.acquire, self._firm, stream)
            else:
                held = await self._fleet.acquire(self._archive, self._firm, stream)
            if held is not None:
                return held
            await asyncio.sleep(self._lease_poll_s)

    async def _fleet_keep(self, held: HeldStream) -> None:
        assert self._fleet is not None
        await self._fleet.keep(held)

    async def _consume(
        self, exchange: UsExchangeClient, stream: DropCopyStream, lease: Lease, status: StreamStatus
    ) -> None:
        cursor = await asyncio.to_thread(self._archive.cursor, self._firm, stream)
        chain = TokenChain(cursor.token, by_time=cursor.token is None and cursor.last_time_ns is not None)
        last_time_ns = cursor.last_time_ns
        backoff = Backoff(initial_s=self._reconnect[0], max_s=self._reconnect[1], random=self._random.random)
        catch_up = CatchUp()
        while True:
            request: Any = _REQUESTS[stream](symbols=self._symbols)
            by_token = chain.token is not None
            if by_token:
                request.resume_token = chain.token
            elif last_time_ns is not None or self._since_ns is not None:
                request.resume_time.FromNanoseconds(last_time_ns if last_time_ns is not None else self._since_ns or 0)
            status.state = "replaying"
            catch_up.reset()
            status.caught_up = False
            try:
                rpc = await exchange.method(DROPCOPY_API, stream.method, _RESPONSES[stream])
                async for batch in self._responses(exchange, rpc, stream, request):
                    link = chain.link(batch.token, len(batch.events), 0)
                    link = await asyncio.to_thread(self._archive.commit, lease, batch, link)
                    chain.applied(link)
                    backoff.reset()
                    if batch.newest_time_ns is not None:
                        last_time_ns = max(last_time_ns or 0, batch.newest_time_ns)
                    catch_up.observe(batch.newest_time_ns, self._clock_ns())
                    status.responses += 1
                    status.events += link.events
                    status.new_events += link.new_events
                    status.last_token_wall_ns = self._clock_ns()
                    status.caught_up = catch_up.caught_up
                    status.state = "live" if catch_up.caught_up else "replaying"
            except _TokenRefusedError as refused:
                try:
                    await self._reconcile(
                        exchange=exchange,
                        stream=stream,
                        lease=lease,
                        chain=chain,
                        refusal=refused.error,
                        last_time_ns=last_time_ns,
                        status=status,
                    )
                    continue
                except (FencedOffError, ProtoMismatchError):
                    raise
                except PolyinfraError as failure:
                    # The search failed (its limit, the network): nothing was committed, the stored token
                    # is still the refused one, so the next attempt is refused again and reconciles again.
                    status.last_error = str(failure)
            except GrpcAuthError as refused:
                if refused.context.get("code") != "UNAUTHENTICATED" or self._tokens is None:
                    status.state = "refused"
                    status.last_error = refused.message
                    raise
                await self._tokens.replace(await self._tokens.token())
            except (PolyinfraError, TimeoutError) as failure:
                if isinstance(failure, (FencedOffError, ProtoMismatchError)):
                    raise
                status.last_error = str(failure) if isinstance(failure, PolyinfraError) else "silent stream"
            status.reconnects += 1
            status.state = "reconnecting"
            await asyncio.sleep(backoff.next_delay_s())

    async def _responses(
        self, exchange: UsExchangeClient, rpc: UsMethod[Message], stream: DropCopyStream, request: Message
    ) -> Any:
        """The decoded batches of one subscription; ends when the stream does."""
        token = await self._tokens.token() if self._tokens is not None else None
        metadata = await exchange.auth.metadata(token)
        # Bytes both ways: a message is decoded here, so a bad one is our typed error, not gRPC's.
        open_call: Any = exchange.channel.unary_stream(rpc.path)
        call = open_call(rpc.encode(request), timeout=self._deadline_s, metadata=metadata.pairs())
        by_token = bool(getattr(request, "resume_token", b""))
        try:
            while True:
                try:
                    async with asyncio.timeout(self._silence_s):
                        raw = await call.read()
                except grpc.aio.AioRpcError as exc:
                    error = rpc_error(exc, rpc.name)
                    if by_token and exc.code().name in TOKEN_REFUSALS:
                        raise _TokenRefusedError(error) from None
                    raise error from None
                if raw is grpc.aio.EOF:
                    return
                try:
                    response = rpc.decode(raw)
                except MalformedMessageError as error:  # ProtoMismatchError too
                    # The decoding is the client's, shared by every call: which of the streams broke is ours to say.
                    raise type(error)(
                        error.message, retriable=error.retriable, **{**error.context, "stream": str(stream)}
                    ) from None
                yield await self._decoded(exchange, stream, response)
        finally:
            call.cancel()

    async def _decoded(self, exchange: UsExchangeClient, stream: DropCopyStream, response: Message) -> DecodedBatch:
        """``response`` decoded; a record of an instrument the reference data lacks (one listed since it was
        read) first refreshes it, when this archiver reads it itself."""
        try:
            return decode_batch(stream, response, self._reference)
        except MalformedMessageError as error:
            if not (self._fetch_reference and error.context.get("missing_reference")):
                raise
            await self._refresh_reference(exchange)
        return decode_batch(stream, response, self._reference)

    async def _refresh_reference(self, exchange: UsExchangeClient) -> None:
        async with self._reference_lock:
            now = time.monotonic()
            fetched_at = self._reference_fetched_at
            if fetched_at is not None and now - fetched_at < self._reference_refresh_s:
                return  # another stream just read it, or it was read too recently to have changed
            self._reference_fetched_at = now
            self._reference.update({instrument.symbol: instrument for instrument in await exchange.instruments()})

    async def _reconcile(
        self,
        *,
        exchange: UsExchangeClient,
        stream: DropCopyStream,
        lease: Lease,
        chain: TokenChain,
        refusal: PolyinfraError,
        last_time_ns: int | None,
        status: StreamStatus,
    ) -> None:
        """The stored token was refused: re-read the window since the last applied time, commit it as a
        named gap, and go on by time."""
        since_ns = last_time_ns if last_time_ns is not None else (self._since_ns or 0)
        until_ns = self._clock_ns()
        window = f"{_iso(since_ns)} .. {_iso(until_ns)}"
        code = refusal.context.get("code")
        venue = refusal.context.get("venue_message") or ""
        if stream in (DropCopyStream.EXECUTIONS, DropCopyStream.TRADES):
            status.state = "reconciling"
            batch, method, pages = await self._search_window(exchange, stream, since_ns, until_ns)
            how = f"{method} over {window}: {len(batch.events)} found in {pages} page(s)"
        else:
            batch = DecodedBatch(b"", (), None)
            how = f"no report search serves {stream}: resumed by time only from {_iso(since_ns)}"
        note = f"resume token refused ({code}: {venue}); {how}"
        link = chain.gap(note, len(batch.events))
        link = await asyncio.to_thread(self._archive.commit, lease, batch, link)
        chain.after_gap()
        status.gaps += 1
        status.new_events += link.new_events
        status.gap_notes.append(f"{note}; {link.new_events} new")
        _log.warning("DropCopy %s gap: %s; %d new", stream, note, link.new_events)

    async def _search_window(
        self, exchange: UsExchangeClient, stream: DropCopyStream, since_ns: int, until_ns: int
    ) -> tuple[DecodedBatch, str, int]:
        method = "SearchExecutions" if stream is DropCopyStream.EXECUTIONS else "SearchTrades"
        if method == "SearchExecutions":
            request: Any = report_pb2.SearchExecutionsRequest(page_size=self._page_size)
            response_type: Any = report_pb2.SearchExecutionsResponse
        else:
            request = report_pb2.SearchTradesRequest(page_size=self._page_size)
            response_type = report_pb2.SearchTradesResponse
        request.start_time.FromNanoseconds(since_ns)
        request.end_time.FromNanoseconds(until_ns + 1)
        route = self._search_table.route("POST", f"/{method}")
        events: list[Any] = []
        newest: int | None = None
        for page in range(1, MAX_SEARCH_PAGES + 1):
            ticket = await self._search.acquire(route)
            try:
                answer = await exchange.call(REPORT_API, method, request, response_type)
            finally:
                self._search.complete(ticket)
            records = answer.executions if method == "SearchExecutions" else answer.trade
            for record in records:
                event = (
                    execution_from_wire(record, self._reference)
                    if method == "SearchExecutions"
                    else trade_from_wire(record, self._reference)
                )
                events.append((event, record.SerializeToString()))
                newest = max(newest or 0, event.transact_time_ns)
            if not answer.next_page_token or getattr(answer, "eof", False):
                return DecodedBatch(b"", tuple(events), newest), method, page
            if answer.next_page_token == request.page_token:
                raise MalformedMessageError(f"{method} returned the same page token again")
            request.page_token = answer.next_page_token
        raise MalformedMessageError(f"{method} did not end within {MAX_SEARCH_PAGES} pages")


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).isoformat(timespec="milliseconds")
