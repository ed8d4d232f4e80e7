"""Keeping many tokens' books provably in sync with the venue, sans-I/O (venue notes: Market channel).

:class:`MarketFeed` applies the market channel to books and says which ones it caught out of
sync; :mod:`polyinfra.core.token_routing` sorts a frame's events for the tokens, and
:mod:`polyinfra.core.connection_watch` judges a silent connection. This module holds the rest of
what the live-book client decides, as pure state that the I/O layer drives with decoded frames,
REST answers and the times it read:

* :class:`BookSync`: each token's :class:`~polyinfra.model.events.SyncState` and why it changed,
  the plan of REST re-snapshots (``POST /books`` batches, retried with backoff), the replay of a
  token's buffered events on top of its snapshot, and the domain events consumers receive;
* what an audit of a quiet token against REST found (the comparison itself is
  :func:`~polyinfra.core.book_audit.diff_book`).

Times are passed in as :class:`Instant` (monotonic seconds for durations, wall-clock nanoseconds
for the records consumers get); randomness (the jitter) is injected. Nothing here reads a clock.

A token's life::

    SYNCING --snapshot--> LIVE --(silence, disconnect, hash/best-price mismatch, audit ...)--> STALE
       ^                                                                                       |
       +------------------------------- snapshot requested ------------------------------------+

A token is *repairing* while it waits for a REST snapshot (pending) or has one in flight; meanwhile
:mod:`polyinfra.core.token_routing` drops a pending token's deltas (the snapshot requested later
contains them) and buffers every event of an in-flight one, which is replayed in order on top of
the snapshot once it arrives. Sizes in the venue's deltas are absolute
(venue notes: Market channel), so replaying changes the snapshot already contains sets those levels
to the values they had, and every later change wins: the book converges whichever moment between
request and answer the venue took the snapshot at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Final, NamedTuple

from msgspec import UnsetType

from polyinfra.core.backoff import backoff_delay_s, validate_schedule
from polyinfra.core.book_audit import BookDiff, diff_book
from polyinfra.core.market_feed import MarketFeed
from polyinfra.core.token_routing import IN_FLIGHT, NOT_REPAIRING, PENDING, EventRouter, TokenRecord
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import (
    BookEvent,
    BookUpdated,
    MarketListed,
    MarketResolved,
    SyncState,
    SyncStateChanged,
    TickSizeChanged,
    TradePrinted,
)
from polyinfra.model.numbers import Side, micros_to_decimal, parse_micros, parse_timestamp
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BookMessage,
    LastTradePriceMessage,
    MarketEvent,
    MarketFrameDecoder,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChangeMessage,
    TickSizeChangeMessage,
)

__all__ = [
    "BookSync",
    "Instant",
    "SnapshotRequest",
    "SyncReason",
    "SyncStats",
]

_LIVE: Final = SyncState.LIVE
_STALE: Final = SyncState.STALE
_SYNCING: Final = SyncState.SYNCING


class Instant(NamedTuple):
    """A moment as the I/O layer read it: ``monotonic_s`` for durations, ``wall_ns`` for records."""

    monotonic_s: float
    wall_ns: int


class SyncReason(StrEnum):
    """Why a token's state changed (the ``reason`` of :class:`SyncStateChanged`) or why it is re-synced."""

    SUBSCRIBED = "subscribed"
    """Newly subscribed: waiting for its first snapshot."""
    SNAPSHOT = "snapshot"
    """A trusted snapshot (and every buffered change since) was applied."""
    SNAPSHOT_REQUESTED = "snapshot requested"
    """A REST snapshot is in flight."""
    RECONNECT = "reconnect"
    """A new session of the token's connection: its book may have missed changes."""
    DISCONNECTED = "disconnected"
    """The token's connection closed."""
    SILENCE = "silence"
    """The token's connection went silent and did not answer a probe (venue notes: Failure modes)."""
    HASH_MISMATCH = "hash mismatch"
    """A snapshot's hash did not match its content (venue notes: Order books)."""
    BEST_PRICE_MISMATCH = "best price mismatch"
    """The venue's reported best prices disagreed with the book (venue notes: Market channel)."""
    DELTA_BEFORE_SNAPSHOT = "delta before snapshot"
    """A change arrived for a token that had no snapshot yet."""
    INVALID_VALUE = "invalid value"
    """The venue sent a value no venue book holds (unparseable, a price outside (0, 1) or off the
    tick grid, a size beyond any market); it was refused, so the book may be incomplete."""
    CROSSED_BOOK = "crossed book"
    """The book was crossed (best bid at or above best ask) after a whole message: it has drifted."""
    OFF_TICK_LEVELS = "off-tick levels"
    """A tick size change left levels between the new ticks."""
    MALFORMED_FRAME = "malformed frame"
    """An undecodable frame on the token's connection may have carried its changes."""
    NO_SNAPSHOT = "no snapshot"
    """The snapshot the venue sends on subscribe did not arrive in time."""
    AUDIT = "audit"
    """The book differed from the venue's REST book."""
    SNAPSHOT_FAILED = "snapshot failed"
    """The REST snapshot request failed or did not include the token."""
    BUFFER_OVERFLOW = "buffer overflow"
    """More events arrived during the snapshot request than the buffer holds."""


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """One batch of tokens whose REST snapshot (``POST /books``) is now in flight."""

    fetch_id: int
    token_ids: tuple[str, ...]


@dataclass(slots=True)
class SyncStats:
    """Counters of the sync logic. Plain ints, never reset."""

    frames: int = 0
    """Data frames received (decoded or not)."""
    malformed_frames: int = 0
    """Frames that did not decode; each marks its connection's tokens for resync."""
    resyncs_by_reason: dict[str, int] = field(default_factory=dict)
    """Books marked for a fresh snapshot, by :class:`SyncReason` (first snapshots not counted)."""
    snapshot_requests: int = 0
    """REST snapshot batches handed out."""
    snapshot_failures: int = 0
    """Tokens whose REST snapshot failed, was missing, untrusted or spoiled by a buffer overflow."""
    replayed_events: int = 0
    """Buffered events replayed on top of a REST snapshot."""
    dropped_deltas: int = 0
    """Level changes dropped because their token was waiting for a snapshot that includes them."""
    buffer_overflows: int = 0
    """Snapshot requests spoiled by more buffered events than the buffer holds."""
    audits: int = 0
    """Live books compared with the venue's REST book."""
    audit_mismatches: int = 0
    """Comparisons that found a difference (the book was marked for resync)."""
    audits_inconclusive: int = 0
    """Comparisons skipped: the book changed while the REST book was fetched, or it did not parse."""
    duplicate_frames: int = 0
    """``price_change`` frames skipped because they repeated their connection's previous frame."""


# --- the per-token state machine -----------------------------------------------------------------


# Which feed counter moved says why the feed asked for a resync (BookSync._feed_flags reads them
# in this order, which is also the precedence when several moved in one frame).
_FEED_FLAG_REASONS: Final = (
    SyncReason.HASH_MISMATCH,
    SyncReason.INVALID_VALUE,
    SyncReason.CROSSED_BOOK,
    SyncReason.OFF_TICK_LEVELS,
    SyncReason.DELTA_BEFORE_SNAPSHOT,
    SyncReason.BEST_PRICE_MISMATCH,
)


class BookSync:
    """Books of many tokens over several connections, with each token's sync state and repairs.

    Connections are small ints chosen by the caller. The I/O layer reports what happens —
    :meth:`connection_proven` (a session delivered data), :meth:`receive_frame`,
    :meth:`connection_lost` — and carries out what this asks for: REST snapshots from
    :meth:`take_snapshot_batch` (answered with :meth:`apply_snapshots` or
    :meth:`snapshots_failed`), checks of :meth:`quiet_tokens` against REST (:meth:`audit`).
    Domain events pile up in an outbox (:meth:`take_events`) while :attr:`emit_events` is true.

    ``random`` is the jitter source of the snapshot retry schedule (``retry_initial_s`` doubling to
    ``retry_max_s``); ``buffer_limit`` caps the events buffered per token during a snapshot request.
    Not thread-safe: one reader drives it.
    """

    __slots__ = (
        "_decoder",
        "_events",
        "_feed",
        "_flag_marker",
        "_last_frames",
        "_next_fetch_id",
        "_not_live",
        "_pending",
        "_proven",
        "_random",
        "_refused",
        "_retry_initial_s",
        "_retry_max_s",
        "_router",
        "_states",
        "_states_view",
        "_tokens",
        "emit_events",
        "last_frame_timestamp",
        "stats",
    )

    def __init__(
        self,
        *,
        random: Callable[[], float],
        verify_hashes: bool = True,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 30.0,
        buffer_limit: int = 10_000,
    ) -> None:
        validate_schedule(retry_initial_s, retry_max_s)
        if buffer_limit < 1:
            raise InvalidValueError("the buffer must hold at least one event", buffer_limit=buffer_limit)
        self._feed = MarketFeed(verify_hashes=verify_hashes)
        self._decoder = MarketFrameDecoder()
        self._random = random
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        self._tokens: dict[str, TokenRecord] = {}
        self._states: dict[str, SyncState] = {}
        self._states_view = MappingProxyType(self._states)
        self._pending: dict[str, None] = {}  # insertion-ordered: the oldest requests go out first
        self._not_live = 0
        self._proven: set[int] = set()
        self._last_frames: dict[int, bytes | str] = {}
        self._next_fetch_id = 1
        self._events: list[BookEvent] = []
        self._flag_marker = self._feed_flags()
        self._refused: MalformedMessageError | None = None
        self.emit_events = False
        """Build domain events for :meth:`take_events` (off while nobody consumes them: they cost)."""
        self.last_frame_timestamp: str | None = None
        """The venue's ``timestamp`` of the first event of the last frame received, as sent (None
        when that frame held no event or did not decode): a recorder stores it without parsing
        the frame a second time."""
        self.stats = SyncStats()
        self._router = EventRouter(self._tokens, self.stats, buffer_limit=buffer_limit)

    # --- reads -----------------------------------------------------------------------------------

    @property
    def books(self) -> Mapping[str, OrderBook]:
        """Every token's book (a live read-only view)."""
        return self._feed.books

    @property
    def states(self) -> Mapping[str, SyncState]:
        """Every token's sync state (a live read-only view)."""
        return self._states_view

    @property
    def not_live(self) -> int:
        """Tokens whose state is not LIVE."""
        return self._not_live

    @property
    def snapshots_wanted(self) -> bool:
        """Some token is waiting for a REST snapshot request to go out."""
        return bool(self._pending)

    @property
    def unknown_event_types(self) -> Mapping[str, int]:
        """Event types the decoder skipped because polyinfra does not know them, with counts."""
        return self._decoder.unknown_event_types

    @property
    def hash_mismatches(self) -> int:
        """Snapshots (socket or REST) whose hash did not match their content."""
        return self._feed.stats.hash_mismatches

    @property
    def best_price_mismatches(self) -> int:
        """Reported best prices that disagreed with the book."""
        return self._feed.stats.best_price_mismatches

    @property
    def invalid_values(self) -> int:
        """Values refused because no venue book holds them (each resyncs its token)."""
        return self._feed.stats.invalid_values

    def events_by_type(self) -> dict[str, int]:
        """Decoded events so far by ``event_type``."""
        return self._router.events_by_type()

    def connection_of(self, token_id: str) -> int | None:
        """The connection a token is on, None when it is not tracked."""
        record = self._tokens.get(token_id)
        return None if record is None else record.connection

    def take_events(self) -> list[BookEvent]:
        """The domain events produced since the last call, in order."""
        events = self._events
        if not events:
            return events
        self._events = []
        return events

    # --- membership -----------------------------------------------------------------------------

    def add(self, token_ids: Iterable[str], connection: int, now: Instant) -> list[str]:
        """Track tokens on ``connection`` (SYNCING); returns those that were not tracked yet.

        On a proven connection the caller subscribes them with the venue's initial dump, which is
        their snapshot; :meth:`expire_waits` sends the ones whose dump does not come to REST.
        """
        added = [token_id for token_id in dict.fromkeys(token_ids) if token_id not in self._tokens]
        for token_id in added:
            self._tokens[token_id] = TokenRecord(connection, now.monotonic_s)
            self._states[token_id] = _SYNCING
        self._not_live += len(added)
        self._feed.track(added)
        return added

    def remove(self, token_ids: Iterable[str]) -> list[str]:
        """Stop tracking tokens (their books are forgotten); returns those that were tracked."""
        removed: list[str] = []
        for token_id in token_ids:
            record = self._tokens.pop(token_id, None)
            if record is None:
                continue
            removed.append(token_id)
            self._end_repair(token_id, record)
            del self._states[token_id]
            if record.state is not _LIVE:
                self._not_live -= 1
        self._feed.untrack(removed)
        return removed

    # --- connections ------------------------------------------------------------------------------

    def connection_proven(self, connection: int, now: Instant) -> None:
        """A session of ``connection`` delivered data after its subscription was sent.

        Messages on one socket are handled in order, so the subscription is active at the venue
        now and a REST snapshot taken from here on misses nothing the socket will not deliver:
        every token on it that is not LIVE gets one.
        """
        self._proven.add(connection)
        for token_id, record in self._tokens.items():
            if record.connection == connection and record.state is not _LIVE and record.repair == NOT_REPAIRING:
                reason = SyncReason.RECONNECT if record.state is _STALE else SyncReason.SUBSCRIBED
                self._want_snapshot(token_id, record, reason, now)

    def connection_lost(self, connection: int, reason: SyncReason, now: Instant) -> None:
        """``connection`` closed or was found dead: its tokens turn STALE and their repairs stop
        (a snapshot is worthless without the deltas that follow it)."""
        self._proven.discard(connection)
        self._last_frames.pop(connection, None)
        for token_id, record in self._tokens.items():
            if record.connection == connection:
                self._end_repair(token_id, record)
                self._move(token_id, record, _STALE, reason, now)

    # --- frames ---------------------------------------------------------------------------------

    def receive_frame(self, connection: int, frame: bytes | str, now: Instant) -> None:
        """Decode and apply one market-channel data frame that ``connection`` received at ``now``.

        An undecodable frame may have carried changes for any token of the connection, so all of
        them are marked for resync, after which :class:`~polyinfra.errors.MalformedMessageError`
        is raised for the caller to log and count. A frame that decodes but carries values no venue
        book holds raises it too, as :meth:`receive` says.
        """
        self.stats.frames += 1
        previous = self._last_frames.get(connection)
        self._last_frames[connection] = frame
        self.last_frame_timestamp = None
        try:
            events = self._decoder.decode(frame)
        except MalformedMessageError:
            self.stats.malformed_frames += 1
            self._frame_lost(connection, now)
            raise
        if events:
            self.last_frame_timestamp = events[0].timestamp
        # A frame delivered twice in a row (a transport retransmit, the emulator's duplicate knob)
        # leaves the levels right (sizes are absolute) but its per-entry best prices describe the
        # book part-way through the message, so re-applying it reports false best-price mismatches.
        # Only price changes are skipped: two equal trade prints can be two trades.
        if frame == previous and all(type(event) is PriceChangeMessage for event in events):
            self.stats.duplicate_frames += 1
            return
        self.receive(connection, events, now)

    def receive(self, connection: int, events: list[MarketEvent], now: Instant) -> None:
        """Apply decoded events that ``connection`` received at ``now``.

        Each token's data is taken from its own connection only, and events of repairing tokens are
        buffered or dropped, as :class:`~polyinfra.core.token_routing.EventRouter` decides.

        A value no venue book holds (a price outside (0, 1) or off the tick grid, a size beyond any
        market, a last trade outside (0, 1), anything unparseable) is refused, and its token resyncs;
        so does a book left crossed by a message. Everything else is applied, then the first refusal
        is raised as :class:`~polyinfra.errors.MalformedMessageError` for the caller to log and count.
        """
        apply = self._apply
        for event in self._router.route(connection, events, now.wall_ns):
            apply(event, now.monotonic_s, now.wall_ns)
        self._check_feed_flags(now)
        refused = self._refused
        if refused is not None:
            self._refused = None
            raise refused

    def _frame_lost(self, connection: int, now: Instant) -> None:
        for token_id, record in self._tokens.items():
            if record.connection != connection:
                continue
            if record.repair == IN_FLIGHT:
                # The lost frame may have held one of its buffered changes: the replay would be short.
                record.spoiled = True
            elif record.repair == NOT_REPAIRING:
                self._want_snapshot(token_id, record, SyncReason.MALFORMED_FRAME, now)

    def _apply(self, event: MarketEvent, now_s: float, received_ns: int) -> None:
        """Apply one event to its book(s), note the update time, and build its domain events."""
        feed = self._feed
        tokens = self._tokens
        emit = self.emit_events
        if isinstance(event, PriceChangeMessage):
            self._feed_apply(event)
            changes = event.price_changes
            touched: Iterable[str]
            if isinstance(changes, UnsetType):
                touched = (event.asset_id,) if isinstance(event.asset_id, str) else ()
            else:
                touched = [change.asset_id for change in changes]
            for token_id in touched:
                record = tokens.get(token_id)
                if record is not None:
                    record.last_update_s = now_s
            if emit:
                timestamp_ms = parse_timestamp(event.timestamp)
                for token_id in dict.fromkeys(touched):
                    if token_id in tokens:
                        self._events.append(BookUpdated(token_id, event.market, timestamp_ms, received_ns, False))
        elif isinstance(event, BookMessage):
            token_id = event.asset_id
            record = tokens.get(token_id)
            if not self._feed_apply(event) or record is None:
                return
            record.last_update_s = now_s
            if emit:
                self._events.append(
                    BookUpdated(token_id, event.market, parse_timestamp(event.timestamp), received_ns, True)
                )
            if record.state is not _LIVE and record.repair != IN_FLIGHT and feed.is_in_sync(token_id):
                self._settle_live(token_id, record, Instant(now_s, received_ns))
        elif isinstance(event, TickSizeChangeMessage):
            book = feed.books.get(event.asset_id)
            old = None if book is None else book.tick_size
            self._feed_apply(event)
            if emit and book is not None and book.tick_size is not None and book.tick_size is not old:
                self._events.append(
                    TickSizeChanged(
                        event.asset_id, event.market, old, book.tick_size, parse_timestamp(event.timestamp), received_ns
                    )
                )
        elif isinstance(event, LastTradePriceMessage):
            if self._feed_apply(event) and emit and event.asset_id in tokens:
                self._trade_printed(event, received_ns)
        elif isinstance(event, NewMarketMessage):
            if emit:
                question = event.question if isinstance(event.question, str) else ""
                self._events.append(
                    MarketListed(
                        event.market, tuple(event.assets_ids), question, parse_timestamp(event.timestamp), received_ns
                    )
                )
        elif isinstance(event, MarketResolvedMessage):
            if emit:
                self._events.append(
                    MarketResolved(event.market, event.winning_asset_id, parse_timestamp(event.timestamp), received_ns)
                )
        else:
            self._feed_apply(event)

    def _feed_apply(self, event: MarketEvent) -> bool:
        """Apply one event to the books; False when the feed refused a value of it (counted, its
        token marked for resync, and the first such error kept for :meth:`receive` to raise)."""
        try:
            self._feed.apply(event)
        except MalformedMessageError as exc:
            if self._refused is None:
                self._refused = exc
            return False
        return True

    def _trade_printed(self, event: LastTradePriceMessage, received_ns: int) -> None:
        # The feed has checked both values.
        price = micros_to_decimal(parse_micros(event.price))
        size = micros_to_decimal(parse_micros(event.size)) if isinstance(event.size, str) and event.size else None
        side = Side(event.side) if event.side in ("BUY", "SELL") else None
        self._events.append(
            TradePrinted(event.asset_id, event.market, price, side, size, parse_timestamp(event.timestamp), received_ns)
        )

    def _feed_flags(self) -> tuple[int, ...]:
        stats = self._feed.stats
        return (
            stats.hash_mismatches,
            stats.invalid_values,
            stats.crossed_books,
            stats.off_tick_books,
            stats.changes_before_snapshot,
            stats.best_price_mismatches,
        )

    def _check_feed_flags(self, now: Instant) -> None:
        """Turn the tokens the feed caught out of sync into snapshot requests.

        The feed's counters only move when it flags something, so one tuple comparison per frame
        is all the healthy path pays.
        """
        marker = self._feed_flags()
        if marker == self._flag_marker:
            return
        reason = _flag_reason(self._flag_marker, marker)
        self._flag_marker = marker
        tokens = self._tokens
        for token_id in list(self._feed.resync_needed):
            record = tokens.get(token_id)
            if record is not None and record.repair == NOT_REPAIRING:
                self._want_snapshot(token_id, record, reason, now)

    # --- snapshots --------------------------------------------------------------------------------

    def request_resync(self, token_ids: Iterable[str], reason: SyncReason, now: Instant) -> None:
        """Mark tokens for a fresh REST snapshot (those already repairing or not tracked are skipped)."""
        for token_id in token_ids:
            record = self._tokens.get(token_id)
            if record is not None and record.repair == NOT_REPAIRING:
                self._want_snapshot(token_id, record, reason, now)

    def expire_waits(self, now: Instant, *, deadline_s: float) -> list[str]:
        """Send tokens SYNCING for longer than ``deadline_s`` on a proven connection without a
        snapshot on the way (their initial dump was lost) to REST; returns them."""
        now_s = now.monotonic_s
        overdue = [
            token_id
            for token_id, record in self._tokens.items()
            if record.state is _SYNCING
            and record.repair == NOT_REPAIRING
            and record.connection in self._proven
            and now_s - record.since_s >= deadline_s
        ]
        self.request_resync(overdue, SyncReason.NO_SNAPSHOT, now)
        return overdue

    def next_snapshot_due_s(self) -> float | None:
        """When the earliest pending token may be requested (monotonic seconds), None if none waits."""
        tokens = self._tokens
        return min((tokens[token_id].not_before_s for token_id in self._pending), default=None)

    def take_snapshot_batch(
        self, now: Instant, limit: int, *, token_ids: Iterable[str] | None = None
    ) -> SnapshotRequest | None:
        """Up to ``limit`` pending tokens whose retry time has come, now in flight (SYNCING, their
        events buffered from here on); None when none is due. ``token_ids`` takes those pending
        tokens instead, whatever their retry time: a replay repeats the batches recorded live."""
        now_s = now.monotonic_s
        tokens = self._tokens
        if token_ids is not None:
            due = [token_id for token_id in dict.fromkeys(token_ids) if token_id in self._pending][:limit]
        else:
            due = []
            for token_id in self._pending:
                if tokens[token_id].not_before_s <= now_s:
                    due.append(token_id)
                    if len(due) >= limit:
                        break
        if not due:
            return None
        fetch_id = self._next_fetch_id
        self._next_fetch_id += 1
        for token_id in due:
            del self._pending[token_id]
            record = tokens[token_id]
            record.repair = IN_FLIGHT
            record.fetch_id = fetch_id
            record.buffer = []
            record.spoiled = False
            self._move(token_id, record, _SYNCING, SyncReason.SNAPSHOT_REQUESTED, now)
        self.stats.snapshot_requests += 1
        return SnapshotRequest(fetch_id, tuple(due))

    def apply_snapshots(self, request: SnapshotRequest, summaries: Iterable[OrderBookSummary], now: Instant) -> None:
        """Apply the answer to ``request``: each token's summary, then its buffered events in order.

        A token that went away, reconnected or was requested again meanwhile is skipped; one the
        answer lacks, whose snapshot is untrusted (hash, crossed), holds a value no venue book holds
        (refused, as :meth:`receive` refuses it; never raised from here) or whose buffer overflowed
        is retried later.
        """
        by_token = {summary.asset_id: summary for summary in summaries}
        feed = self._feed
        for token_id in request.token_ids:
            record = self._tokens.get(token_id)
            if record is None or record.repair != IN_FLIGHT or record.fetch_id != request.fetch_id:
                continue
            buffered = record.buffer or []
            spoiled = record.spoiled
            self._end_repair(token_id, record)
            summary = by_token.get(token_id)
            if summary is None:
                self._failed(token_id, record, SyncReason.SNAPSHOT_FAILED, now)
                continue
            if spoiled:
                self._failed(token_id, record, SyncReason.BUFFER_OVERFLOW, now)
                continue
            flags = self._feed_flags()
            with contextlib.suppress(MalformedMessageError):  # counted by the feed; the token fails below
                feed.apply_book_summary(summary)
            if not feed.is_in_sync(token_id):
                self._flag_marker = self._feed_flags()  # this failure is handled here, not as a new flag
                self._failed(token_id, record, _flag_reason(flags, self._flag_marker), now)
                continue
            record.last_update_s = now.monotonic_s
            if self.emit_events:
                self._events.append(
                    BookUpdated(token_id, summary.market, parse_timestamp(summary.timestamp), now.wall_ns, True)
                )
            self.stats.replayed_events += len(buffered)
            for received_ns, event in buffered:
                self._apply(event, now.monotonic_s, received_ns)
            self._check_feed_flags(now)
            if record.repair == NOT_REPAIRING and feed.is_in_sync(token_id):
                self._settle_live(token_id, record, now)
        # What the replays refused is counted and resyncing; nobody called receive to hear of it.
        self._refused = None

    def snapshots_failed(self, request: SnapshotRequest, now: Instant) -> None:
        """The REST request for ``request`` failed, or its answer could not be used (perhaps after
        part of it was applied): its tokens that are not LIVE are retried after a backoff."""
        for token_id in request.token_ids:
            record = self._tokens.get(token_id)
            if record is not None and record.repair == IN_FLIGHT and record.fetch_id == request.fetch_id:
                self._end_repair(token_id, record)
                self._failed(token_id, record, SyncReason.SNAPSHOT_FAILED, now)
        # A summary that raised part-way left the request without a snapshot: ask again.
        states = self._states
        unsynced = [token_id for token_id in request.token_ids if states.get(token_id) is not _LIVE]
        self.request_resync(unsynced, SyncReason.SNAPSHOT_FAILED, now)

    # --- token watchdog -------------------------------------------------------------------------

    def quiet_tokens(self, now_s: float, *, quiet_for_s: float) -> list[str]:
        """LIVE tokens without any update (or check) for ``quiet_for_s``: worth comparing with REST.

        A market can be quiet for hours; a venue that stopped sending one asset's changes looks
        the same from here (venue notes: Failure modes), and only the venue's REST book tells them apart. Each
        token returned counts as checked now, so it comes back after another quiet period.
        """
        quiet = [
            token_id
            for token_id, record in self._tokens.items()
            if record.state is _LIVE and now_s - max(record.last_update_s, record.checked_s) >= quiet_for_s
        ]
        for token_id in quiet:
            self._tokens[token_id].checked_s = now_s
        return quiet

    def audit(
        self, summaries: Iterable[OrderBookSummary], *, requested_s: float, now: Instant
    ) -> list[tuple[str, BookDiff]]:
        """Compare LIVE books with REST summaries requested at ``requested_s``; resync the ones
        that differ and return them with their differences.

        A book that changed after ``requested_s`` is not judged: the summary and the book then
        describe different moments (the socket and REST race each other).
        """
        stats = self.stats
        differing: list[tuple[str, BookDiff]] = []
        for summary in summaries:
            token_id = summary.asset_id
            record = self._tokens.get(token_id)
            if record is None or record.state is not _LIVE:
                continue
            if record.last_update_s > requested_s:
                stats.audits_inconclusive += 1
                continue
            try:
                diff = diff_book(self._feed.books[token_id], summary)
            except InvalidValueError:
                stats.audits_inconclusive += 1
                continue
            stats.audits += 1
            if not diff.equal:
                stats.audit_mismatches += 1
                differing.append((token_id, diff))
                self._want_snapshot(token_id, record, SyncReason.AUDIT, now)
        return differing

    # --- transitions ----------------------------------------------------------------------------

    def _want_snapshot(self, token_id: str, record: TokenRecord, reason: SyncReason, now: Instant) -> None:
        """Queue a REST snapshot for a token that is not repairing.

        On a connection that has not proven its session the token only turns STALE:
        :meth:`connection_proven` requests it once a snapshot can be trusted to line up with the
        deltas that follow.
        """
        if record.state is _LIVE:
            self._move(token_id, record, _STALE, reason, now)
        if record.connection not in self._proven:
            return
        if reason is not SyncReason.SUBSCRIBED:
            counts = self.stats.resyncs_by_reason
            counts[reason.value] = counts.get(reason.value, 0) + 1
        record.repair = PENDING
        record.not_before_s = now.monotonic_s
        self._pending[token_id] = None

    def _failed(self, token_id: str, record: TokenRecord, reason: SyncReason, now: Instant) -> None:
        """A snapshot attempt failed: STALE, and pending again after the retry delay."""
        self.stats.snapshot_failures += 1
        self._move(token_id, record, _STALE, reason, now)
        self._want_snapshot(token_id, record, reason, now)
        if record.repair == PENDING:
            record.not_before_s = now.monotonic_s + backoff_delay_s(
                record.failures, initial_s=self._retry_initial_s, max_s=self._retry_max_s, jitter=self._random()
            )
        record.failures += 1

    def _end_repair(self, token_id: str, record: TokenRecord) -> None:
        if record.repair == PENDING:
            del self._pending[token_id]
        elif record.repair == IN_FLIGHT:
            record.buffer = None
        record.repair = NOT_REPAIRING

    def _settle_live(self, token_id: str, record: TokenRecord, now: Instant) -> None:
        """A trusted snapshot (and everything after it) is in the book."""
        self._end_repair(token_id, record)
        record.failures = 0
        record.last_update_s = now.monotonic_s
        self._move(token_id, record, _LIVE, SyncReason.SNAPSHOT, now)

    def _move(self, token_id: str, record: TokenRecord, new: SyncState, reason: SyncReason, now: Instant) -> None:
        old = record.state
        if old is new:
            return
        record.state = new
        record.since_s = now.monotonic_s
        self._states[token_id] = new
        if old is _LIVE:
            self._not_live += 1
        elif new is _LIVE:
            self._not_live -= 1
        if self.emit_events:
            self._events.append(SyncStateChanged(token_id, old, new, reason, now.wall_ns))


def _flag_reason(before: tuple[int, ...], after: tuple[int, ...]) -> SyncReason:
    """Why the feed flagged tokens between two readings of ``BookSync._feed_flags`` (which counter moved)."""
    return next(
        (reason for reason, earlier, later in zip(_FEED_FLAG_REASONS, before, after, strict=True) if later != earlier),
        SyncReason.SNAPSHOT_FAILED,
    )
