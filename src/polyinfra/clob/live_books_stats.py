"""The counters of :class:`~polyinfra.clob.live_books.LiveBooks`: a snapshot for callers, and their Prometheus export.

Metrics: ``polyinfra_ws_frames`` by event type (``malformed`` included), ``polyinfra_ws_reconnects``,
``polyinfra_malformed_answers`` and ``polyinfra_task_failures``,
``polyinfra_book_resyncs`` by reason, ``polyinfra_stale_books``, ``polyinfra_book_staleness_seconds``
(the worst connection's silence), ``polyinfra_queue_depth`` / ``polyinfra_queue_drops`` for the
``live_books_events`` queues; hot-path counts are kept as plain ints and exported once per watchdog
tick by :class:`LiveBooksMetrics` (the others where they happen).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from polyinfra.core.book_sync import BookSync
from polyinfra.model.events import BookEvent
from polyinfra.net.event_stream import EventFanout
from polyinfra.obs.logging import get_logger
from polyinfra.obs.metrics import BOOK_RESYNCS, BOOK_STALENESS, QUEUE_DEPTH, QUEUE_DROPS, STALE_BOOKS, WS_FRAMES

__all__ = ["LiveBooksMetrics", "LiveBooksStats"]

_log = get_logger(__name__)

_EVENTS_QUEUE: Final = "live_books_events"
_MALFORMED: Final = "malformed"


@dataclass(frozen=True, slots=True)
class LiveBooksStats:
    """Counters of a :class:`~polyinfra.clob.live_books.LiveBooks` since it was created (a snapshot; plain ints)."""

    frames: int
    """Data frames received (``PONG`` not included)."""
    frames_by_event_type: Mapping[str, int]
    """Decoded events by ``event_type`` (a frame holding N events counts N)."""
    malformed_frames: int
    """Frames that did not decode or could not be applied (each re-snapshots its connection's tokens)."""
    malformed_answers: int
    """``POST /books`` answers (snapshots and audits) that could not be used; their tokens are retried."""
    unknown_event_types: Mapping[str, int]
    """Event types skipped because polyinfra does not know them (the venue adds some over time)."""
    connections: int
    """Connections in the pool (one socket each while connected)."""
    connected: int
    """Connections with an open socket now."""
    reconnects: int
    """Sessions opened after a connection's first one."""
    failed_sessions_in_a_row: int
    """The most sessions in a row, on any one connection, that failed before delivering data (a
    socket that would not open, or closed first); data starts the count again from zero."""
    last_session_failure: str | None
    """Why the last of those failed (None while none has)."""
    resyncs: int
    """Books marked for a fresh snapshot (first snapshots not counted)."""
    resyncs_by_reason: Mapping[str, int]
    snapshot_requests: int
    """``POST /books`` batches sent for snapshots."""
    snapshot_failures: int
    """Token snapshots that failed, were missing from the answer, untrusted or spoiled."""
    replayed_events: int
    """Events buffered during a snapshot request and replayed on top of it."""
    hash_mismatches: int
    best_price_mismatches: int
    audits: int
    """Books compared with the venue's REST book (periodic audit and quiet-token checks)."""
    audit_mismatches: int
    audits_inconclusive: int
    """Audits that could not judge a book: it changed while the venue's copy was being fetched."""
    duplicate_frames: int
    """``price_change`` frames that repeated their connection's previous frame, skipped."""
    probes_sent: int
    silences_detected: int
    """Sessions closed because they stayed silent through a probe (or sent neither data nor PONG)."""
    max_silence_detection_ms: int
    """The longest silence (from a session's last data, or its start) before it was declared dead."""
    events_delivered: int
    events_dropped: int
    """Events dropped by full :meth:`~polyinfra.clob.live_books.LiveBooks.events` queues (oldest first)."""
    listener_errors: int
    task_failures: Mapping[str, int]
    """Background tasks that died with an exception, by name; each long-running one was restarted."""


class LiveBooksMetrics:
    """What one :class:`~polyinfra.clob.live_books.LiveBooks` last exported to Prometheus, so each
    export adds only the difference (several LiveBooks in one process add up)."""

    def __init__(self) -> None:
        self._events: dict[str, int] = {}
        self._malformed = 0
        self._resyncs: dict[str, int] = {}
        self._not_live = 0
        self._drops = 0

    def export(
        self, sync: BookSync, fanout: EventFanout[BookEvent], *, malformed_frames: int, staleness_s: float
    ) -> None:
        """Export the counts since the last export; ``staleness_s`` is the worst connection's silence."""
        for event_type, count in sync.events_by_type().items():
            added = count - self._events.get(event_type, 0)
            if added:
                WS_FRAMES.labels(channel="market", event_type=event_type).inc(added)
                self._events[event_type] = count
        if malformed_frames != self._malformed:
            WS_FRAMES.labels(channel="market", event_type=_MALFORMED).inc(malformed_frames - self._malformed)
            self._malformed = malformed_frames
        new_resyncs: dict[str, int] = {}
        for reason, count in sync.stats.resyncs_by_reason.items():
            added = count - self._resyncs.get(reason, 0)
            if added:
                BOOK_RESYNCS.labels(reason=reason).inc(added)
                self._resyncs[reason] = count
                new_resyncs[reason] = added
        if new_resyncs:
            _log.warning("books re-snapshotted", by_reason=new_resyncs)
        not_live = sync.not_live
        # inc/dec rather than set: several LiveBooks in one process add up.
        STALE_BOOKS.inc(not_live - self._not_live)
        self._not_live = not_live
        BOOK_STALENESS.set(staleness_s)
        QUEUE_DEPTH.labels(queue=_EVENTS_QUEUE).set(fanout.queued)
        dropped = fanout.dropped
        if dropped != self._drops:
            QUEUE_DROPS.labels(queue=_EVENTS_QUEUE).inc(dropped - self._drops)
            self._drops = dropped

    def withdraw(self) -> None:
        """Take back what only a running LiveBooks stands for: its stale books and its queue depth."""
        STALE_BOOKS.dec(self._not_live)
        self._not_live = 0
        QUEUE_DEPTH.labels(queue=_EVENTS_QUEUE).set(0)
