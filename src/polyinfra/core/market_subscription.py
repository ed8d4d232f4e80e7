"""What a market-channel socket subscribed to, and which events it receives (venue notes: WebSockets,
Market channel): the venue's side of a subscription, pure, shared by everything that serves the
channel (the emulator, the replay server).

:class:`MarketChannelRequest` is a client message as the venue reads it: the first one carries
``type``, later ones ``operation``; unknown keys (``markets``, ...) are ignored, as official clients
send some. :class:`MarketSubscription` holds one socket's tokens and custom-feature flag and applies
those messages with the venue's quirks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

import msgspec

from polyinfra.wire.clob_ws import (
    BestBidAskMessage,
    MarketEvent,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChangeMessage,
)

__all__ = [
    "MAX_CLIENT_FRAME_BYTES",
    "MAX_IDS_PER_MESSAGE",
    "MAX_IDS_PER_SOCKET",
    "MarketChannelRequest",
    "MarketSubscription",
    "RequestOperation",
]

# The venue publishes no limits (it dropped its 100-token limit in 2025); these sit far above what a
# client subscribes to, while one socket can no longer hold a million bogus ids.
MAX_CLIENT_FRAME_BYTES: Final = 1024 * 1024
"""The largest message a client may send: 5,000 token ids of 78 digits take under 500 KB."""
MAX_IDS_PER_MESSAGE: Final = 5_000
"""Token ids (market channel) or condition ids (user channel) one client message may name."""
MAX_IDS_PER_SOCKET: Final = 10_000
"""Ids one socket may be subscribed to at once."""


class RequestOperation(Enum):
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    INVALID = "invalid"


class MarketChannelRequest(msgspec.Struct):
    """A market-channel client message (venue notes: WebSockets)."""

    assets_ids: list[str] = []
    type: str | None = None
    operation: str | None = None
    custom_feature_enabled: bool | None = None
    initial_dump: bool = True

    def what(self) -> RequestOperation:
        operation = (self.operation or "").lower()
        if not operation and (self.type or "").lower() == "market":
            # Older docs spell the type "MARKET" (venue notes: WebSockets); both are accepted.
            return RequestOperation.SUBSCRIBE
        if operation == "subscribe":
            return RequestOperation.SUBSCRIBE
        if operation == "unsubscribe":
            return RequestOperation.UNSUBSCRIBE
        return RequestOperation.INVALID


@dataclass(slots=True)
class MarketSubscription:
    """A market-channel subscription: the token ids and whether custom-feature events are on."""

    assets: set[str] = field(default_factory=set)
    custom_feature_enabled: bool = False

    def added_by(self, request: MarketChannelRequest) -> list[str]:
        """The tokens a subscribe request adds (in its order, each once), not yet applied."""
        return [asset for asset in dict.fromkeys(request.assets_ids) if asset not in self.assets]

    def subscribe(self, request: MarketChannelRequest, added: list[str]) -> None:
        # The venue applies custom_feature_enabled before it skips already-subscribed assets, so
        # re-subscribing an active asset toggles the flag (venue notes: WebSockets).
        if request.custom_feature_enabled is not None:
            self.custom_feature_enabled = request.custom_feature_enabled
        self.assets.update(added)

    def unsubscribe(self, request: MarketChannelRequest) -> None:
        self.assets.difference_update(request.assets_ids)
        if request.custom_feature_enabled is not None:
            self.custom_feature_enabled = request.custom_feature_enabled

    def wants(self, event: MarketEvent) -> bool:
        """Whether this subscription receives the event (venue notes: Market channel)."""
        match event:
            case PriceChangeMessage():
                # One message may carry both tokens of a market; it goes out whole if any matches.
                if isinstance(event.price_changes, list):
                    return any(change.asset_id in self.assets for change in event.price_changes)
                return isinstance(event.asset_id, str) and event.asset_id in self.assets
            case BestBidAskMessage():
                return self.custom_feature_enabled and event.asset_id in self.assets
            case NewMarketMessage():
                # Nobody can be subscribed to a new market's tokens yet: every custom-feature client gets it.
                return self.custom_feature_enabled
            case MarketResolvedMessage():
                return self.custom_feature_enabled and not self.assets.isdisjoint(event.assets_ids)
            case _:
                return event.asset_id in self.assets
