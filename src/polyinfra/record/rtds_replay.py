"""Replay of an RTDS tape (source ``rtds``): the frames :class:`~polyinfra.live.rtds_client.RtdsClient`
received, fed again through the same :class:`~polyinfra.core.rtds_feed.RtdsFeed`, yielding the events it
delivered (trades, prices, comments) and its gaps.

The client records every frame it receives, data frames under their topic and the rest (keep-alives,
error answers, frames it could not use) under ``connection``, all through one feed for the client's
life: replaying every one of them, in order, through one new feed per recorded connection (per recording
session) leaves the feed in the state live left it in, so its duplicate checks (price points already
delivered, activity rows seen) drop what live dropped and nothing else. A client's connection number is
its own in the recording (the recorder gives a second client recording into it another), so two clients'
frames are never fed to one feed; ``connections`` replays one of them. The gaps are the client's ``gap`` records
(:class:`~polyinfra.record.live_data_replay.LiveDataReplay`).

Not replayed: what a consumer's full queue dropped live (the tape holds what the transport delivered),
and what :class:`~polyinfra.live.live_data.LiveData` filtered out for a subscription (a wallet, a slug):
the replay yields the whole stream, which ``topics`` and ``keys`` narrow.
"""

from __future__ import annotations

from typing import Final

from polyinfra.core.rtds_feed import RtdsFeed
from polyinfra.model.live_events import LiveEvent
from polyinfra.record.live_data_replay import LiveDataReplay
from polyinfra.record.records import Record, RecordKind

__all__ = ["RTDS_SOURCE", "RtdsReplay"]

RTDS_SOURCE: Final = "rtds"
"""The source RTDS tapes are recorded under."""


class RtdsReplay(LiveDataReplay):
    """The RTDS tape in ``sink`` replayed: ``async for event in RtdsReplay(sink)`` (see
    :class:`~polyinfra.record.live_data_replay.LiveDataReplay` for the filters and the pacing)."""

    source = RTDS_SOURCE
    _kinds = frozenset({RecordKind.FRAME_RECEIVED})

    _feeds: dict[int, RtdsFeed]
    """Recorded connection -> its feed (one per client)."""

    def _new_session(self) -> None:
        self._feeds = {}

    def _replay(self, record: Record, connection: int) -> list[LiveEvent]:
        self.stats.frames += 1
        feed = self._feeds.get(connection)
        if feed is None:
            feed = self._feeds[connection] = RtdsFeed()
        try:
            return feed.receive(record.payload)
        except Exception:  # as live: hostile data of any kind is a malformed frame
            self.stats.malformed_frames += 1
            return []
