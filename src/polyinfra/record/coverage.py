"""The coverage manifest: for each (source, channel, key), when the recording vouches for the key's
data and why it does not elsewhere. Gaps are data.

The manifest is a fold over the recording's own records, so it can never disagree with them:

* a token is **covered** while its book was LIVE (a ``state changed`` record to ``live``), and
  the recording proves the recorder was alive: an interval ends at the last record of the session
  that recorded it (after a crash, coverage stops at the last record that was stored, never
  later). Sessions may interleave (a recorder fleet's processes write side by side): each key
  follows the session that last spoke of it, and a key another session takes up ends the old
  session's interval at that session's last record so far;
* the user channel (``clob``/``user``) keys its coverage by subscribed market (condition id;
  empty when it subscribes to every market): covered from a session's reconciliation until its
  socket closes, through the same records;
* a **gap** opens when it leaves LIVE, with the client's reason (``reconnect``, ``hash
  mismatch``, ``silence``, ...), or when it is subscribed (``subscribed``: waiting for its first
  snapshot), and closes when it is LIVE again;
* a ``gap`` record (``queue overflow``) applies to every key of its source and channel, or only to
  the keys its ``token_ids`` name (``lease takeover``: a fleet shard's tokens), and is taken out
  of the covered intervals. A takeover's gap starts at the old holder's acknowledged watermark,
  so it also proves the old holder's session alive until then;
* any other part of a query window is a gap with reason ``not recorded``.

All times are wall-clock ns (``recv_wall_ns``), the scale users ask about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import msgspec

from polyinfra.errors import CorruptRecordError, MalformedMessageError
from polyinfra.model.events import SyncState
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sink import Sink
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "MANIFEST_KINDS",
    "NOT_RECORDED",
    "Coverage",
    "CoverageManifest",
    "Gap",
    "Interval",
    "RecordedSpan",
    "read_manifest",
]

NOT_RECORDED: Final = "not recorded"
"""The reason of a window's parts that no record speaks for."""
MANIFEST_KINDS: Final = frozenset(
    {
        RecordKind.STATE_CHANGED,
        RecordKind.SUBSCRIBED,
        RecordKind.UNSUBSCRIBED,
        RecordKind.GAP,
        RecordKind.CLOCK_SAMPLE,
        RecordKind.CHECKPOINT,
    }
)
"""The kinds the manifest needs: reading only these skips the frames (clock samples and
checkpoints still show the recorder alive, to within their interval)."""
_SUBSCRIBED: Final = "subscribed"
_LIVE: Final = SyncState.LIVE.value


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start_wall_ns, end_wall_ns)``."""

    start_wall_ns: int
    end_wall_ns: int


@dataclass(frozen=True, slots=True)
class Gap:
    """An interval the recording does not vouch for, and why."""

    start_wall_ns: int
    end_wall_ns: int
    reason: str


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the manifest says about one key in one window: covered intervals and gaps, in time order."""

    source: str
    channel: str
    key: str
    covered: list[Interval]
    gaps: list[Gap]


class _Details(msgspec.Struct):
    state: str = ""
    reason: str = ""
    token_ids: list[str] = []
    from_wall_ns: int = 0
    to_wall_ns: int = 0


_decode_details: Final[JsonDecoder[_Details]] = JsonDecoder(_Details, what="recorded lifecycle record")


@dataclass(slots=True)
class _KeyHistory:
    covered: list[Interval] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    live_since_ns: int | None = None
    gap_since: tuple[int, str] | None = None
    session_id: str | None = None
    """The session whose records opened the interval or gap still open."""
    gap_records: list[Gap] = field(default_factory=list)
    """Gap records naming this key (taken out of the covered intervals like channel gaps)."""


class CoverageManifest:
    """Built from records in written order (:meth:`add`, then :meth:`finish`); answers :meth:`coverage`."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str, str], _KeyHistory] = {}
        self._channel_gaps: dict[tuple[str, str], list[Gap]] = {}
        self._session_last_ns: dict[str, int] = {}

    @classmethod
    def of(cls, records: Iterable[Record]) -> CoverageManifest:
        manifest = cls()
        for record in records:
            manifest.add(record)
        manifest.finish()
        return manifest

    def add(self, record: Record) -> None:
        """Take one record into account (any kind: each proves the recorder was alive)."""
        session = record.session_id
        now_ns = record.recv_wall_ns
        self._session_last_ns[session] = max(self._session_last_ns.get(session, now_ns), now_ns)
        kind = record.kind
        if kind is RecordKind.STATE_CHANGED:
            details = _details(record)
            history = self._history(record.source, record.channel, record.key, session)
            if details.state == _LIVE:
                _close_gap(history, now_ns)
                if history.live_since_ns is None:
                    history.live_since_ns = now_ns
            else:
                _close_live(history, now_ns)
                if history.gap_since is None:
                    history.gap_since = (now_ns, details.reason)
        elif kind is RecordKind.SUBSCRIBED:
            for token in _details(record).token_ids:
                history = self._history(record.source, record.channel, token, session)
                if history.live_since_ns is None and history.gap_since is None:
                    history.gap_since = (now_ns, _SUBSCRIBED)
        elif kind is RecordKind.UNSUBSCRIBED:
            for token in _details(record).token_ids:
                history = self._history(record.source, record.channel, token, session)
                _close_live(history, now_ns)
                _close_gap(history, now_ns)
        elif kind is RecordKind.GAP:
            details = _details(record)
            gap = Gap(details.from_wall_ns, details.to_wall_ns, details.reason)
            if details.token_ids:
                for token in details.token_ids:
                    history = self._keys.setdefault((record.source, record.channel, token), _KeyHistory())
                    history.gap_records.append(gap)
                    if history.session_id is not None and history.session_id != session:
                        # A takeover's gap starts where the old holder's writes were acknowledged
                        # up to: its session was alive until then, lifecycle record or not.
                        last_ns = self._session_last_ns[history.session_id]
                        self._session_last_ns[history.session_id] = max(last_ns, gap.start_wall_ns)
            else:
                self._channel_gaps.setdefault((record.source, record.channel), []).append(gap)

    def finish(self) -> None:
        """The recording ends here: open intervals end at the last record of their session."""
        for history in self._keys.values():
            self._end_session_of(history)

    def channels(self) -> list[tuple[str, str]]:
        """Every (source, channel) the manifest has keys of, in the order first seen."""
        return list(dict.fromkeys((source, channel) for (source, channel, _) in self._keys))

    def keys_of(self, source: str, channel: str) -> list[str]:
        """Every key of ``source`` and ``channel`` the manifest knows."""
        return [key for (key_source, key_channel, key) in self._keys if (key_source, key_channel) == (source, channel)]

    def coverage(
        self, key: str, start_wall_ns: int, end_wall_ns: int, *, source: str = "clob", channel: str = "market"
    ) -> Coverage:
        """Covered intervals and gaps of ``key`` inside ``[start_wall_ns, end_wall_ns)``."""
        history = self._keys.get((source, channel, key), _KeyHistory())
        channel_gaps = [
            gap
            for gap in [*self._channel_gaps.get((source, channel), []), *history.gap_records]
            if gap.start_wall_ns < end_wall_ns and gap.end_wall_ns > start_wall_ns
        ]
        covered: list[Interval] = []
        for interval in history.covered:
            covered.extend(_minus(_clip(interval, start_wall_ns, end_wall_ns), channel_gaps))
        gaps = [_clip_gap(gap, start_wall_ns, end_wall_ns) for gap in [*history.gaps, *channel_gaps]]
        gaps = [gap for gap in gaps if gap.start_wall_ns < gap.end_wall_ns]
        explained = sorted(
            [(i.start_wall_ns, i.end_wall_ns) for i in covered] + [(g.start_wall_ns, g.end_wall_ns) for g in gaps]
        )
        cursor = start_wall_ns
        for start_ns, end_ns in explained:
            if start_ns > cursor:
                gaps.append(Gap(cursor, start_ns, NOT_RECORDED))
            cursor = max(cursor, end_ns)
        if cursor < end_wall_ns:
            gaps.append(Gap(cursor, end_wall_ns, NOT_RECORDED))
        gaps.sort(key=lambda gap: (gap.start_wall_ns, gap.end_wall_ns))
        return Coverage(source, channel, key, covered, gaps)

    def _history(self, source: str, channel: str, key: str, session: str) -> _KeyHistory:
        """The key's history, taken up by ``session`` (what another session left open ends first)."""
        history = self._keys.setdefault((source, channel, key), _KeyHistory())
        if history.session_id != session:
            self._end_session_of(history)
            history.session_id = session
        return history

    def _end_session_of(self, history: _KeyHistory) -> None:
        if history.session_id is not None:
            last_ns = self._session_last_ns[history.session_id]
            _close_live(history, last_ns)
            _close_gap(history, last_ns)


@dataclass(frozen=True, slots=True)
class RecordedSpan:
    """A recording's manifest and the receive times of its first and last records (None: empty)."""

    manifest: CoverageManifest
    first_wall_ns: int | None
    last_wall_ns: int


async def read_manifest(sink: Sink) -> RecordedSpan:
    """The manifest of the recording in ``sink``, read from the kinds it needs only."""
    manifest = CoverageManifest()
    first_ns, last_ns = None, 0
    async for stored in sink.read(kinds=MANIFEST_KINDS):
        manifest.add(stored)
        first_ns = stored.recv_wall_ns if first_ns is None else first_ns
        last_ns = max(last_ns, stored.recv_wall_ns)
    manifest.finish()
    return RecordedSpan(manifest, first_ns, last_ns)


def _details(record: Record) -> _Details:
    try:
        return _decode_details.decode(record.payload)
    except MalformedMessageError as exc:
        raise CorruptRecordError("a recorded lifecycle record does not decode", event_id=record.event_id) from exc


def _close_live(history: _KeyHistory, now_ns: int) -> None:
    if history.live_since_ns is not None:
        if now_ns > history.live_since_ns:
            history.covered.append(Interval(history.live_since_ns, now_ns))
        history.live_since_ns = None


def _close_gap(history: _KeyHistory, now_ns: int) -> None:
    if history.gap_since is not None:
        since_ns, reason = history.gap_since
        if now_ns > since_ns:
            history.gaps.append(Gap(since_ns, now_ns, reason))
        history.gap_since = None


def _clip(interval: Interval, start_ns: int, end_ns: int) -> Interval:
    return Interval(max(interval.start_wall_ns, start_ns), min(interval.end_wall_ns, end_ns))


def _clip_gap(gap: Gap, start_ns: int, end_ns: int) -> Gap:
    return Gap(max(gap.start_wall_ns, start_ns), min(gap.end_wall_ns, end_ns), gap.reason)


def _minus(interval: Interval, gaps: list[Gap]) -> list[Interval]:
    """``interval`` without the parts ``gaps`` cover (empty pieces dropped)."""
    pieces = [interval]
    for gap in gaps:
        next_pieces: list[Interval] = []
        for piece in pieces:
            if gap.start_wall_ns > piece.start_wall_ns:
                next_pieces.append(Interval(piece.start_wall_ns, min(piece.end_wall_ns, gap.start_wall_ns)))
            if gap.end_wall_ns < piece.end_wall_ns:
                next_pieces.append(Interval(max(piece.start_wall_ns, gap.end_wall_ns), piece.end_wall_ns))
        pieces = next_pieces
    return [piece for piece in pieces if piece.start_wall_ns < piece.end_wall_ns]
