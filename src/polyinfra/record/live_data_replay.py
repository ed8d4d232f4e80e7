"""What the replays of live-data tapes share (RTDS: :mod:`polyinfra.record.rtds_replay`, PolyBolt:
:mod:`polyinfra.record.polybolt_replay`): reading one source's records in written order, turning its
``gap`` records back into the :class:`~polyinfra.model.live_events.Gap` events live delivered, the
filters and the pacing.

A live-data transport records a gap as it delivers it, and a data frame after the gaps it closed or
revealed, so the tape's order is the order the consumer got its events in. Each transport turns its own
frames back into events (:meth:`LiveDataReplay._replay`) through the same feed as live; this class hands
on what they make:

* ``gap`` records of the source become :class:`~polyinfra.model.live_events.Gap` events (the recorder's
  own gaps, a full queue's, too: the tape cannot vouch for the stream there either);
* ``topics`` and ``keys`` only limit what is yielded: every frame goes through the feed, whose duplicate
  checks must see what live saw; ``end_wall_ns`` stops reading, ``start_wall_ns`` starts yielding;
* ``connections`` selects one client's records when several clients of the source recorded into one
  recorder (two :class:`~polyinfra.live.live_data.LiveData`, say): the recorder gives each client
  connection numbers of its own (the transport's ``recorded_connections``), and gaps are recorded under
  the connection they were seen on. The recorder's own gaps (a full queue's, under no connection) concern
  every client and are kept; so are those of tapes written before gaps named a connection;
* ``speed`` paces the records that yield at that multiple of the recorded pace
  (:class:`~polyinfra.record.pacing.Pacer`, against an injected clock and sleep).

Each recording session starts from new feeds, and each recorded connection has its own: two clients'
frames never meet in one feed's duplicate checks, selected or not. Stored rows
are hostile input like any: a record the live client cannot have written ends as a
:class:`~polyinfra.errors.CorruptRecordError`, a frame the feed refuses is counted as malformed (live
refused it too); nothing else escapes.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import ClassVar, Final

import msgspec

from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick, topic_of
from polyinfra.record.pacing import Pacer
from polyinfra.record.records import NO_CONNECTION, Record, RecordKind, connection_number, decode_stored
from polyinfra.record.sink import Sink
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["LiveDataReplay", "LiveDataReplayStats", "event_key"]

_NS_PER_MS: Final = 1_000_000


class _GapDetails(msgspec.Struct):
    """The fields of a ``gap`` record's payload (:attr:`~polyinfra.record.records.RecordKind.GAP`)."""

    reason: str
    from_wall_ns: int
    to_wall_ns: int


_decode_gap: Final[JsonDecoder[_GapDetails]] = JsonDecoder(_GapDetails, what="recorded live-data gap")


@dataclass(slots=True)
class LiveDataReplayStats:
    """What a live-data replay went through."""

    records: int = 0
    """Records of the source read."""
    frames: int = 0
    malformed_frames: int = 0
    """Frames the feed refused (live refused them too)."""
    events: int = 0
    """Events yielded, gaps included."""
    gaps: int = 0
    """Of those, the gaps."""


def event_key(event: LiveEvent) -> str | None:
    """What ``keys`` selects an event by: a price's symbol (or asset id), a trade's wallet, a comment's
    entity id; None for a gap, which concerns every key of its topic."""
    if isinstance(event, PriceTick):
        return event.symbol
    if isinstance(event, ActivityTrade):
        return event.wallet
    if isinstance(event, CommentEvent):
        return "" if event.parent_entity_id is None else str(event.parent_entity_id)
    return None


class LiveDataReplay(ABC):
    """A live-data tape in ``sink`` replayed: ``async for event in replay`` yields the events the live
    transport of :attr:`source` delivered, gaps included, in order (:meth:`steps`: with the record each
    came from); then read :attr:`stats`.

    ``topics`` and ``keys`` (see :func:`event_key`; any case) limit the events yielded (None: all);
    records are read up to ``end_wall_ns`` and events yielded from ``start_wall_ns``. ``connections`` (None:
    every one) limits them to one client's recorded connections (its transport's ``recorded_connections``,
    e.g. ``live.rtds.recorded_connections``). ``speed`` (None: as
    fast as possible) paces them at that multiple of the recorded pace against ``clock`` (seconds) and
    ``sleep``, injected so that tests never wait.
    """

    source: ClassVar[str]
    """The recorded source replayed."""
    _kinds: ClassVar[frozenset[RecordKind]]
    """The record kinds the transport's replay reads besides ``gap``."""

    def __init__(
        self,
        sink: Sink,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        topics: Collection[str] | None = None,
        keys: Collection[str] | None = None,
        connections: Collection[int] | None = None,
        speed: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pace = None if speed is None else Pacer(speed, clock=clock, sleep=sleep)
        self._sink = sink
        self._start_wall_ns = start_wall_ns
        self._end_wall_ns = end_wall_ns
        self._topics = None if topics is None else frozenset(topics)
        self._keys = None if keys is None else frozenset(key.lower() for key in keys)
        self._connections = None if connections is None else frozenset(connections)
        self._session_id: str | None = None
        self.stats = LiveDataReplayStats()

    async def __aiter__(self) -> AsyncIterator[LiveEvent]:
        async for _, events in self.steps():
            for event in events:
                yield event

    async def steps(self) -> AsyncIterator[tuple[Record, list[LiveEvent]]]:
        """The replay record by record: each record that yields events, with them (in order). Each
        iteration replays the tape from its start, with new feeds and counts."""
        self._session_id = None
        stats = self.stats = LiveDataReplayStats()
        start_ns = self._start_wall_ns
        pace = self._pace
        if pace is not None:
            pace.restart()
        kinds = self._kinds | {RecordKind.GAP}
        async for chunk in self._sink.read_chunks(end_wall_ns=self._end_wall_ns, kinds=kinds):
            for record in chunk:
                if record.source != self.source:
                    continue
                if record.session_id != self._session_id:
                    self._session_id = record.session_id
                    self._new_session()
                connection = connection_number(record.event_id)
                is_gap = record.kind is RecordKind.GAP
                if not self._selected(connection, is_gap):
                    continue
                stats.records += 1
                events = [_gap(record)] if is_gap else self._replay(record, connection)
                if not events or (start_ns is not None and record.recv_wall_ns < start_ns):
                    continue
                wanted = [event for event in events if self._wanted(event)]
                if not wanted:
                    continue
                if pace is not None:
                    await pace.wait_for(record)
                stats.events += len(wanted)
                stats.gaps += sum(isinstance(event, Gap) for event in wanted)
                yield record, wanted

    async def events(self) -> list[LiveEvent]:
        """Every event of the replay, at once."""
        return [event async for event in self]

    @abstractmethod
    def _new_session(self) -> None:
        """A new recording session starts: new feeds and subscriptions."""

    @abstractmethod
    def _replay(self, record: Record, connection: int) -> list[LiveEvent]:
        """The events live delivered because of ``record`` (one of :attr:`_kinds`, of :attr:`source`),
        recorded on ``connection``."""

    def _selected(self, connection: int, is_gap: bool) -> bool:
        """Whether a record on ``connection`` belongs to the clients replayed; a gap under no connection
        concerns them all (see the module's text)."""
        chosen = self._connections
        return chosen is None or connection in chosen or (is_gap and connection == NO_CONNECTION)

    def _wanted(self, event: LiveEvent) -> bool:
        if self._topics is not None and topic_of(event) not in self._topics:
            return False
        if self._keys is None:
            return True
        key = event_key(event)
        return key is None or key.lower() in self._keys


def _gap(record: Record) -> Gap:
    """The gap a ``gap`` record tells, as live delivered it (the record's channel is the topic)."""
    details = decode_stored(_decode_gap, record, "a recorded live-data gap does not decode")
    return Gap(
        record.source,
        record.channel,
        details.from_wall_ns // _NS_PER_MS,
        details.to_wall_ns // _NS_PER_MS,
        details.reason,
    )
