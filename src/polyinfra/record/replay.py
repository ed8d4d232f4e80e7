"""Replay: a recording fed through the same parsers and book machinery as live, into ``OrderBook``s.

:class:`Replay` drives a :class:`~polyinfra.core.book_sync.BookSync` exactly as
:class:`~polyinfra.clob.live_books.LiveBooks` drove it while recording: the raw frames through
the same decoder and :class:`~polyinfra.core.market_feed.MarketFeed`, the recorded ``POST
/books`` answers (their bodies as received; tapes that stored them re-encoded read the same way)
through the same wire types into the same snapshot requests (the same tokens, taken at the same point of
the stream, so the deltas buffered while a snapshot was in flight are the same ones), and the
client's timer decisions (silences, overdue initial dumps, audit differences) as recorded. What
LiveBooks derived from the data alone (a session proven by its first frame, a frame that could
not be applied) is derived again here, from the same data.

Exactness is checked, not assumed: the venue's hashes of ``book`` snapshots and its best prices
after each change are verified by the feed as they were live (:attr:`ReplayStats.hash_mismatches`,
:attr:`ReplayStats.best_price_mismatches` must equal the live counts), and every checkpoint the
recorder stored (a live book's levels and their digest) is compared with the replayed book at the same
point of the stream; the first difference is reported with its event id
(:attr:`ReplayStats.first_divergence`).

Each recording session starts from empty books. ``start_wall_ns`` only limits the events
yielded: the books are rebuilt from the beginning of the recording, unless the replay resumes at a
checkpoint (:class:`ResumePoint`, what :func:`~polyinfra.record.book_at.book_at` uses): then the
token's book is restored from the checkpoint's levels and only the records after it are replayed.
Pacing: as fast as possible (``speed=None``) or ``speed`` times the
recorded pace, against an injected clock and sleep.

Cost: iterating hands the events on record by record; :meth:`Replay.run` builds none (as live
does while nobody consumes them). ``bench/recorder_sqlite.py`` measures both against live.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

from polyinfra.core.book_sync import BookSync, Instant, SnapshotRequest, SyncReason
from polyinfra.errors import CorruptRecordError, InvalidValueError, MalformedMessageError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent, SyncState
from polyinfra.record.book_checkpoint import BookCheckpoint, decode_checkpoint
from polyinfra.record.book_digest import levels_digest
from polyinfra.record.pacing import Pacer
from polyinfra.record.records import Record, RecordKind, connection_number, decode_stored
from polyinfra.record.sink import Sink
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["Divergence", "Replay", "ReplayStats", "ResumePoint"]

_MARKET_CHANNEL: Final = ("clob", "market")
_REPLAYED_KINDS: Final = frozenset(RecordKind) - {
    RecordKind.FRAME_SENT,
    RecordKind.STATE_CHANGED,
    RecordKind.GAP,
    RecordKind.CLOCK_SAMPLE,
}
_SYNC_REASONS: Final = {reason.value: reason for reason in SyncReason}


class _Lifecycle(msgspec.Struct):
    """The fields of lifecycle payloads replay reads (see :class:`RecordKind`)."""

    token_ids: list[str] = []
    reason: str = ""


_decode_lifecycle: Final[JsonDecoder[_Lifecycle]] = JsonDecoder(_Lifecycle, what="recorded lifecycle record")
_decode_summaries: Final[JsonDecoder[list[OrderBookSummary]]] = JsonDecoder(
    list[OrderBookSummary], what="recorded POST /books answer"
)


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first checkpoint the replayed book did not match."""

    event_id: str
    token_id: str
    recorded_digest: str
    replayed_digest: str


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where a replay of one token starts instead of the beginning: a checkpoint record of the
    token, what it holds, and the last frame its connection had received (None: none)."""

    record: Record
    checkpoint: BookCheckpoint
    last_frame: bytes | None


@dataclass(slots=True)
class ReplayStats:
    """What a replay went through and what it verified."""

    records: int = 0
    """Records read (on resume, those read while looking for the checkpoint included)."""
    frames: int = 0
    rest_responses: int = 0
    malformed_frames: int = 0
    """Frames the decoder refused (live refused them too)."""
    hash_mismatches: int = 0
    best_price_mismatches: int = 0
    checkpoints_matched: int = 0
    checkpoints_diverged: int = 0
    first_divergence: Divergence | None = None


class Replay:
    """The recording in ``sink`` replayed; iterate it (``async for event in replay``) for the
    domain events, then read :attr:`books` and :attr:`stats`.

    ``keys`` limits the books rebuilt to those tokens (None: all); events are yielded for records
    received in ``[start_wall_ns, end_wall_ns)``. ``speed`` (None: as fast as possible) paces the
    replay against ``clock`` (seconds) and ``sleep``, injected so that tests never wait.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        keys: Collection[str] | None = None,
        speed: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        resume: ResumePoint | None = None,
    ) -> None:
        self._pace = None if speed is None else Pacer(speed, clock=clock, sleep=sleep)
        if resume is not None and (keys is None or set(keys) != {resume.record.key}):
            # The checkpoint restores one book: the others would start empty mid-tape.
            raise InvalidValueError("a replay resumes at a checkpoint of the one token it replays")
        self._resume = resume
        self._sink = sink
        self._start_wall_ns = start_wall_ns
        self._end_wall_ns = end_wall_ns
        self._keys = None if keys is None else frozenset(keys)
        self._emit_events = True
        self._sync = self._new_sync()
        self._session_id: str | None = None
        self._proven: set[int] = set()
        self._connections: dict[str, int] = {}
        """Connection numbers by event id prefix (session, source, channel, connection)."""
        self._requests: dict[str, SnapshotRequest | None] = {}
        self.stats = ReplayStats()

    @property
    def books(self) -> Mapping[str, OrderBook]:
        """The replayed books (after iteration: the final ones)."""
        return self._sync.books

    @property
    def states(self) -> Mapping[str, SyncState]:
        return self._sync.states

    async def __aiter__(self) -> AsyncIterator[BookEvent]:
        start_ns = self._start_wall_ns
        async for due in self._due_records():
            for record in due:
                self._replay(record)
                events = self._sync.take_events()
                if events and (start_ns is None or record.recv_wall_ns >= start_ns):
                    # Handed on record by record, never held for a whole chunk: thousands of events
                    # kept alive that long survive into the older GC generations, which made replay
                    # measurably slower than live.
                    for event in events:
                        yield event
        self._count_feed_checks()

    async def run(self) -> ReplayStats:
        """Replay to the end without looking at the events (so none is built); the books are in
        :attr:`books`."""
        self._emit_events = self._sync.emit_events = False
        async for due in self._due_records():
            for record in due:
                self._replay(record)
        self._count_feed_checks()
        return self.stats

    async def steps(self) -> AsyncIterator[tuple[Record, list[BookEvent]]]:
        """Each replayed record with the domain events it made, while :attr:`books` are as right
        after it: for consumers that read the books record by record (``polyinfra export``)."""
        async for record in self.records():
            yield record, self.apply(record)

    async def records(self) -> AsyncIterator[Record]:
        """The records to replay, unapplied and unpaced, for a consumer that decides when each is
        due and then calls :meth:`apply` on it, in order (the replay server)."""
        async for chunk in self._replayed_chunks():
            for record in chunk:
                yield record
        self._count_feed_checks()

    def apply(self, record: Record) -> list[BookEvent]:
        """Replay one record of :meth:`records`; the domain events it made."""
        self._replay(record)
        return self._sync.take_events()

    def connection_of(self, token_id: str) -> int | None:
        """The recorded connection the token's data is taken from (None: not tracked now)."""
        return self._sync.connection_of(token_id)

    async def _due_records(self) -> AsyncIterator[Sequence[Record]]:
        """The records to replay as they fall due: a whole chunk at once unless paced, else one
        at a time (an await per record costs more than replaying a frame's worth of it)."""
        async for chunk in self._replayed_chunks():
            if self._pace is None:
                yield chunk
            else:
                for record in chunk:
                    await self._pace.wait_for(record)
                    yield (record,)

    async def _replayed_chunks(self) -> AsyncIterator[Sequence[Record]]:
        """The records to replay, a chunk at a time: the market channel's, from the beginning or
        from right after the resume point's checkpoint (whose book is restored first)."""
        resume = self._resume
        start_ns = None if resume is None else resume.record.recv_wall_ns
        start_event_id = None if resume is None else resume.record.event_id
        before_resume = resume is not None
        chunks = self._sink.read_chunks(
            start_wall_ns=start_ns, end_wall_ns=self._end_wall_ns, kinds=_REPLAYED_KINDS, source_channel=_MARKET_CHANNEL
        )
        async for chunk in chunks:
            if resume is not None and before_resume:
                # Records of the checkpoint's own receive time may precede it: skip to it.
                found = next((i for i, record in enumerate(chunk) if record.event_id == start_event_id), None)
                if found is None:
                    self.stats.records += len(chunk)
                    continue
                self.stats.records += found + 1
                self._restore(resume)
                before_resume = False
                yield chunk[found + 1 :]
            else:
                yield chunk
        if before_resume:
            # Read a moment ago, gone now: the recording was changed under the replay.
            raise CorruptRecordError("the checkpoint to resume at is not in the recording", event_id=start_event_id)

    # --- one record -------------------------------------------------------------------------------

    def _replay(self, record: Record) -> None:
        if record.session_id != self._session_id:
            self._new_session(record.session_id)
        self.stats.records += 1
        sync = self._sync
        now = Instant(record.recv_mono_ns / 1e9, record.recv_wall_ns)
        kind = record.kind
        if kind is RecordKind.FRAME_RECEIVED:
            # Nearly every record: the connection's cached number is looked up here, without a call.
            connection = self._connections.get(record.event_id.rpartition(":")[0])
            self._frame(self.connection_of_record(record) if connection is None else connection, record.payload, now)
        elif kind is RecordKind.REST_RESPONSE:
            self._rest_response(record, now)
        elif kind is RecordKind.CHECKPOINT:
            self._checkpoint(record)
        elif kind is RecordKind.CONNECTED or kind is RecordKind.RECONNECTED:
            self._proven.discard(self.connection_of_record(record))
        elif kind is RecordKind.CONNECTION_LOST:
            connection = self.connection_of_record(record)
            self._proven.discard(connection)
            sync.connection_lost(connection, _reason(record), now)
        elif kind is RecordKind.SUBSCRIBED:
            sync.add(self._wanted(_tokens(record)), self.connection_of_record(record), now)
        elif kind is RecordKind.UNSUBSCRIBED:
            sync.remove(_tokens(record))
        elif kind is RecordKind.SNAPSHOT_REQUESTED:
            tokens = self._wanted(_tokens(record))
            self._requests[record.key] = (
                sync.take_snapshot_batch(now, len(tokens), token_ids=tokens) if tokens else None
            )
        elif kind is RecordKind.SNAPSHOT_FAILED:
            request = self._requests.pop(record.key, None)
            if request is not None:
                sync.snapshots_failed(request, now)
        elif kind is RecordKind.RESYNC_REQUESTED:
            sync.request_resync(_tokens(record), _reason(record), now)

    def _frame(self, connection: int, payload: bytes, now: Instant) -> None:
        """As LiveBooks handles a frame: the first of a session proves it; one the core cannot
        apply restarts the connection's books."""
        self.stats.frames += 1
        sync = self._sync
        if connection not in self._proven:
            self._proven.add(connection)
            sync.connection_proven(connection, now)
        try:
            sync.receive_frame(connection, payload, now)
        except MalformedMessageError:
            self.stats.malformed_frames += 1
        except Exception:  # as live: an untranslated failure may have half applied the frame
            self.stats.malformed_frames += 1
            sync.connection_lost(connection, SyncReason.MALFORMED_FRAME, now)
            sync.connection_proven(connection, now)

    def _rest_response(self, record: Record, now: Instant) -> None:
        self.stats.rest_responses += 1
        request = self._requests.get(record.key)
        if request is None:
            return
        # It decoded live (or it would not have been recorded): a copy that does not is damaged.
        summaries = decode_stored(_decode_summaries, record, "a recorded REST answer does not decode")
        try:
            self._sync.apply_snapshots(request, summaries, now)
        except Exception:  # as live, where the SNAPSHOT_FAILED record that follows retries its tokens
            return

    def _checkpoint(self, record: Record) -> None:
        token_id = record.key
        if self._sync.states.get(token_id) is not SyncState.LIVE:
            return
        replayed = levels_digest(self._sync.books[token_id])
        recorded = decode_checkpoint(record).digest
        stats = self.stats
        if replayed == recorded:
            stats.checkpoints_matched += 1
            return
        stats.checkpoints_diverged += 1
        if stats.first_divergence is None:
            stats.first_divergence = Divergence(record.event_id, token_id, recorded, replayed)

    def _restore(self, resume: ResumePoint) -> None:
        """Put the checkpoint's book into the sync as live left it: LIVE on its connection, that
        connection proven and holding its last frame (for the repeated-frame check), the levels
        applied as a snapshot through the same path as a REST answer."""
        record, checkpoint = resume.record, resume.checkpoint
        self._new_session(record.session_id)
        sync = self._sync
        now = Instant(record.recv_mono_ns / 1e9, record.recv_wall_ns)
        connection = checkpoint.connection
        if resume.last_frame is not None:
            # Before the token is tracked, so the frame (already in the checkpoint's book) changes no book.
            self._frame(connection, resume.last_frame, now)
        else:
            self._proven.add(connection)
            sync.connection_proven(connection, now)
        token_id = record.key
        sync.add([token_id], connection, now)
        sync.request_resync([token_id], SyncReason.SNAPSHOT, now)
        request = sync.take_snapshot_batch(now, 1, token_ids=[token_id])
        if request is not None:
            sync.apply_snapshots(request, [checkpoint.as_summary(token_id)], now)
        sync.take_events()
        if sync.states.get(token_id) is not SyncState.LIVE or levels_digest(sync.books[token_id]) != checkpoint.digest:
            raise CorruptRecordError("a recorded checkpoint's levels do not match its digest", event_id=record.event_id)

    def connection_of_record(self, record: Record) -> int:
        """The connection number inside the record's ``event_id`` (``session:source.channel.N:index``)."""
        prefix = record.event_id.rpartition(":")[0]
        connection = self._connections.get(prefix)
        if connection is None:
            connection = self._connections[prefix] = connection_number(record.event_id)
        return connection

    def _wanted(self, tokens: list[str]) -> list[str]:
        keys = self._keys
        return tokens if keys is None else [token for token in tokens if token in keys]

    def _new_session(self, session_id: str) -> None:
        if self._session_id is not None:
            self._count_feed_checks()
            self._sync = self._new_sync()
        self._session_id = session_id
        self._proven.clear()
        self._requests.clear()

    def _count_feed_checks(self) -> None:
        """Add what the current session's feed found to the totals."""
        self.stats.hash_mismatches += self._sync.hash_mismatches
        self.stats.best_price_mismatches += self._sync.best_price_mismatches

    def _new_sync(self) -> BookSync:
        sync = BookSync(random=lambda: 0.0)
        sync.emit_events = self._emit_events
        return sync


def _details(record: Record) -> _Lifecycle:
    return decode_stored(_decode_lifecycle, record, "a recorded lifecycle record does not decode")


def _tokens(record: Record) -> list[str]:
    return _details(record).token_ids


def _reason(record: Record) -> SyncReason:
    reason = _details(record).reason
    if reason not in _SYNC_REASONS:
        raise CorruptRecordError("a recorded lifecycle record gives no known reason", event_id=record.event_id)
    return _SYNC_REASONS[reason]
