"""CLOB account schemas (L2): notifications, the closed-only status, read-only and builder API keys.

Sizes and prices in notifications are decimal strings, as in the venue's order rows; a builder
key's secret and passphrase never appear in a ``repr``.
"""

from __future__ import annotations

from msgspec import Struct, field

from polyinfra.obs.redaction import MASK

__all__ = [
    "BuilderApiKey",
    "BuilderApiKeyInfo",
    "ClosedOnlyStatus",
    "Notification",
    "NotificationPayload",
    "ReadonlyApiKey",
]


class NotificationPayload(Struct, gc=False):
    """What a notification tells about one order: the order, its market and the change (a fill or a cancel)."""

    asset_id: str
    condition_id: str
    market: str
    market_slug: str
    question: str
    outcome: str
    outcome_index: int
    order_id: str
    owner: str
    side: str
    price: str
    original_size: str
    matched_size: str
    remaining_size: str
    trade_id: str
    transaction_hash: str
    type: str
    event_slug: str = field(name="eventSlug")
    series_slug: str = field(name="seriesSlug")
    icon: str
    image: str


class Notification(Struct, gc=False):
    """An item of ``GET /notifications``; ``id`` is what ``DELETE /notifications?ids=`` drops."""

    id: int
    type: int
    owner: str
    payload: NotificationPayload


class ClosedOnlyStatus(Struct, gc=False):
    """``GET /auth/ban-status/closed-only``: whether the account may only close positions."""

    closed_only: bool


class ReadonlyApiKey(Struct, gc=False):
    """``POST /auth/readonly-api-key``: the new read-only key."""

    api_key: str = field(name="apiKey")


class BuilderApiKey(Struct, gc=False):
    """``POST /auth/builder-api-key``: a new builder key with its secret and passphrase."""

    key: str
    secret: str
    passphrase: str

    def __repr__(self) -> str:
        return f"BuilderApiKey(key={self.key!r}, secret={MASK}, passphrase={MASK})"


class BuilderApiKeyInfo(Struct, gc=False):
    """An item of ``GET /auth/builder-api-key``: a builder key and when it was created and revoked
    (ISO-8601 UTC; ``revoked_at`` null while it is live)."""

    key: str
    created_at: str
    revoked_at: str | None
