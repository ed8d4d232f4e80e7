"""The seam between :class:`~polyinfra.live.live_data.LiveData` and the sockets that serve it.

A live-data transport (RTDS now, PolyBolt next) is anything that keeps subscriptions on a socket and
hands back events (:class:`LiveTransport`). :data:`TOPIC_TRANSPORTS` says which transports can serve
each topic, in order of preference: the price topics move to PolyBolt (which needs CLOB API
credentials) and are served by RTDS until then; ``activity`` and ``comments`` have no PolyBolt
channel and stay on RTDS (venue notes: RTDS). :func:`transport_for` picks the first configured
one, and refuses RTDS price topics after the configured cut-over date.

:class:`TransportTaps` is what every transport does the same way with what it saw: frames and
lifecycle records to the recorder (one tap per channel) and gaps to the consumer, the recorder
and the ``polyinfra_live_gaps`` metric.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from polyinfra.core.polybolt_feed import MARKET_PRICES
from polyinfra.core.rtds_topics import PriceSource, SubscriptionPlan
from polyinfra.errors import InvalidValueError
from polyinfra.model.live_events import Gap, LiveEvent
from polyinfra.obs.metrics import LIVE_GAPS
from polyinfra.record.records import RecordKind

if TYPE_CHECKING:
    from polyinfra.record.recorder import Recorder
    from polyinfra.record.tap import ChannelTap

__all__ = ["POLYBOLT", "RTDS", "TOPIC_TRANSPORTS", "LiveTransport", "TransportTaps", "transport_for"]

RTDS: Final = "rtds"
POLYBOLT: Final = "polybolt"

TOPIC_TRANSPORTS: Final[Mapping[str, tuple[str, ...]]] = {
    **{source.value: (POLYBOLT, RTDS) for source in PriceSource},
    # The 30-second TWAP has no PolyBolt successor.
    PriceSource.TWAP_30S.value: (RTDS,),
    MARKET_PRICES: (POLYBOLT,),
    "activity": (RTDS,),
    "comments": (RTDS,),
}
"""Which transports serve each topic, the preferred first."""


class LiveTransport(Protocol):
    """What :class:`~polyinfra.live.live_data.LiveData` needs of a transport."""

    name: str

    def plan(self, topic: str, message_type: str, filters: Mapping[str, object] | None) -> SubscriptionPlan:
        """The linted subscription for a request (raises for one the venue would refuse or ignore)."""
        ...

    async def start(self, deliver: Callable[[list[LiveEvent]], None]) -> None: ...

    async def stop(self) -> None: ...

    async def subscribe(self, plan: SubscriptionPlan) -> None: ...

    async def unsubscribe(self, plan: SubscriptionPlan) -> None: ...


def transport_for(topic: str, configured: Mapping[str, LiveTransport]) -> LiveTransport:
    """The configured transport that serves ``topic`` best; :class:`InvalidValueError` when none does."""
    for name in TOPIC_TRANSPORTS.get(topic, ()):
        transport = configured.get(name)
        if transport is not None:
            return transport
    raise InvalidValueError(
        "no configured live-data transport serves this topic",
        topic=topic[:80],
        serves=list(TOPIC_TRANSPORTS.get(topic, ())),
    )


class TransportTaps:
    """A transport's recorder taps and gap reporting: ``source`` names it in gaps, records and
    metrics; ``deliver`` is where its events go (set by ``start``)."""

    def __init__(self, source: str, recorder: Recorder | None) -> None:
        self.source = source
        self.deliver: Callable[[list[LiveEvent]], None] = _nowhere
        self.gaps = 0
        self._recorder = recorder
        self._taps: dict[str, ChannelTap] = {}
        self._recorded: dict[int, int] = {}

    @property
    def recorded_connections(self) -> frozenset[int]:
        """The connection numbers this transport's records are under (the recorder's, see
        :meth:`~polyinfra.record.recorder.Recorder.claim_connection`): what a replay selects it by."""
        return frozenset(self._recorded.values())

    def report_gap(self, topic: str, connection: int, from_ms: int, to_ms: int, reason: str) -> None:
        """A hole in ``topic`` seen on ``connection``: to the consumer, the recorder (a ``gap`` record of the
        connection, so a replay of one client's connections has its gaps) and the metric."""
        self.gaps += 1
        LIVE_GAPS.labels(source=self.source).inc()  # rare: counted as they happen
        if self._recorder is not None:
            self._tap(topic).lifecycle(
                RecordKind.GAP,
                self._connection(connection),
                reason=reason,
                from_wall_ns=from_ms * 1_000_000,
                to_wall_ns=to_ms * 1_000_000,
            )
        self.deliver([Gap(self.source, topic, from_ms, to_ms, reason)])

    def frame_received(
        self, channel: str, connection: int, frame: bytes | str, venue_ts_ms: int | None, key: str
    ) -> None:
        if self._recorder is not None:
            self._tap(channel).frame_received(self._connection(connection), frame, venue_ts_ms=venue_ts_ms, key=key)

    def frame_sent(self, channel: str, connection: int, frame: bytes | str) -> None:
        if self._recorder is not None:
            self._tap(channel).frame_sent(self._connection(connection), frame)

    def lifecycle(self, channel: str, connection: int, kind: RecordKind, **details: Any) -> None:
        if self._recorder is not None:
            self._tap(channel).lifecycle(kind, self._connection(connection), **details)

    def _connection(self, connection: int) -> int:
        """The number the recorder knows the transport's own ``connection`` by (another client of the
        source recording into the same recorder may have the same own numbers)."""
        recorded = self._recorded.get(connection)
        if recorded is None:
            assert self._recorder is not None
            recorded = self._recorded[connection] = self._recorder.claim_connection(self.source, connection)
        return recorded

    def _tap(self, channel: str) -> ChannelTap:
        tap = self._taps.get(channel)
        if tap is None:
            assert self._recorder is not None
            tap = self._taps[channel] = self._recorder.shared_tap(self.source, channel)
        return tap


def _nowhere(events: list[LiveEvent]) -> None:
    """Where events go before a transport's ``start`` names their consumer."""
