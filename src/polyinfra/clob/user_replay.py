"""User-channel replay: a recorded :class:`~polyinfra.clob.user_channel.UserChannel` session fed
again through the channel's own parsers and state, yielding the events it delivered.

:class:`UserReplay` reads the ``clob``/``user`` records of a recording in written order and does
with each what the live channel did when it was recorded:

* a received frame goes through the same :class:`~polyinfra.wire.clob_user.UserFrameDecoder`
  and conversion; one that does not decode or convert is counted as malformed (live reconciled
  after it, and that reconciliation is on the tape too);
* a reconciliation's REST answers (the ``rest response`` record after its ``resync requested``)
  become events through the same :func:`~polyinfra.clob.user_reconciliation.reconciliation_events`;
* the subscribed markets follow the lifecycle records (``connected``/``reconnected`` carry the
  whole set, ``subscribed``/``unsubscribed`` the changes; ``""`` is every market);
* every event is offered to the same :class:`~polyinfra.core.user_event_tracker.UserEventTracker`
  with the markets subscribed then, and only what it finds new is yielded: the duplicates, late
  socket messages and REST rows live skipped are skipped again.

The live channel builds a reconciliation's events right before it records their answers and
offers them, so the tracker stands in replay as it stood live. Each recording session starts
from a new tracker (a recording session is one client's run).

What differs from the live events, by construction: ``received_ns`` is the record's receive time
(the live client read its clock a moment before the recorder did), and a maker's ``owner`` that
was the user's API key reads ``[REDACTED]`` (the key is masked on the tape). Not replayed:
anything the tape cannot show, such as events a full consumer queue dropped live (the tape holds
what the channel delivered, not what a consumer kept), and the few events of a market delivered
or skipped while a subscription change was being sent (the change is recorded once sent).

This module sits with the channel, not in ``polyinfra.record``: it uses the channel's parsers, and
the recorder's modules never import a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import msgspec

from polyinfra.clob.user_events import user_event_from_wire
from polyinfra.clob.user_reconciliation import ReconciliationAnswers, reconciliation_events
from polyinfra.core.user_event_tracker import UserEventTracker
from polyinfra.errors import CorruptRecordError
from polyinfra.model.trading_events import UserChannelEvent
from polyinfra.record.records import Record, RecordKind, decode_stored
from polyinfra.record.sink import Sink
from polyinfra.wire.clob_user import UserFrameDecoder
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["UserReplay", "UserReplayStats"]

_USER_CHANNEL: Final = ("clob", "user")
_EVERY_MARKET: Final = ""
_REPLAYED_KINDS: Final = frozenset(
    {
        RecordKind.FRAME_RECEIVED,
        RecordKind.REST_RESPONSE,
        RecordKind.CONNECTED,
        RecordKind.RECONNECTED,
        RecordKind.SUBSCRIBED,
        RecordKind.UNSUBSCRIBED,
    }
)


class _Markets(msgspec.Struct):
    """The field of the lifecycle payloads the replay reads (see :class:`RecordKind`)."""

    token_ids: list[str] = []


_decode_markets: Final[JsonDecoder[_Markets]] = JsonDecoder(_Markets, what="recorded user lifecycle record")
_decode_answers: Final[JsonDecoder[ReconciliationAnswers]] = JsonDecoder(
    ReconciliationAnswers, what="recorded user reconciliation answers"
)


@dataclass(slots=True)
class UserReplayStats:
    """What a user-channel replay went through."""

    records: int = 0
    frames: int = 0
    malformed_frames: int = 0
    """Frames that did not decode or convert (live refused them too)."""
    reconciliations: int = 0
    """Reconciliations whose answers were replayed."""
    events: int = 0
    """Events yielded."""
    reconciled_events: int = 0
    """Of those, the ones a reconciliation told (``reconciled``)."""
    duplicates_skipped: int = 0
    unsubscribed_skipped: int = 0


class UserReplay:
    """The user channel recorded in ``sink`` replayed: ``async for event in UserReplay(sink)``
    yields the events the live channel delivered, in order; then read :attr:`stats`.
    ``tracked_limit`` must be the live channel's (the tracker forgets beyond it)."""

    def __init__(self, sink: Sink, *, tracked_limit: int = 100_000) -> None:
        self._sink = sink
        self._tracked_limit = tracked_limit
        self._session_id: str | None = None
        self._tracker = UserEventTracker(tracked_limit)
        self._decoder = UserFrameDecoder()
        self._markets: dict[str, None] = {}
        self.stats = UserReplayStats()

    async def __aiter__(self) -> AsyncIterator[UserChannelEvent]:
        async for chunk in self._sink.read_chunks(kinds=_REPLAYED_KINDS, source_channel=_USER_CHANNEL):
            for record in chunk:
                for event in self._replay(record):
                    yield event

    def _replay(self, record: Record) -> list[UserChannelEvent]:
        """The events the live channel delivered because of ``record``."""
        if record.session_id != self._session_id:
            self._session_id = record.session_id
            self._tracker = UserEventTracker(self._tracked_limit)
            self._decoder = UserFrameDecoder()
            self._markets.clear()
        stats = self.stats
        stats.records += 1
        kind = record.kind
        if kind is RecordKind.FRAME_RECEIVED:
            stats.frames += 1
            try:
                messages = self._decoder.decode(record.payload)
                events = [user_event_from_wire(message, received_ns=record.recv_wall_ns) for message in messages]
            except Exception:  # as live: hostile data of any kind is a malformed frame
                stats.malformed_frames += 1
                return []
            return self._offer(events)
        if kind is RecordKind.REST_RESPONSE:
            stats.reconciliations += 1
            try:
                answers = _decode_answers.decode(record.payload)
                events = reconciliation_events(answers, self._tracker, received_ns=record.recv_wall_ns)
            except Exception as exc:
                # Live recorded them only once they had made their events: the stored copy is damaged.
                raise CorruptRecordError(
                    "a recorded user reconciliation cannot be replayed", event_id=record.event_id
                ) from exc
            return self._offer(events)
        markets = [market for market in self._markets_of(record) if market != _EVERY_MARKET]
        if kind is RecordKind.CONNECTED or kind is RecordKind.RECONNECTED:
            self._markets = dict.fromkeys(markets)
        elif kind is RecordKind.SUBSCRIBED:
            self._markets.update(dict.fromkeys(markets))
        else:
            for market in markets:
                self._markets.pop(market, None)
        return []

    def _offer(self, events: list[UserChannelEvent]) -> list[UserChannelEvent]:
        fresh, unsubscribed, duplicates = self._tracker.news(events, self._markets)
        stats = self.stats
        stats.unsubscribed_skipped += unsubscribed
        stats.duplicates_skipped += duplicates
        stats.events += len(fresh)
        stats.reconciled_events += sum(1 for event in fresh if event.reconciled)
        return fresh

    @staticmethod
    def _markets_of(record: Record) -> list[str]:
        return decode_stored(_decode_markets, record, "a recorded user lifecycle record does not decode").token_ids
