"""The seam between :class:`~polyinfra.live.live_data.LiveData` and the sockets that serve it.

A live-data transport (RTDS now, PolyBolt next) is anything that keeps subscriptions on a socket and
hands back events (:class:`LiveTransport`). :data:`TOPIC_TRANSPORTS` says which transports can serve
each topic, in order of preference: the price topics move to PolyBolt (which needs CLOB API
credentials) and are served by RTDS until then; ``activity`` and ``comments`` have no PolyBolt
channel and stay on RTDS (venue notes: RTDS). :func:`transport_for` picks the first configured
one, and refuses RTDS price topics after the configured cut-over date.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Protocol

from polyinfra.core.rtds_topics import PriceSource, SubscriptionPlan
from polyinfra.errors import InvalidValueError
from polyinfra.model.live_events import LiveEvent

__all__ = ["POLYBOLT", "RTDS", "TOPIC_TRANSPORTS", "LiveTransport", "transport_for"]

RTDS: Final = "rtds"
POLYBOLT: Final = "polybolt"

TOPIC_TRANSPORTS: Final[Mapping[str, tuple[str, ...]]] = {
    **{source.value: (POLYBOLT, RTDS) for source in PriceSource},
    # The 30-second TWAP has no PolyBolt successor.
    PriceSource.TWAP_30S.value: (RTDS,),
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
