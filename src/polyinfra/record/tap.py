"""The tap: how a live client hands what it sees on one (source, channel) to the recorder.

``recorder.tap("clob", "market")`` gives a :class:`ChannelTap`; the client calls it from its
socket reader. Every call is a few attribute reads, two clock reads and an append to the
recorder's bounded queue: it never waits. When the queue is full the record is dropped, counted,
and the run of drops becomes one :attr:`~polyinfra.record.records.RecordKind.GAP` record
(reason ``queue overflow``) the moment there is room again, so a loss is never silent.

Sent frames go through the recorder's redaction hook before they are queued: a frame that
carries credentials (the user channel's subscribe holds the API key, secret and passphrase) must
never reach storage in clear. The market channel sends none, but the hook applies to every sent
frame all the same, so a channel tapped later cannot forget it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

import msgspec

from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent, SyncStateChanged
from polyinfra.record.book_checkpoint import FrameRef, checkpoint_of, encode_checkpoint
from polyinfra.record.records import NO_CONNECTION, Record, RecordKind

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder

__all__ = ["QUEUE_OVERFLOW", "ChannelTap", "encode_details", "frame_bytes"]

QUEUE_OVERFLOW: Final = "queue overflow"
"""The reason of the gap a full recorder queue leaves."""

encode_details: Final = msgspec.json.Encoder().encode
"""How lifecycle and gap details are stored: compact JSON."""


class ChannelTap:
    """Records of one (source, channel) into a :class:`~polyinfra.record.recorder.Recorder`.

    ``connection`` arguments are the client's own small connection ids (``NO_CONNECTION`` for
    what belongs to no socket); each connection numbers its records from 0, which makes the
    ``event_id``. The venue's timestamp of a message is the client's to give: it has decoded
    the message anyway, and reading it here would parse every frame twice.
    """

    __slots__ = (
        "_dropped",
        "_dropped_from_wall_ns",
        "_id_prefix",
        "_indexes",
        "_last_frames",
        "_next_checkpoint_ns",
        "_recorder",
        "channel",
        "checkpoints",
        "dropped",
        "gaps",
        "source",
    )

    def __init__(self, recorder: Recorder, source: str, channel: str) -> None:
        self._recorder = recorder
        self.source = source
        self.channel = channel
        self._indexes: dict[int, int] = {}
        # The last frame stored per connection, for checkpoints (see book_checkpoint).
        self._last_frames: dict[int, Record] = {}
        # The source and channel join the connection number: two taps of one session never share an id.
        self._id_prefix = f"{recorder.session_id}:{source}.{channel}."
        self._dropped = 0
        """Records dropped since the last gap record was queued."""
        self._dropped_from_wall_ns = 0
        self._next_checkpoint_ns = 0
        self.dropped = 0
        """Records dropped by a full queue since the tap was made."""
        self.gaps = 0
        """Runs of dropped records (each is one GAP record once the queue has room again)."""
        self.checkpoints = 0
        """Book checkpoints taken since the tap was made."""

    # --- what the clients call -----------------------------------------------------------------

    def frame_received(
        self, connection: int, frame: bytes | str, *, venue_ts_ms: int | None = None, key: str = ""
    ) -> None:
        """A data frame as received on ``connection``; ``venue_ts_ms`` is the venue's time in it, if any."""
        stored = self._put(RecordKind.FRAME_RECEIVED, connection, key, frame_bytes(frame), venue_ts_ms)
        if stored is None:
            self._last_frames.pop(connection, None)
        else:
            self._last_frames[connection] = stored

    def frame_sent(self, connection: int, frame: bytes | str, *, key: str = "") -> None:
        """A frame sent on ``connection``, stored after the recorder's redaction hook."""
        self._put(RecordKind.FRAME_SENT, connection, key, self._recorder.redact_sent(frame_bytes(frame)), None)

    def rest_response(self, fetch_id: int, body: bytes, *, venue_ts_ms: int | None) -> None:
        """The answer to the REST snapshot request ``fetch_id`` that a book sync used."""
        self._put(RecordKind.REST_RESPONSE, NO_CONNECTION, str(fetch_id), body, venue_ts_ms)

    def lifecycle(self, kind: RecordKind, connection: int, *, key: str = "", **details: object) -> None:
        """A lifecycle record; ``details`` become its JSON payload."""
        self._put(kind, connection, key, encode_details(details), None)

    def tokens(
        self, kind: RecordKind, connection: int, token_ids: Iterable[str], *, key: str = "", reason: str | None = None
    ) -> None:
        """A lifecycle record about a list of tokens (and why, when it says)."""
        if reason is None:
            self.lifecycle(kind, connection, key=key, token_ids=list(token_ids))
        else:
            self.lifecycle(kind, connection, key=key, token_ids=list(token_ids), reason=reason)

    def sync_events(self, events: Iterable[BookEvent]) -> None:
        """The sync-state changes among a client's domain events: the stale windows of the manifest."""
        for event in events:
            if type(event) is SyncStateChanged:
                self.lifecycle(
                    RecordKind.STATE_CHANGED, NO_CONNECTION, key=event.token_id, state=event.new, reason=event.reason
                )

    def checkpoint_due(self) -> bool:
        """Whether the recorder's checkpoint interval has passed since this tap's last checkpoints."""
        now_ns = self._recorder.monotonic_ns()
        if now_ns < self._next_checkpoint_ns:
            return False
        self._next_checkpoint_ns = now_ns + self._recorder.checkpoint_interval_ns
        return True

    def checkpoint(self, token_id: str, book: OrderBook, connection: int) -> None:
        """``book`` as the client holds it now, for the token on ``connection``: its levels and
        their digest (replay compares its own book; ``book_at`` starts from it)."""
        self.checkpoints += 1
        last = self._last_frames.get(connection)
        last_frame = None if last is None else FrameRef(last.event_id, last.recv_wall_ns)
        payload = encode_checkpoint(checkpoint_of(book, connection, last_frame))
        self._put(RecordKind.CHECKPOINT, NO_CONNECTION, token_id, payload, None)

    # --- the queue -------------------------------------------------------------------------------

    def _put(
        self, kind: RecordKind, connection: int, key: str, payload: bytes, venue_ts_ms: int | None
    ) -> Record | None:
        """Queue a record; returns it, or None when a full queue dropped it."""
        recorder = self._recorder
        wall_ns = recorder.wall_ns()
        # A gap record goes in ahead of the first record after a run of drops: room for both.
        if len(recorder.queue) + (2 if self._dropped else 1) > recorder.queue_size:
            if not self._dropped:
                self._dropped_from_wall_ns = wall_ns
                self.gaps += 1
            self._dropped += 1
            self.dropped += 1
            recorder.count_drop(self)
            return None
        if self._dropped:
            gap = {
                "reason": QUEUE_OVERFLOW,
                "dropped": self._dropped,
                "from_wall_ns": self._dropped_from_wall_ns,
                "to_wall_ns": wall_ns,
            }
            self._dropped = 0
            self._put(RecordKind.GAP, NO_CONNECTION, "", encode_details(gap), None)
        indexes = self._indexes
        index = indexes.get(connection, 0)
        indexes[connection] = index + 1
        record = Record(
            f"{self._id_prefix}{connection}:{index}",
            recorder.session_id,
            self.source,
            self.channel,
            key,
            kind,
            wall_ns,
            recorder.monotonic_ns(),
            venue_ts_ms,
            payload,
        )
        recorder.enqueue(record)
        return record


def frame_bytes(frame: bytes | str) -> bytes:
    """A frame as the bytes a record stores."""
    # surrogatepass: a str the reader was handed is stored whatever it holds, never an exception
    # on the reader; replay's decoder judges it.
    return frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
