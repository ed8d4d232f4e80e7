"""PolyBolt (the live-data channel that succeeds the RTDS price topics) wire schemas (venue notes: PolyBolt).

Client frames carry an ``op`` (``auth``, ``subscribe``, ``unsubscribe``, ``pong``, ``ping``) and a
``rid`` the server echoes. Server frames are either control answers tagged by ``op`` (``authed``,
``subscribed``, ``unsubscribed``, ``error`` with a ``code``, ``ping``, ``pong``) or data envelopes
``{"v", "channel", "seq", "ts", "snapshot"?, "dropped"?, "payload"}``. One struct,
:class:`ServerFrame`, reads both (every field optional), so a frame is decoded once and its shape
told by which fields it has; the payload is then decoded by the envelope's ``snapshot`` flag.

Prices arrive both as a JSON number ``value`` and as the exact decimal string
``full_accuracy_value``; the string is the one to use, and ``value`` is read as a ``Decimal`` from
its text only as the fallback.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import UNSET, Raw, Struct, UnsetType, field

__all__ = [
    "AuthFields",
    "AuthRequest",
    "ChannelFilter",
    "ControlRequest",
    "PricePayload",
    "ServerFrame",
    "SnapshotPayload",
    "SnapshotPoint",
    "SubscribeRequest",
]


class AuthFields(Struct, gc=False):
    """The CLOB API credentials the ``auth`` op carries (built only while encoding the frame)."""

    api_key: str = field(name="apiKey")
    secret: str
    passphrase: str

    def __repr__(self) -> str:  # never the secret or the passphrase
        return "AuthFields(<redacted>)"


class AuthRequest(Struct, gc=False):
    op: str
    rid: str
    auth: AuthFields


class ChannelFilter(Struct, frozen=True, gc=False):
    """One (channel, filter) subscription: ``filter`` holds ``symbol`` (and ``window_seconds`` on a
    TWAP channel) or ``asset_id``."""

    channel: str
    filter: dict[str, str | int]


class SubscribeRequest(Struct, gc=False):
    """``subscribe`` / ``unsubscribe`` with several entries (a batch counts once against the rate)."""

    op: str
    rid: str
    subscriptions: list[ChannelFilter]


class ControlRequest(Struct, gc=False):
    """``pong`` answering a server ``ping`` (or an optional client ``ping``)."""

    op: str
    rid: str | UnsetType = UNSET


class ServerFrame(Struct, gc=False):
    """Any server frame: a control answer (``op`` set) or a data envelope (``channel`` and ``seq`` set)."""

    op: str | UnsetType = UNSET
    rid: str | UnsetType = UNSET
    code: str | UnsetType = UNSET
    message: str | UnsetType = UNSET
    v: int | UnsetType = UNSET
    channel: str | UnsetType = UNSET
    seq: int | UnsetType = UNSET
    ts: int | UnsetType = UNSET
    snapshot: bool = False
    dropped: int = 0
    payload: Raw | UnsetType = UNSET


class PricePayload(Struct, gc=False):
    """One live price: ``symbol`` (crypto, equity) or ``asset_id`` (``price.polymarket``)."""

    timestamp: int
    value: Decimal | UnsetType = UNSET
    full_accuracy_value: str | UnsetType = UNSET
    symbol: str | UnsetType = UNSET
    asset_id: str | UnsetType = UNSET
    window_seconds: int | UnsetType = UNSET
    source: str | UnsetType = UNSET


class SnapshotPoint(Struct, gc=False):
    timestamp: int
    value: Decimal | UnsetType = UNSET
    full_accuracy_value: str | UnsetType = UNSET


class SnapshotPayload(Struct, gc=False):
    """The points of the two minutes before a subscription (empty when there were none)."""

    data: list[SnapshotPoint]
    symbol: str | UnsetType = UNSET
    asset_id: str | UnsetType = UNSET
    window_seconds: int | UnsetType = UNSET
    source: str | UnsetType = UNSET
