"""Domain events of the live-data feeds (RTDS now, PolyBolt later): trades with the trader's
wallet, prices, comments, and the gaps that say where the stream cannot vouch for itself.

Numbers are exact ``Decimal``; times are the venue's, in unix milliseconds, except where a name says
otherwise. The events are frozen msgspec structs rather than dataclasses: one is made per activity
row (about 50 a second for the whole venue) and a struct is made several times faster; encoded as
JSON, each carries its ``type`` (``trade``, ``price``, ``comment``, ``gap``).

A :class:`Gap` is an event like the others, in the same stream, so a consumer can tell "nothing
happened" from "we missed it" without watching a second channel.
"""

from __future__ import annotations

from decimal import Decimal

from msgspec import Struct

from polyinfra.model.numbers import Side

__all__ = ["ActivityTrade", "CommentEvent", "Gap", "LiveEvent", "PriceTick", "topic_of"]


class ActivityTrade(Struct, frozen=True, gc=False, tag_field="type", tag="trade"):
    """One row of the ``activity`` topic: a trader's side of a settled match.

    ``kind`` is ``trades`` (the taker and every maker, one row each) or ``orders_matched`` (the
    taker only). ``wallet`` is the trader's proxy wallet, lower case."""

    kind: str
    wallet: str
    side: Side
    price: Decimal
    size: Decimal
    token_id: str
    condition_id: str
    outcome: str
    market_slug: str
    event_slug: str
    title: str
    name: str
    pseudonym: str
    transaction_hash: str
    timestamp_s: int
    """When the venue says it traded, in seconds (the payload's own unit)."""
    sent_ms: int
    """When the venue sent the frame."""


class PriceTick(Struct, frozen=True, gc=False, tag_field="type", tag="price"):
    """One price of one symbol from one source. ``symbol`` is canonical (``btcusd``, ``aapl``).

    ``backfill`` marks the points a subscription sends first (about two minutes' worth); only
    points newer than the last one delivered for the (source, symbol) are delivered."""

    source: str
    symbol: str
    price: Decimal
    timestamp_ms: int
    backfill: bool = False


class CommentEvent(Struct, frozen=True, gc=False, tag_field="type", tag="comment"):
    """A comment created or removed, or a reaction to one (``kind`` is the venue's type)."""

    kind: str
    comment_id: str
    """The comment's id (for a reaction: the comment reacted to)."""
    body: str
    user_address: str
    parent_entity_id: int | None
    parent_entity_type: str
    reaction_type: str
    sent_ms: int


class Gap(Struct, frozen=True, gc=False, tag_field="type", tag="gap"):
    """A hole in ``topic`` of ``source`` (``rtds``) between ``from_ms`` and ``to_ms`` (unix ms): events
    sent in it may be missing. ``from_ms`` is when the venue sent the topic's last frame before the
    hole (local time when there was none), ``to_ms`` the local time the new subscription was in
    place. ``reason`` starts with ``reconnect`` (with the close code, or ``connection lost``),
    ``silence`` (a freeze the watchdog caught) or ``refused`` (the venue refused the subscription,
    with its status and text)."""

    source: str
    topic: str
    from_ms: int
    to_ms: int
    reason: str


LiveEvent = ActivityTrade | PriceTick | CommentEvent | Gap
"""What a live-data stream yields."""


def topic_of(event: LiveEvent) -> str:
    """The live-data topic ``event`` belongs to (a price's source, a gap's topic)."""
    if isinstance(event, ActivityTrade):
        return "activity"
    if isinstance(event, PriceTick):
        return event.source
    if isinstance(event, Gap):
        return event.topic
    return "comments"
