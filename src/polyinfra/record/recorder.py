"""The recorder: a bounded queue that live clients fill through their taps, and one writer task
that drains it into a sink in batches.

::

    socket reader ──tap──> queue (bounded; full: drop, count, GAP record) ──writer──> sink.write()
                                                                                    │ returns = durable
                                                            acknowledged watermark <┘

* **Never blocks a reader.** Taps append to a deque and set an event; the writer awaits the sink,
  whose blocking work runs off the event loop.
* **Acknowledged means durable.** The watermark (:attr:`Recorder.acknowledged`) moves after
  ``sink.write`` returns, to the last record of the batch: every record queued before it is
  stored too, because batches leave the queue in order and are written one at a time.
* **A failing sink never ends recording.** A batch that did not store is kept and written again
  after a backoff (the sink deduplicates by ``event_id``, so a batch that did store before an
  error reached us costs nothing); meanwhile the queue fills and its overflow becomes gaps.
* **Fenced off is final.** A fleet shard's sink refuses every write once another process took
  the shard over (:class:`~polyinfra.errors.FencedOffError`): the writer stops there, drops what
  is queued (the new holder records it, and the gap between is on its tape) and says so in
  :attr:`Recorder.fenced_off`.
* **Clock provenance.** The session header (host, session start, clock source) is written at
  :meth:`Recorder.start`, then a wall-minus-monotonic sample every ``clock_sample_interval_s``
  and one at :meth:`Recorder.stop`; coverage relies on them to know the recorder was alive.

Clocks are injected (``monotonic_ns``, ``wall_ns``) so tests can stop time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from polyinfra.core.backoff import Backoff
from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.errors import FencedOffError, InvalidValueError, PolyinfraError
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import RECORDER_DROPPED, RECORDER_QUEUE_DEPTH, RECORDER_RECORDS, RECORDER_WRITE_FAILURES
from polyinfra.obs.redaction import redact
from polyinfra.record.records import NO_CONNECTION, Record, RecordKind, SessionHeader
from polyinfra.record.sink import Sink
from polyinfra.record.tap import ChannelTap, encode_details

__all__ = ["UNSTORABLE_RECORD", "Recorder", "RecorderStats", "SentFrameRedactor", "Watermark", "redact_sent_frame"]

_log = get_logger(__name__)

SentFrameRedactor = Callable[[bytes], bytes]
"""Turns a sent frame into what may be stored: credentials masked."""

_RECORDER_SOURCE: Final = "recorder"
"""The source of the recorder's own records (clock samples)."""
# A sink that still fails this many times in a row while the recorder stops is given up on: what
# is left is reported as unacknowledged rather than holding the process forever.
_ATTEMPTS_WHEN_STOPPING: Final = 3
UNSTORABLE_RECORD: Final = "unstorable record"
"""The reason of the GAP stored in place of a record the sink refused for good."""


def redact_sent_frame(frame: bytes) -> bytes:
    """The default redaction hook: :func:`~polyinfra.obs.redaction.redact` over the frame's text,
    which masks registered secrets and secret-named JSON values (``apiKey``, ``secret``,
    ``passphrase``: the user channel's ``auth`` object)."""
    return redact(frame.decode("utf-8", "replace")).encode()


@dataclass(frozen=True, slots=True)
class Watermark:
    """The last record the sink acknowledged (durably stored), and how many were acknowledged in all."""

    event_id: str
    recv_mono_ns: int
    recv_wall_ns: int
    records: int


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counters of a :class:`Recorder` (a snapshot)."""

    queued: int
    """Records waiting for the sink now."""
    written: int
    """Records the sink acknowledged."""
    dropped: int
    """Records a full queue could not take (each run of them is a GAP record)."""
    gaps: int
    """Runs of dropped records."""
    checkpoints: int
    """Book checkpoints the taps took."""
    batches: int
    write_failures: int
    """Batches the sink failed to store (each was retried)."""
    unstorable: int
    """Records the sink refused for good, each stored as a GAP record in its place."""
    acknowledged: Watermark | None


class Recorder:
    """Records what live clients see into ``sink``; use as ``async with Recorder(sink) as recorder``.

    ``queue_size`` bounds the records waiting for the sink; ``batch_size`` bounds one write.
    ``linger_s`` is how long the writer lets records gather before a write that would not fill a
    batch: every write costs a transaction (or a server round trip) whatever its size, and at a
    live stream's pace a writer that wrote as soon as it woke wrote two or three records at a time,
    which tripled the CPU a recording client used. It delays acknowledgement by as much; 0 turns
    it off.
    ``checkpoint_interval_s`` is how often taps want checkpoints of the clients' books.
    ``redact_sent`` masks credentials in sent frames before they are queued. The sink is the
    caller's: the recorder does not close it.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        queue_size: int = 100_000,
        batch_size: int = 2_000,
        linger_s: float = 0.05,
        clock_sample_interval_s: float = 60.0,
        checkpoint_interval_s: float = 60.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 10.0,
        host_id: str | None = None,
        redact_sent: SentFrameRedactor = redact_sent_frame,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
        wall_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._sink = sink
        self.queue_size = positive_int("queue_size", queue_size)
        """The most records the queue holds."""
        self._batch_size = positive_int("batch_size", batch_size)
        if not linger_s >= 0:  # also refuses NaN
            raise InvalidValueError("linger_s must be 0 or more seconds", linger_s=linger_s)
        self._linger_s = linger_s
        self._clock_sample_interval_s = positive_number("clock_sample_interval_s", clock_sample_interval_s)
        self.checkpoint_interval_ns = round(positive_number("checkpoint_interval_s", checkpoint_interval_s) * 1e9)
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s, random=lambda: 0.0)
        self.redact_sent = redact_sent
        self.monotonic_ns = monotonic_ns
        self.wall_ns = wall_ns
        self.session_id = uuid.uuid4().hex[:16]
        self.header = SessionHeader(
            self.session_id,
            host_id or socket.gethostname(),
            wall_ns(),
            monotonic_ns(),
            time.get_clock_info("time").implementation,
        )
        self.queue: deque[Record] = deque()
        """Records waiting for the sink (taps append, the writer takes from the left)."""
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._taps: dict[tuple[str, str], ChannelTap] = {}
        self._unclaimed_taps: set[tuple[str, str]] = set()
        self._shared_taps: set[tuple[str, str]] = set()
        self._connections: dict[str, set[int]] = {}
        self._own = ChannelTap(self, _RECORDER_SOURCE, "")
        self._written = 0
        self._batches = 0
        self._write_failures = 0
        self._unstorable = 0
        self._acknowledged: Watermark | None = None
        self._fenced_off: FencedOffError | None = None

    async def __aenter__(self) -> Recorder:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Write the session header and start the writer."""
        if self._writer is not None:
            raise InvalidValueError("a Recorder starts once")
        await self._sink.write_header(self.header)
        self._sample_clock()
        self._writer = asyncio.create_task(self._write_forever(), name="recorder-writer")

    async def stop(self) -> None:
        """Queue a last clock sample, write everything queued, stop the writer."""
        if self._writer is None or self._stopping:
            return
        self._sample_clock()
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()
        await self._writer
        RECORDER_QUEUE_DEPTH.set(0)

    # --- taps ----------------------------------------------------------------------------------

    def tap(self, source: str, channel: str) -> ChannelTap:
        """The tap of (``source``, ``channel``), e.g. ``("clob", "market")``; one per pair (the one
        :meth:`record_gap` made, if it came first)."""
        key = (source, channel)
        if key in self._unclaimed_taps:
            self._unclaimed_taps.discard(key)
            return self._taps[key]
        if key in self._taps or source == _RECORDER_SOURCE:
            raise InvalidValueError("this source and channel already have a tap", source=source, channel=channel)
        tap = ChannelTap(self, source, channel)
        self._taps[key] = tap
        return tap

    def shared_tap(self, source: str, channel: str) -> ChannelTap:
        """The tap of (``source``, ``channel``) shared by every client of the source recording here (two
        :class:`~polyinfra.live.live_data.LiveData`, say), made on first use; each client writes under the
        connection numbers :meth:`claim_connection` gave it, so their records never share an event id."""
        key = (source, channel)
        if key in self._shared_taps:
            return self._taps[key]
        tap = self.tap(source, channel)
        self._shared_taps.add(key)
        return tap

    def claim_connection(self, source: str, wanted: int) -> int:
        """The connection number a client of ``source`` records its connection ``wanted`` under: ``wanted``
        itself unless another client of the source took it in this session, else the next number no one has.
        One client's numbers stay its own (a tape of one client reads as before); two clients' never meet,
        so a replay keeps each connection's state apart. ``NO_CONNECTION`` is never given (a connection the
        client numbers 0 gets the next number): records under it concern every client."""
        taken = self._connections.setdefault(source, {NO_CONNECTION})
        number = wanted if wanted not in taken else max(taken) + 1
        taken.add(number)
        return number

    def record_gap(
        self, source: str, channel: str, *, reason: str, from_wall_ns: int, to_wall_ns: int, token_ids: list[str]
    ) -> None:
        """Queue a GAP record for ``token_ids`` of (``source``, ``channel``): time the recording does
        not vouch for, seen from outside the client (a fleet shard taken over from a dead process).
        Before the client's tap exists, the tap made for it is the one the client gets."""
        tap = self._taps.get((source, channel))
        if tap is None:
            tap = self.tap(source, channel)
            self._unclaimed_taps.add((source, channel))
        tap.lifecycle(
            RecordKind.GAP,
            NO_CONNECTION,
            reason=reason,
            token_ids=token_ids,
            from_wall_ns=from_wall_ns,
            to_wall_ns=to_wall_ns,
        )

    def enqueue(self, record: Record) -> None:
        """Queue a record (taps check the room first)."""
        self.queue.append(record)
        if not self._wake.is_set():
            self._wake.set()

    def count_drop(self, tap: ChannelTap) -> None:
        RECORDER_DROPPED.labels(source=tap.source, channel=tap.channel).inc()

    # --- reads -----------------------------------------------------------------------------------

    @property
    def acknowledged(self) -> Watermark | None:
        """The last record the sink acknowledged; None before the first batch is stored."""
        return self._acknowledged

    @property
    def fenced_off(self) -> FencedOffError | None:
        """Why the sink refuses this recorder's writes for good (another process holds its shard
        now); None while it writes."""
        return self._fenced_off

    @property
    def stats(self) -> RecorderStats:
        return RecorderStats(
            queued=len(self.queue),
            written=self._written,
            dropped=sum(tap.dropped for tap in self._taps.values()),
            gaps=sum(tap.gaps for tap in self._taps.values()),
            checkpoints=sum(tap.checkpoints for tap in self._taps.values()),
            batches=self._batches,
            write_failures=self._write_failures,
            unstorable=self._unstorable,
            acknowledged=self._acknowledged,
        )

    # --- the writer ------------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        queue = self.queue
        next_sample_ns = self.monotonic_ns() + round(self._clock_sample_interval_s * 1e9)
        while True:
            if not queue:
                if self._stopping:
                    return
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._clock_sample_interval_s):
                        await self._wake.wait()
            if self._linger_s and len(queue) < self._batch_size and not self._stopping:
                # Let a batch gather (see the class docstring); a stop cuts the wait short.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._linger_s):
                        await self._stop_requested.wait()
            if self.monotonic_ns() >= next_sample_ns:
                self._sample_clock()
                next_sample_ns = self.monotonic_ns() + round(self._clock_sample_interval_s * 1e9)
            batch = [queue.popleft() for _ in range(min(self._batch_size, len(queue)))]
            RECORDER_QUEUE_DEPTH.set(len(queue))
            if batch:
                await self._store(batch)
            if self._fenced_off is not None:
                return

    async def _store(self, batch: list[Record], *, is_replacement: bool = False) -> None:
        """Write ``batch`` until the sink takes it, then move the watermark. A batch the sink refuses
        for good (a record it can never hold, such as one over a server's message size) is written
        record by record, and each record refused for good is stored as a GAP in its place: one
        impossible record must not stall everything recorded after it."""
        attempts = 0
        while True:
            try:
                await self._sink.write(batch)
            except FencedOffError as exc:
                self._fenced_off = exc
                _log.warning(
                    "recorder fenced off: another process holds its shard now",
                    records_not_written=len(batch) + len(self.queue),
                )
                self.queue.clear()
                return
            except Exception as exc:  # a failing sink must not end recording: keep the batch, retry
                attempts += 1
                self._write_failures += 1
                RECORDER_WRITE_FAILURES.inc()
                if isinstance(exc, PolyinfraError) and not exc.retriable:
                    await self._store_one_by_one(batch, exc, is_replacement=is_replacement)
                    return
                if self._stopping and attempts >= _ATTEMPTS_WHEN_STOPPING:
                    lost = len(batch) + len(self.queue)
                    self.queue.clear()
                    _log.error("recorder stopping with records its sink did not store", records=lost)
                    return
                delay_s = self._backoff.next_delay_s()
                _log.warning("recorder sink write failed; retrying", error=str(exc)[:300], retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
            else:
                break
        self._backoff.reset()
        self._acknowledge(batch)

    async def _store_one_by_one(self, batch: list[Record], refusal: PolyinfraError, *, is_replacement: bool) -> None:
        if len(batch) > 1:
            for record in batch:
                await self._store([record])
            return
        (record,) = batch
        if is_replacement:
            # Even the small GAP standing in for a lost record was refused: nothing smaller can say
            # what was lost, so the log line is its only trace.
            _log.error("recorder sink refused the gap of an unstorable record", event_id=record.event_id)
            return
        self._unstorable += 1
        _log.error(
            "recorder sink refused a record for good; a gap is stored in its place",
            event_id=record.event_id,
            kind=record.kind.value,
            payload_bytes=len(record.payload),
            error=str(refusal)[:300],
        )
        await self._store([_unstorable_gap(record, refusal)], is_replacement=True)

    def _acknowledge(self, batch: list[Record]) -> None:
        self._written += len(batch)
        self._batches += 1
        last = batch[-1]
        self._acknowledged = Watermark(last.event_id, last.recv_mono_ns, last.recv_wall_ns, self._written)
        by_channel: dict[tuple[str, str], int] = {}
        for record in batch:
            pair = (record.source, record.channel)
            by_channel[pair] = by_channel.get(pair, 0) + 1
        for (source, channel), count in by_channel.items():
            RECORDER_RECORDS.labels(source=source, channel=channel).inc(count)

    def _sample_clock(self) -> None:
        self._own.lifecycle(
            RecordKind.CLOCK_SAMPLE, NO_CONNECTION, wall_minus_monotonic_ns=self.wall_ns() - self.monotonic_ns()
        )


def _unstorable_gap(record: Record, refusal: PolyinfraError) -> Record:
    """The GAP stored in the place (and under the event id) of ``record``, saying what was lost."""
    gap = {
        "reason": UNSTORABLE_RECORD,
        "kind": record.kind.value,
        "payload_bytes": len(record.payload),
        "error": redact(str(refusal))[:300],
        "from_wall_ns": record.recv_wall_ns,
        "to_wall_ns": record.recv_wall_ns,
    }
    return msgspec.structs.replace(record, kind=RecordKind.GAP, payload=encode_details(gap))
