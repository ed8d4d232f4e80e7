"""``book_at``: one token's book as it stood at a moment of a recording, replayed from the nearest
checkpoint at or before that moment rather than from the beginning of the tape.

The checkpoint's levels are restored and the records after it replayed through
:class:`~polyinfra.record.replay.Replay`, so the book is the one a full replay reaches at the same
moment. Like a replay's time window, this relies on the recorder's wall clock not stepping back
between the checkpoint and ``t_wall_ns``.

What a checkpoint does not carry: REST snapshot requests still outstanding when it was taken. They
cannot hold the token's repair (it was LIVE), and their answers change nothing for it afterwards,
except in one case: the token unsubscribed and subscribed again before such a request failed
(then a full replay asks REST for it again where this waits for the socket's snapshot).

A US exchange symbol (``source="us"``) has no checkpoints: every US update is the symbol's whole book,
so its book at a moment is its last update by then, and the tape is replayed up to the moment through
:class:`~polyinfra.record.us_replay.UsReplay` decoding that symbol's updates alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from polyinfra.errors import CorruptRecordError, InvalidValueError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState
from polyinfra.record.book_checkpoint import FrameRef, decode_checkpoint
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.replay import Replay, ResumePoint
from polyinfra.record.sink import Sink
from polyinfra.record.us_replay import US_SOURCE, UsReplay

__all__ = ["BookAt", "book_at"]

_SOURCE: Final = "clob"
_CHANNEL: Final = "market"
_CHECKPOINTS: Final = frozenset({RecordKind.CHECKPOINT})
_FRAMES: Final = frozenset({RecordKind.FRAME_RECEIVED})


@dataclass(frozen=True, slots=True)
class BookAt:
    """A token's book at a moment, and how it was reached."""

    book: OrderBook | None
    """None when the token had no book then (not subscribed)."""
    state: SyncState | None
    checkpoint_event_id: str | None
    """The checkpoint the replay started from; None: from the beginning of the tape."""
    records_read: int
    """Records read to get here: the checkpoints searched, the resumed frame and the records replayed."""


async def book_at(sink: Sink, token_id: str, t_wall_ns: int, *, source: str = _SOURCE) -> BookAt:
    """``token_id``'s book after every record of ``sink`` received at or before ``t_wall_ns``;
    ``source`` ``us`` for a US exchange symbol."""
    end_ns = t_wall_ns + 1
    if source == US_SOURCE:
        us_replay = UsReplay(sink, end_wall_ns=end_ns, keys=[token_id])
        us_stats = await us_replay.run()
        return BookAt(us_replay.books.get(token_id), us_replay.states.get(token_id), None, us_stats.records)
    if source != _SOURCE:
        raise InvalidValueError("no such source: clob or us", source=source[:40])
    nearest: Record | None = None
    records_read = 0
    async for record in sink.read(end_wall_ns=end_ns, kinds=_CHECKPOINTS):
        records_read += 1
        if record.key == token_id and record.source == _SOURCE and record.channel == _CHANNEL:
            nearest = record
    resume = None
    if nearest is not None:
        checkpoint = decode_checkpoint(nearest)
        last_frame = None
        if checkpoint.last_frame is not None:
            frame, frames_read = await _frame(sink, checkpoint.last_frame, nearest)
            last_frame = frame.payload
            records_read += frames_read
        resume = ResumePoint(nearest, checkpoint, last_frame)
    replay = Replay(sink, end_wall_ns=end_ns, keys=[token_id], resume=resume)
    stats = await replay.run()
    return BookAt(
        book=replay.books.get(token_id),
        state=replay.states.get(token_id),
        checkpoint_event_id=None if nearest is None else nearest.event_id,
        records_read=records_read + stats.records,
    )


async def _frame(sink: Sink, ref: FrameRef, checkpoint: Record) -> tuple[Record, int]:
    """The frame ``ref`` names (the frames of its receive time are read), and how many were read."""
    read = 0
    async for record in sink.read(start_wall_ns=ref.recv_wall_ns, end_wall_ns=ref.recv_wall_ns + 1, kinds=_FRAMES):
        read += 1
        if record.event_id == ref.event_id:
            return record, read
    raise CorruptRecordError(
        "a checkpoint names a frame the recording does not hold", event_id=checkpoint.event_id, frame=ref.event_id
    )
