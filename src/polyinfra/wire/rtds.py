"""RTDS (real-time data socket) wire schemas: every live topic, the client's frames (venue notes: RTDS).

A server frame is ``{"topic", "type", "timestamp", "payload"}``, and ``type`` alone tells the
payload's shape across every live topic, so :data:`RtdsMessage` is one union tagged by it (one
decode per frame). On the price topics
(``crypto_prices``, ``crypto_prices_chainlink``, the TWAP topics, ``equity_prices``) ``type`` is
``"subscribe"`` for the backfill sent once after subscribing (``payload.data[]``, about two
minutes of points) and ``"update"`` for each live price; that tag picks the struct.

Prices arrive as JSON numbers and are ``Decimal``, exact from their text; the venue's own exact
value, when it sends one, is the string ``full_accuracy_value`` (a plain decimal on Binance, a
signed E18 integer on Chainlink and TWAP topics). Timestamps are int ms.

Do not trust ``topic`` alone: a ``crypto_prices_chainlink`` backfill arrives labelled
``crypto_prices``; only the symbol format (``btc/usd`` vs ``btcusdt``) tells them apart (venue notes: RTDS).

``activity`` frames (``trades``, ``orders_matched``) carry a Data-API trade row; their ``price`` and
``size`` come as JSON numbers and now and then as strings, and both decode to an exact ``Decimal``;
``timestamp`` in the payload is in seconds. ``comments`` frames carry a comment or a reaction.
Keep-alives are empty text frames and are not JSON; error answers are :class:`ErrorFrame`.

Client frames are :class:`SubscriptionRequest`: ``filters`` is always a *string* (JSON text when it
holds an object), built by :mod:`polyinfra.core.rtds_topics`.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import UNSET, Struct, UnsetType, field

__all__ = [
    "ActivityPayload",
    "ActivityTradesMessage",
    "CommentCreatedMessage",
    "CommentPayload",
    "CommentProfile",
    "CommentRemovedMessage",
    "ErrorFrame",
    "ErrorFrameBody",
    "OrdersMatchedMessage",
    "PriceBackfill",
    "PriceBackfillMessage",
    "PriceMessage",
    "PricePoint",
    "PriceUpdate",
    "PriceUpdateMessage",
    "ReactionCreatedMessage",
    "ReactionPayload",
    "ReactionRemovedMessage",
    "RtdsMessage",
    "Subscription",
    "SubscriptionRequest",
]


class PricePoint(Struct, omit_defaults=True, gc=False):
    """One backfill point; TWAP points also carry ``full_accuracy_value``."""

    timestamp: int
    value: Decimal
    full_accuracy_value: str | UnsetType = UNSET


class PriceBackfill(Struct, omit_defaults=True, gc=False):
    """Payload of a ``subscribe`` frame: recent points of one symbol."""

    symbol: str
    data: list[PricePoint]


class PriceUpdate(Struct, omit_defaults=True, gc=False):
    """Payload of an ``update`` frame: one price of one symbol (symbols are lower case)."""

    symbol: str
    timestamp: int
    value: Decimal
    full_accuracy_value: str | UnsetType = UNSET
    # Equities: present only when non-zero / only when true (market closed) (venue notes: RTDS).
    received_at: int | UnsetType = UNSET
    is_carried_forward: bool | UnsetType = UNSET
    # TWAP topics: the averaging window, 30 or 60.
    window_s: int | UnsetType = UNSET


class _Frame(Struct, tag_field="type", omit_defaults=True, gc=False):
    """Server frames are tagged by ``type``; ``timestamp`` is the send time in ms."""

    topic: str
    timestamp: int


class PriceUpdateMessage(_Frame, tag="update"):
    """A live price. Only live updates carry ``connection_id`` (venue notes: RTDS)."""

    payload: PriceUpdate
    connection_id: str | UnsetType = UNSET


class PriceBackfillMessage(_Frame, tag="subscribe"):
    """The backfill a price topic sends once per subscription, before its updates."""

    payload: PriceBackfill


PriceMessage = PriceUpdateMessage | PriceBackfillMessage
"""Every price-topic frame polyinfra understands."""


class _LiveFrame(_Frame, kw_only=True):
    """Frames of the non-price topics; live ones carry the connection's id."""

    connection_id: str | UnsetType = UNSET


class ActivityPayload(Struct, omit_defaults=True, rename="camel", gc=False):
    """One trade row of the ``activity`` topic (the Data API's ``/trades`` shape, venue notes: RTDS).

    There is no trade id: a row is told apart by ``transactionHash`` with ``asset``, ``side`` and
    ``proxyWallet`` (``trades`` holds the taker and every maker of one transaction)."""

    asset: str
    condition_id: str
    side: str
    price: Decimal
    size: Decimal
    timestamp: int
    """Seconds (not ms, unlike the envelope)."""
    proxy_wallet: str
    transaction_hash: str = ""
    outcome: str = ""
    outcome_index: int | UnsetType = UNSET
    slug: str = ""
    event_slug: str = ""
    title: str = ""
    name: str = ""
    pseudonym: str = ""
    bio: str = ""
    icon: str = ""
    profile_image: str = ""


class ActivityTradesMessage(_LiveFrame, tag="trades"):
    """``activity``/``trades``: the taker and every maker of a settled match, one row each."""

    payload: ActivityPayload


class OrdersMatchedMessage(_LiveFrame, tag="orders_matched"):
    """``activity``/``orders_matched``: one row per settled match, the taker's."""

    payload: ActivityPayload


class CommentProfile(Struct, omit_defaults=True, rename="camel", gc=False):
    """The author of a comment as the venue shows them."""

    name: str = ""
    pseudonym: str = ""
    base_address: str = ""
    proxy_wallet: str = ""
    display_username_public: bool | UnsetType = UNSET


class CommentPayload(Struct, omit_defaults=True, rename="camel", gc=False):
    """A comment on an event or a series; ``parentCommentID`` is null or empty at the top level."""

    id: str
    body: str
    parent_entity_id: int = field(name="parentEntityID")
    parent_entity_type: str
    created_at: str = ""
    parent_comment_id: str | None = field(name="parentCommentID", default=None)
    user_address: str = ""
    reply_address: str = ""
    reaction_count: int = 0
    report_count: int = 0
    profile: CommentProfile | UnsetType = UNSET


class CommentCreatedMessage(_LiveFrame, tag="comment_created"):
    payload: CommentPayload


class CommentRemovedMessage(_LiveFrame, tag="comment_removed"):
    payload: CommentPayload


class ReactionPayload(Struct, omit_defaults=True, rename="camel", gc=False):
    """A reaction to a comment (``commentID`` is a number on the wire)."""

    id: str
    comment_id: int = field(name="commentID")
    reaction_type: str
    icon: str = ""
    user_address: str = ""
    created_at: str = ""


class ReactionCreatedMessage(_LiveFrame, tag="reaction_created"):
    payload: ReactionPayload


class ReactionRemovedMessage(_LiveFrame, tag="reaction_removed"):
    payload: ReactionPayload


RtdsMessage = (
    PriceUpdateMessage
    | PriceBackfillMessage
    | ActivityTradesMessage
    | OrdersMatchedMessage
    | CommentCreatedMessage
    | CommentRemovedMessage
    | ReactionCreatedMessage
    | ReactionRemovedMessage
)
"""Every data frame of a live RTDS topic, told apart by ``type``."""


class Subscription(Struct, omit_defaults=True, frozen=True, gc=False):
    """One entry of a subscribe or unsubscribe frame; ``filters`` is JSON *text* or absent."""

    topic: str
    type: str
    filters: str | UnsetType = UNSET


class SubscriptionRequest(Struct, gc=False):
    """``{"action": "subscribe" | "unsubscribe", "subscriptions": [...]}``."""

    action: str
    subscriptions: list[Subscription]


class ErrorFrameBody(Struct, gc=False):
    """``body`` of an :class:`ErrorFrame`: the venue's message."""

    message: str


class ErrorFrame(Struct, gc=False):
    """The server's answer to a bad subscription: ``{"body": {"message": ...}, "statusCode": 400}``
    (venue notes: RTDS); e.g. 401 for an unknown topic, which also silences every topic of that batch."""

    body: ErrorFrameBody
    status_code: int = field(name="statusCode")
