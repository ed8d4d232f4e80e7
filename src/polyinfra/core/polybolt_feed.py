"""PolyBolt's pure parts: which channel serves each price topic, the subscription plan, the frame
decoder with its ``seq`` bookkeeping, and the pacing of subscribe frames (venue notes: PolyBolt).

No I/O. :func:`plan_polybolt` turns a price topic and a symbol (any spelling) into the
(channel, filter) PolyBolt wants: ``crypto_prices`` and ``crypto_prices_chainlink`` both become
``price.crypto`` (one Pyth-sourced feed), ``crypto_prices_twap_sixty`` becomes ``price.crypto.twap``
with ``window_seconds`` 60, ``equity_prices`` becomes ``price.equity``, and ``market_prices``
(by asset id) is ``price.polymarket``. The 30-second TWAP has no successor.

:class:`PolyBoltFeed` decodes one frame at a time. ``seq`` runs per channel and per connection,
snapshots included; a number skipped, or a ``dropped`` count the server reports after discarding
frames for a slow reader, is a hole (:class:`SeqHole`); a number already seen is dropped. Points
older than the last one delivered for a subscription are dropped too (a re-subscription's
snapshot repeats what was delivered).

:class:`FramePacer` spaces subscribe and unsubscribe frames (the server takes 20 a second per
connection; polyinfra sends at most one every 110 ms, as the reviewed official client does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import msgspec

from polyinfra.core.rtds_feed import exact_price
from polyinfra.core.rtds_topics import PriceSource, SubscriptionPlan, canonical_symbol
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.live_events import LiveEvent, PriceTick
from polyinfra.wire.json_decoding import JsonDecoder
from polyinfra.wire.polybolt import ChannelFilter, PricePayload, ServerFrame, SnapshotPayload
from polyinfra.wire.rtds import Subscription

__all__ = [
    "MARKET_PRICES",
    "MAX_FRAME_BYTES",
    "MAX_SUBSCRIPTIONS_PER_CONNECTION",
    "POLYBOLT_TOPICS",
    "SUBSCRIBE_INTERVAL_S",
    "ControlAnswer",
    "DataFrame",
    "FramePacer",
    "PolyBoltFeed",
    "SeqHole",
    "channel_filter",
    "plan_polybolt",
    "subscription_key",
]

MARKET_PRICES: Final = "market_prices"
"""The live-data topic of Polymarket outcome-token prices (PolyBolt's ``price.polymarket``)."""

MAX_SUBSCRIPTIONS_PER_CONNECTION: Final = 64
"""(channel, filter) subscriptions one connection may hold."""
MAX_FRAME_BYTES: Final = 64 * 1024
"""The largest frame either side may send."""
SUBSCRIBE_INTERVAL_S: Final = 0.110
"""polyinfra's spacing of subscribe/unsubscribe frames (the server allows 20 a second)."""
_MAX_ID_CHARS: Final = 100

POLYBOLT_TOPICS: Final[Mapping[str, tuple[str, int | None]]] = {
    PriceSource.BINANCE.value: ("price.crypto", None),
    PriceSource.CHAINLINK.value: ("price.crypto", None),
    PriceSource.TWAP_60S.value: ("price.crypto.twap", 60),
    PriceSource.EQUITY.value: ("price.equity", None),
    MARKET_PRICES: ("price.polymarket", None),
}
"""Each live-data topic PolyBolt serves: its channel and, for a TWAP, its window in seconds."""

_encode_key = msgspec.json.Encoder(order="sorted").encode


def subscription_key(channel: str, filter_fields: Mapping[str, str | int]) -> str:
    """One text per (channel, filter): what the server counts against the 64 per connection."""
    return f"{channel} {_encode_key(filter_fields).decode()}"


def plan_polybolt(topic: str, filters: Mapping[str, object] | None) -> SubscriptionPlan:
    """The PolyBolt subscription for a price ``topic`` filtered on one ``symbol`` (or, for
    :data:`MARKET_PRICES`, one ``asset_id``); :class:`InvalidValueError` for anything else.

    The plan's ``wire`` names the requested topic (two topics may share one channel) with the
    channel's filter as compact JSON; ``symbol`` is the canonical symbol (or the asset id)."""
    served = POLYBOLT_TOPICS.get(topic)
    if served is None:
        raise InvalidValueError("PolyBolt does not serve this topic", topic=topic[:80], served=sorted(POLYBOLT_TOPICS))
    channel, window_s = served
    fields = dict(filters or {})
    if topic == MARKET_PRICES:
        asset_id = fields.get("asset_id")
        if set(fields) != {"asset_id"} or not isinstance(asset_id, str) or not _is_id(asset_id):
            raise InvalidValueError("market prices filter on one asset_id (a token id)")
        key = asset_id
        wire_filter: dict[str, str | int] = {"asset_id": asset_id}
    else:
        symbol = fields.get("symbol")
        if set(fields) != {"symbol"} or not isinstance(symbol, str):
            raise InvalidValueError('a price topic filters on one "symbol" (a string)', topic=topic)
        key = canonical_symbol(symbol)
        if channel.startswith("price.crypto") and not (key.endswith("usd") and len(key) > len("usd")):
            raise InvalidValueError("a crypto symbol is quoted in USD (e.g. btcusd)", symbol=symbol[:40])
        wire_filter = {"symbol": key}
    if window_s is not None:
        wire_filter["window_seconds"] = window_s
    return SubscriptionPlan(Subscription(topic, "update", _encode_key(wire_filter).decode()), {}, key)


def channel_filter(plan: SubscriptionPlan) -> ChannelFilter:
    """The (channel, filter) entry a plan made by :func:`plan_polybolt` sends."""
    channel, _ = POLYBOLT_TOPICS[plan.wire.topic]
    fields = msgspec.json.decode(str(plan.wire.filters), type=dict[str, str | int])
    return ChannelFilter(channel, fields)


@dataclass(frozen=True, slots=True)
class ControlAnswer:
    """An answer to a client op, or a server ``ping``: ``op``, the echoed ``rid`` and, for ``error``, ``code``."""

    op: str
    rid: str
    code: str = ""
    channel: str = ""


@dataclass(frozen=True, slots=True)
class SeqHole:
    """Frames of ``channel`` the client never got: ``missing`` numbers skipped, ``dropped`` reported by the server."""

    channel: str
    missing: int
    dropped: int


@dataclass(slots=True)
class DataFrame:
    """A decoded data envelope: the subscription it belongs to (:func:`subscription_key`), its new points
    (price, unix ms), whether it is a snapshot, and the hole that came before it, if any."""

    channel: str
    key: str
    symbol: str
    points: list[tuple[Decimal, int]] = field(default_factory=list)
    snapshot: bool = False
    sent_ms: int | None = None
    hole: SeqHole | None = None

    def ticks(self, topic: str) -> list[LiveEvent]:
        """The new points as the live-data ``topic``'s price ticks (a snapshot's are backfill)."""
        return [
            PriceTick(topic, self.symbol, price, timestamp_ms, self.snapshot) for price, timestamp_ms in self.points
        ]


class PolyBoltFeed:
    """Decodes PolyBolt frames (see the module docstring); :meth:`reset` on every new connection."""

    def __init__(self) -> None:
        self._frames: JsonDecoder[ServerFrame] = JsonDecoder(
            ServerFrame, what="PolyBolt frame", max_bytes=MAX_FRAME_BYTES
        )
        self._prices: JsonDecoder[PricePayload] = JsonDecoder(PricePayload, what="PolyBolt price")
        self._snapshots: JsonDecoder[SnapshotPayload] = JsonDecoder(SnapshotPayload, what="PolyBolt snapshot")
        self._last_seq: dict[str, int] = {}
        self._last_point_ms: dict[str, int] = {}
        self.duplicates = 0
        """Frames whose ``seq`` had been seen, and points no newer than the last delivered."""

    def reset(self) -> None:
        """A new connection: ``seq`` starts again (delivered points are still remembered)."""
        self._last_seq.clear()

    def forget(self, key: str) -> None:
        """A subscription was removed: its next snapshot is delivered whole."""
        self._last_point_ms.pop(key, None)

    def receive(self, frame: bytes | str) -> ControlAnswer | DataFrame:
        """One frame decoded; :class:`MalformedMessageError` or :class:`InvalidValueError` for hostile input."""
        decoded = self._frames.decode(frame)
        if isinstance(decoded.op, str):
            return ControlAnswer(
                decoded.op[:40],
                _text(decoded.rid),
                _text(decoded.code),
                _text(decoded.channel),
            )
        channel, seq, payload = decoded.channel, decoded.seq, decoded.payload
        if not isinstance(channel, str) or not isinstance(seq, int) or isinstance(payload, msgspec.UnsetType):
            raise MalformedMessageError("PolyBolt frame is neither an answer nor a data envelope")
        if decoded.dropped < 0 or seq < 0:
            raise MalformedMessageError("PolyBolt seq and dropped are never negative", seq=seq)
        if decoded.snapshot:
            snapshot = self._snapshots.decode(bytes(payload))
            points = [(_price(channel, p.value, p.full_accuracy_value), p.timestamp) for p in snapshot.data]
            symbol, key = _identity(channel, snapshot.symbol, snapshot.asset_id, snapshot.window_seconds)
        else:
            price = self._prices.decode(bytes(payload))
            points = [(_price(channel, price.value, price.full_accuracy_value), price.timestamp)]
            symbol, key = _identity(channel, price.symbol, price.asset_id, price.window_seconds)
        result = DataFrame(channel, key, symbol, snapshot=decoded.snapshot)
        result.sent_ms = decoded.ts if isinstance(decoded.ts, int) else None
        last_seq = self._last_seq.get(channel)
        if last_seq is not None and seq <= last_seq:
            self.duplicates += 1
            return result
        missing = 0 if last_seq is None else seq - last_seq - 1
        if missing or decoded.dropped:
            result.hole = SeqHole(channel, missing, decoded.dropped)
        self._last_seq[channel] = seq
        last_ms = self._last_point_ms.get(key, -1)
        for point in sorted(points, key=_point_time):
            if point[1] > last_ms:
                result.points.append(point)
                last_ms = point[1]
            else:
                self.duplicates += 1
        self._last_point_ms[key] = last_ms
        return result


class FramePacer:
    """When the next subscribe/unsubscribe frame may go: at least ``interval_s`` after the last one
    (``clock`` is monotonic seconds, injectable)."""

    def __init__(self, clock: Callable[[], float], interval_s: float = SUBSCRIBE_INTERVAL_S) -> None:
        self._clock = clock
        self._interval_s = interval_s
        self._next_s = float("-inf")

    def wait_s(self) -> float:
        """Seconds to wait before sending; the frame is booked as sent then."""
        now_s = self._clock()
        send_s = max(now_s, self._next_s)
        self._next_s = send_s + self._interval_s
        return send_s - now_s


def _point_time(point: tuple[Decimal, int]) -> int:
    return point[1]


def _price(channel: str, value: Decimal | msgspec.UnsetType, exact: str | msgspec.UnsetType) -> Decimal:
    if isinstance(value, msgspec.UnsetType):
        if not isinstance(exact, str):
            raise MalformedMessageError("PolyBolt price point without a value", channel=channel[:40])
        value = Decimal(0)  # never used: the exact text wins
    return exact_price(channel, value, exact)


def _text(value: str | msgspec.UnsetType) -> str:
    return value[:_MAX_ID_CHARS] if isinstance(value, str) else ""


def _is_id(text: str) -> bool:
    return 0 < len(text) <= _MAX_ID_CHARS and text.isascii() and text.isalnum()


def _identity(
    channel: str,
    symbol: str | msgspec.UnsetType,
    asset_id: str | msgspec.UnsetType,
    window_s: int | msgspec.UnsetType,
) -> tuple[str, str]:
    """The payload's symbol (or asset id) and the subscription key it belongs to."""
    if channel == "price.polymarket":
        if not isinstance(asset_id, str) or not _is_id(asset_id):
            raise MalformedMessageError("PolyBolt price.polymarket payload without a valid asset_id")
        return asset_id, subscription_key(channel, {"asset_id": asset_id})
    if not isinstance(symbol, str):
        raise MalformedMessageError("PolyBolt price payload without a symbol", channel=channel[:40])
    canonical = canonical_symbol(symbol)
    fields: dict[str, str | int] = {"symbol": canonical}
    if isinstance(window_s, int):
        fields["window_seconds"] = window_s
    return canonical, subscription_key(channel, fields)
