"""Replay of a PolyBolt tape (source ``polybolt``): the frames
:class:`~polyinfra.live.polybolt_client.PolyBoltClient` received, fed again through the same
:class:`~polyinfra.core.polybolt_feed.PolyBoltFeed`, yielding the price ticks it delivered and its gaps.

The client decodes each connection's (shard's) frames with the connection's own feed, reset when a new
session opens (``seq`` starts again), and delivers a data frame's new points once per live-data topic
its subscription serves (``crypto_prices`` and ``crypto_prices_chainlink`` share ``price.crypto``). The
replay keeps the same: a feed per recorded connection, reset at its ``connected`` record, and the topics
of each subscription on its connection from the ``subscribed``/``unsubscribed`` records the client writes
whenever they change (a subscription left with none is forgotten by its feed, as live forgets it). A key
stays on its connection while it serves a topic, so two clients recording into one recorder keep theirs
apart. The gaps (``seq``
holes, lost sessions, refusals) are the client's ``gap`` records
(:class:`~polyinfra.record.live_data_replay.LiveDataReplay`).

Tapes recorded before the client wrote its ``subscribed`` records hold no topics: their frames replay
through the feeds, but give no ticks.
"""

from __future__ import annotations

from typing import Final

import msgspec

from polyinfra.core.polybolt_feed import DataFrame, PolyBoltFeed
from polyinfra.model.live_events import LiveEvent
from polyinfra.record.live_data_replay import LiveDataReplay
from polyinfra.record.records import Record, RecordKind, decode_stored
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["POLYBOLT_SOURCE", "PolyBoltReplay"]

POLYBOLT_SOURCE: Final = "polybolt"
"""The source PolyBolt tapes are recorded under."""


class _Topics(msgspec.Struct):
    """A ``subscribed``/``unsubscribed`` record's payload (:class:`~polyinfra.record.records.RecordKind`)."""

    subscription: str
    topics: list[str]


_decode_topics: Final[JsonDecoder[_Topics]] = JsonDecoder(_Topics, what="recorded PolyBolt subscription change")


class PolyBoltReplay(LiveDataReplay):
    """The PolyBolt tape in ``sink`` replayed: ``async for event in PolyBoltReplay(sink)`` (see
    :class:`~polyinfra.record.live_data_replay.LiveDataReplay` for the filters and the pacing)."""

    source = POLYBOLT_SOURCE
    _kinds = frozenset(
        {RecordKind.FRAME_RECEIVED, RecordKind.CONNECTED, RecordKind.SUBSCRIBED, RecordKind.UNSUBSCRIBED}
    )

    _feeds: dict[int, PolyBoltFeed]
    _served: dict[tuple[int, str], dict[str, None]]
    """(Connection, subscription key) -> the live-data topics it serves (insertion-ordered, as live delivers
    them). A key stays on its connection while it serves a topic; two clients' same key are two entries."""

    def _new_session(self) -> None:
        self._feeds = {}
        self._served = {}

    def _replay(self, record: Record, connection: int) -> list[LiveEvent]:
        feed = self._feed(connection)
        kind = record.kind
        if kind is RecordKind.FRAME_RECEIVED:
            return self._frame(feed, record, connection)
        if kind is RecordKind.CONNECTED:
            feed.reset()
            return []
        change = decode_stored(_decode_topics, record, "a recorded PolyBolt subscription change does not decode")
        key = connection, change.subscription
        if kind is RecordKind.SUBSCRIBED:
            self._served.setdefault(key, {}).update(dict.fromkeys(change.topics))
            return []
        served = self._served.get(key, {})
        for topic in change.topics:
            served.pop(topic, None)
        if not served:
            self._served.pop(key, None)
            feed.forget(change.subscription)
        return []

    def _frame(self, feed: PolyBoltFeed, record: Record, connection: int) -> list[LiveEvent]:
        self.stats.frames += 1
        try:
            frame = feed.receive(record.payload)
        except Exception:  # as live: hostile data of any kind is a malformed frame
            self.stats.malformed_frames += 1
            return []
        if not isinstance(frame, DataFrame) or not frame.points:
            return []
        return [tick for topic in self._served.get((connection, frame.key), {}) for tick in frame.ticks(topic)]

    def _feed(self, connection: int) -> PolyBoltFeed:
        feed = self._feeds.get(connection)
        if feed is None:
            feed = self._feeds[connection] = PolyBoltFeed()
        return feed
