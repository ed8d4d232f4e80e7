"""RTDS frames in, live-data events out: the sans-I/O core of the RTDS client (venue notes: RTDS).

:class:`RtdsFeed` decodes each frame once, through the bounded decoder, into the union of every
live topic's messages, and turns it into domain events (:mod:`polyinfra.model.live_events`):

* keep-alives (the empty text the server sends on connect and in answer to ``PING``) give nothing:
  liveness never keys on them;
* an error answer (``{"body": {"message"}, "statusCode"}``) gives nothing but is kept in
  :attr:`RtdsFeed.last_error` for the client to turn into a gap;
* prices prefer the venue's exact ``full_accuracy_value`` (a plain decimal, or a signed E18 integer
  on Chainlink and TWAP) to the JSON number; a Chainlink backfill labelled ``crypto_prices`` is put
  back under its topic;
* **no duplicates**: a (source, symbol) delivers only points newer than the last one it delivered,
  so the backfill each (re)subscription sends fills a hole without repeating what was seen, and
  an activity row already delivered (same transaction, token, side, wallet and kind) is dropped.

Everything a frame can hold ends as events or :class:`~polyinfra.errors.MalformedMessageError`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from decimal import Context, Decimal
from typing import Final

import msgspec

from polyinfra.core.rtds_topics import PriceSource, canonical_symbol, price_topic_of
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.live_events import ActivityTrade, CommentEvent, LiveEvent, PriceTick
from polyinfra.model.numbers import MAX_NUMBER_CHARS, Side, bounded_decimal
from polyinfra.wire.json_decoding import MAX_FRAME_BYTES, JsonDecoder
from polyinfra.wire.rtds import (
    ActivityPayload,
    ActivityTradesMessage,
    CommentCreatedMessage,
    CommentRemovedMessage,
    ErrorFrame,
    OrdersMatchedMessage,
    PriceBackfillMessage,
    PricePoint,
    PriceUpdate,
    PriceUpdateMessage,
    ReactionCreatedMessage,
    RtdsMessage,
)

__all__ = ["RECENT_ACTIVITY_KEYS", "RtdsFeed", "exact_price"]

RECENT_ACTIVITY_KEYS: Final = 20_000
"""Activity rows remembered for duplicate detection: several minutes of the whole firehose."""

_E18_TOPICS: Final = frozenset({PriceSource.CHAINLINK, PriceSource.TWAP_30S, PriceSource.TWAP_60S})
_KEEPALIVES: Final = frozenset({b"", b"PONG", b"pong"})
# Wide enough that scaling an E18 integer of the longest accepted text never rounds.
_EXACT: Final = Context(prec=MAX_NUMBER_CHARS)
_ONE: Final = Decimal(1)


class _Envelope(msgspec.Struct, gc=False):
    """Just enough of a frame whose ``type`` is not one polyinfra knows, to count it."""

    topic: str = ""
    type: str = ""


class RtdsFeed:
    """Turns RTDS frames into :data:`~polyinfra.model.live_events.LiveEvent` lists (see the module docstring).

    After each :meth:`receive`, :attr:`last_topic`, :attr:`last_key` (the symbol, wallet or commented
    entity, for the recorder) and :attr:`last_sent_ms` describe the frame, and :attr:`last_error`
    holds an error answer (None otherwise)."""

    __slots__ = (
        "_decoder",
        "_error_decoder",
        "_last_point_ms",
        "_recent_activity",
        "duplicates",
        "keepalives",
        "last_error",
        "last_key",
        "last_sent_ms",
        "last_topic",
        "messages",
        "unknown_types",
    )

    def __init__(self) -> None:
        self._decoder: JsonDecoder[RtdsMessage] = JsonDecoder(RtdsMessage, what="RTDS frame", max_bytes=MAX_FRAME_BYTES)
        self._error_decoder: JsonDecoder[ErrorFrame] = JsonDecoder(
            ErrorFrame, what="RTDS error frame", max_bytes=MAX_FRAME_BYTES
        )
        self._last_point_ms: dict[tuple[str, str], int] = {}
        self._recent_activity: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.last_topic = ""
        self.last_key = ""
        self.last_sent_ms: int | None = None
        self.last_error: ErrorFrame | None = None
        self.messages = 0
        """Data frames decoded."""
        self.keepalives = 0
        self.duplicates = 0
        """Price points and activity rows not delivered because they were delivered before."""
        self.unknown_types: dict[str, int] = {}
        """Frames of a type polyinfra does not know (``rfq``, new ones), by ``topic/type``."""

    def receive(self, frame: bytes | str) -> list[LiveEvent]:
        """The events ``frame`` holds (often none); :class:`MalformedMessageError` for one that cannot be used."""
        self.last_topic = ""
        self.last_key = ""
        self.last_sent_ms = None
        self.last_error = None
        raw = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
        if len(raw) <= len(b"PONG") and raw.strip() in _KEEPALIVES:
            self.keepalives += 1
            return []
        if b'"statusCode"' in raw and b'"payload"' not in raw:
            self.last_error = self._error_decoder.decode(raw)
            return []
        try:
            message = self._decoder.decode(raw)
        except MalformedMessageError:
            if not self._count_unknown(raw):
                raise
            return []
        self.messages += 1
        self.last_topic = message.topic
        self.last_sent_ms = message.timestamp
        try:
            return self._events_of(message)
        except InvalidValueError as exc:  # numbers out of range, a side that is neither BUY nor SELL
            raise MalformedMessageError(
                "RTDS frame holds a value out of range", topic=message.topic[:80], detail=exc.message
            ) from None

    def _events_of(self, message: RtdsMessage) -> list[LiveEvent]:
        if isinstance(message, PriceUpdateMessage):
            update = message.payload
            topic = price_topic_of(message.topic, update.symbol)
            self.last_topic, self.last_key = topic, update.symbol
            return self._new_points(topic, update.symbol, [update], backfill=False)
        if isinstance(message, PriceBackfillMessage):
            backfill = message.payload
            topic = price_topic_of(message.topic, backfill.symbol)
            self.last_topic, self.last_key = topic, backfill.symbol
            return self._new_points(topic, backfill.symbol, backfill.data, backfill=True)
        if isinstance(message, ActivityTradesMessage | OrdersMatchedMessage):
            self.last_key = message.payload.proxy_wallet.lower()
            kind = "trades" if isinstance(message, ActivityTradesMessage) else "orders_matched"
            trade = _activity(kind, message.payload, message.timestamp)
            key = (trade.kind, trade.transaction_hash, trade.token_id, trade.side, trade.wallet)
            recent = self._recent_activity
            if key in recent:
                self.duplicates += 1
                return []
            recent[key] = None
            if len(recent) > RECENT_ACTIVITY_KEYS:
                recent.popitem(last=False)
            return [trade]
        if isinstance(message, CommentCreatedMessage | CommentRemovedMessage):
            comment = message.payload
            self.last_key = str(comment.parent_entity_id)
            kind = "comment_created" if isinstance(message, CommentCreatedMessage) else "comment_removed"
            return [
                CommentEvent(
                    kind,
                    comment.id,
                    comment.body,
                    comment.user_address.lower(),
                    comment.parent_entity_id,
                    comment.parent_entity_type,
                    "",
                    message.timestamp,
                )
            ]
        reaction = message.payload
        kind = "reaction_created" if isinstance(message, ReactionCreatedMessage) else "reaction_removed"
        return [
            CommentEvent(
                kind,
                str(reaction.comment_id),
                "",
                reaction.user_address.lower(),
                None,
                "",
                reaction.reaction_type,
                message.timestamp,
            )
        ]

    def _new_points(
        self, topic: str, venue_symbol: str, points: Sequence[PricePoint | PriceUpdate], *, backfill: bool
    ) -> list[LiveEvent]:
        """The points newer than the last one delivered for (topic, symbol), oldest first; only
        those have their price checked (a backfill mostly repeats what was delivered)."""
        symbol = canonical_symbol(venue_symbol)
        key = (topic, symbol)
        last_ms = self._last_point_ms.get(key, -1)
        events: list[LiveEvent] = []
        for point in sorted(points, key=_point_time) if backfill else points:
            timestamp_ms = point.timestamp
            if timestamp_ms <= last_ms:
                self.duplicates += 1
                continue
            last_ms = timestamp_ms
            price = exact_price(topic, point.value, point.full_accuracy_value)
            events.append(PriceTick(topic, symbol, price, timestamp_ms, backfill))
        self._last_point_ms[key] = last_ms
        return events

    def _count_unknown(self, raw: bytes) -> bool:
        """Whether ``raw`` is a well-formed frame of a type polyinfra does not know (then counted)."""
        try:
            envelope = _ENVELOPE_DECODER.decode(raw)
        except MalformedMessageError:
            return False
        if not envelope.type or envelope.type in _KNOWN_TYPES:
            return False
        name = f"{envelope.topic[:40]}/{envelope.type[:40]}"
        if name in self.unknown_types or len(self.unknown_types) < _MAX_UNKNOWN_NAMES:
            self.unknown_types[name] = self.unknown_types.get(name, 0) + 1
        return True


_KNOWN_TYPES: Final = frozenset(
    {
        "update",
        "subscribe",
        "trades",
        "orders_matched",
        "comment_created",
        "comment_removed",
        "reaction_created",
        "reaction_removed",
    }
)
_ENVELOPE_DECODER: Final[JsonDecoder[_Envelope]] = JsonDecoder(_Envelope, what="RTDS frame", max_bytes=MAX_FRAME_BYTES)
_SIDES: Final = {"BUY": Side.BUY, "SELL": Side.SELL, "buy": Side.BUY, "sell": Side.SELL}
# A hostile server could name a new type per frame: the counts stay bounded.
_MAX_UNKNOWN_NAMES: Final = 100


def _point_time(point: PricePoint | PriceUpdate) -> int:
    return point.timestamp


def exact_price(topic: str, value: Decimal, exact: str | msgspec.UnsetType) -> Decimal:
    """The venue's exact price when it sent one, else the JSON number's (already exact) text (RTDS and PolyBolt)."""
    if isinstance(exact, str) and exact:
        if len(exact) > MAX_NUMBER_CHARS:
            raise InvalidValueError("full_accuracy_value is too long", chars=len(exact))
        try:
            parsed = Decimal(exact)
        except ArithmeticError:
            raise InvalidValueError("full_accuracy_value is not a decimal", value=exact) from None
        if not parsed.is_finite():  # "NaN" and "Infinity" parse, and have no exponent to scale
            raise InvalidValueError("full_accuracy_value is not a finite decimal", value=exact)
        if topic in _E18_TOPICS and "." not in exact:
            # Without the 18 trailing zeros the scaling leaves (same value), but never in exponent form.
            try:
                parsed = parsed.scaleb(-18, _EXACT).normalize(_EXACT)
                if parsed.as_tuple().exponent > 0:  # type: ignore[operator]
                    parsed = parsed.quantize(_ONE, context=_EXACT)
            except ArithmeticError:  # an exponent form too large to write out ("1e60")
                raise InvalidValueError("full_accuracy_value is out of range", value=exact) from None
        return bounded_decimal(parsed)
    return bounded_decimal(value)


def _activity(kind: str, row: ActivityPayload, sent_ms: int) -> ActivityTrade:
    side = _SIDES.get(row.side)
    if side is None:
        raise InvalidValueError("side is neither BUY nor SELL", side=row.side[:20])
    return ActivityTrade(
        kind=kind,
        wallet=row.proxy_wallet.lower(),
        side=side,
        price=bounded_decimal(row.price),
        size=bounded_decimal(row.size),
        token_id=row.asset,
        condition_id=row.condition_id,
        outcome=row.outcome,
        market_slug=row.slug,
        event_slug=row.event_slug,
        title=row.title,
        name=row.name,
        pseudonym=row.pseudonym,
        transaction_hash=row.transaction_hash,
        timestamp_s=row.timestamp,
        sent_ms=sent_ms,
    )
