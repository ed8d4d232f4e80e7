"""What polyinfra knows about the RTDS topics, and the subscription linter (venue notes: RTDS).

Pure data and checks, no I/O. :data:`TOPICS` is the catalogue of live topics: their message types,
how often each speaks when healthy (what the silence watchdog measures against), the symbol style
of the price topics and whether the server's own filter can be trusted. :func:`plan_subscription`
is the linter every subscription passes before a frame is sent:

* the dead ``clob_market`` / ``clob_user`` are refused here with :class:`RetiredTopicError` naming
  their replacement; so are the price topics after the configured cut-over date;
* filters become canonical compact JSON text (``{"symbol":"btc/usd"}``): the comma form
  (``"btcusdt,ethusdt"``) matches nothing, a JSON array is accepted and matches nothing, and a
  filter with a space after the colon sends the backfill and then nothing, so none of them can
  leave here;
* symbols are lower case, in the spelling the topic wants (``btcusdt`` on Binance, ``btc/usd`` on
  Chainlink and the TWAP topics), from any spelling the caller uses (:func:`canonical_symbol`);
* where the server's filter is known to match nothing (``activity`` slug filters), the plan
  subscribes wide and names the filter for the client to apply.

One topic goes in one frame (the client's job): an unknown topic in a batch silences every topic
of that batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import msgspec

from polyinfra.errors import InvalidValueError, MalformedMessageError, RetiredTopicError
from polyinfra.wire.json_decoding import JsonDecoder
from polyinfra.wire.rtds import Subscription

__all__ = [
    "ALL_TYPES",
    "RETIRED_TOPICS",
    "TOPICS",
    "PriceSource",
    "SubscriptionPlan",
    "SymbolStyle",
    "TopicSpec",
    "canonical_symbol",
    "plan_subscription",
    "price_topic_of",
    "venue_symbol",
]

ALL_TYPES: Final = "*"
"""The type that asks for every type of a topic."""

_MAX_SYMBOL_CHARS: Final = 24
_encode_filter = msgspec.json.Encoder(order="sorted").encode
_FILTER_DECODER: Final[JsonDecoder[Any]] = JsonDecoder(what="RTDS filters", max_bytes=64 * 1024)


class SymbolStyle(StrEnum):
    """How a price topic spells a symbol on the wire."""

    BINANCE = "binance"
    """``btcusdt``"""
    CHAINLINK = "chainlink"
    """``btc/usd`` (the TWAP topics too)"""
    EQUITY = "equity"
    """``aapl`` (the filter matches any case; payloads are lower case)"""


class PriceSource(StrEnum):
    """Where a price comes from: each is one RTDS topic."""

    BINANCE = "crypto_prices"
    CHAINLINK = "crypto_prices_chainlink"
    TWAP_30S = "crypto_prices_twap_thirty"
    TWAP_60S = "crypto_prices_twap_sixty"
    EQUITY = "equity_prices"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One live RTDS topic."""

    topic: str
    types: frozenset[str]
    expected_interval_s: float | None
    """The longest a healthy subscription goes without a frame of this topic: prices tick every
    second (equities up to 5/s in market hours and a carried-forward price when closed), the
    unfiltered activity firehose runs at about 50 messages/s. None: the topic may rightly be quiet
    for hours (comments), so silence says nothing."""
    symbol_style: SymbolStyle | None = None
    """Price topics only."""
    server_filter_works: bool = True
    """False where the server's filter matches nothing: subscribe wide and filter on the client."""


TOPICS: Final[Mapping[str, TopicSpec]] = {
    spec.topic: spec
    for spec in (
        TopicSpec(PriceSource.BINANCE, frozenset({"update"}), 5.0, SymbolStyle.BINANCE),
        TopicSpec(PriceSource.CHAINLINK, frozenset({"update"}), 5.0, SymbolStyle.CHAINLINK),
        TopicSpec(PriceSource.TWAP_30S, frozenset({"update"}), 5.0, SymbolStyle.CHAINLINK),
        TopicSpec(PriceSource.TWAP_60S, frozenset({"update"}), 5.0, SymbolStyle.CHAINLINK),
        TopicSpec(PriceSource.EQUITY, frozenset({"update"}), 60.0, SymbolStyle.EQUITY),
        TopicSpec(
            "comments",
            frozenset({"comment_created", "comment_removed", "reaction_created", "reaction_removed"}),
            None,
        ),
        # Slug filters match nothing (the official client's issue #34, venue notes: RTDS).
        TopicSpec("activity", frozenset({"trades", "orders_matched"}), 10.0, server_filter_works=False),
    )
}
"""Every live topic polyinfra subscribes to."""

RETIRED_TOPICS: Final[Mapping[str, str]] = {
    "clob_market": "polyinfra's market channel (LiveBooks, MarketChannel)",
    "clob_user": "polyinfra's user channel (UserChannel)",
}
"""Topics the venue refuses now, and what replaces each."""


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """What to send for one requested subscription, and what the client must filter itself."""

    wire: Subscription
    client_filter: Mapping[str, str]
    """Payload fields and the values they must have (empty: the server filters, or nothing to filter)."""
    symbol: str | None = None
    """The canonical symbol of a price subscription (``btcusd``, ``aapl``)."""


def canonical_symbol(text: str) -> str:
    """``btcusdt``, ``BTC/USD`` and ``btcusd`` are all ``btcusd``; an equity is its lower-case ticker.

    :class:`InvalidValueError` for anything that is not a short run of letters and digits
    (with one ``/`` between base and quote)."""
    lowered = text.strip().lower()
    base, slash, quote = lowered.partition("/")
    if slash:
        lowered = base + quote
    elif lowered.endswith("usdt"):
        lowered = lowered[:-1]
    if not (0 < len(lowered) <= _MAX_SYMBOL_CHARS and lowered.isascii() and lowered.isalnum()):
        raise InvalidValueError("not a price symbol (e.g. btcusd, btc/usd, btcusdt, aapl)", symbol=text[:40])
    return lowered


def venue_symbol(symbol: str, style: SymbolStyle) -> str:
    """The canonical ``symbol`` as the topic of ``style`` spells it."""
    canonical = canonical_symbol(symbol)
    if style is SymbolStyle.EQUITY:
        return canonical
    if not canonical.endswith("usd") or len(canonical) == len("usd"):
        raise InvalidValueError("a crypto symbol is quoted in USD (e.g. btcusd)", symbol=symbol[:40])
    base = canonical[: -len("usd")]
    return f"{base}usdt" if style is SymbolStyle.BINANCE else f"{base}/usd"


def price_topic_of(topic: str, symbol: str) -> str:
    """The topic a price frame really belongs to: a Chainlink backfill arrives labelled
    ``crypto_prices``, and only the ``/`` in its symbol tells (venue notes: RTDS)."""
    if topic == PriceSource.BINANCE and "/" in symbol:
        return PriceSource.CHAINLINK.value
    return topic


def plan_subscription(
    topic: str,
    message_type: str = ALL_TYPES,
    filters: Mapping[str, object] | str | None = None,
    *,
    price_topics_until: dt.date | None = None,
    today: dt.date | None = None,
) -> SubscriptionPlan:
    """The linted subscription for ``topic`` / ``message_type`` with ``filters`` (a mapping, or JSON
    object text); raises :class:`RetiredTopicError` or :class:`InvalidValueError` for one the venue
    would refuse or answer with silence. ``price_topics_until``: the last day the RTDS price topics
    are used (their successor is PolyBolt), judged against ``today``."""
    replacement = RETIRED_TOPICS.get(topic)
    if replacement is not None:
        raise RetiredTopicError(f"RTDS no longer serves {topic}; use {replacement}", topic=topic)
    spec = TOPICS.get(topic)
    if spec is None:
        raise InvalidValueError("not a live RTDS topic", topic=topic[:80], known=sorted(TOPICS))
    if message_type != ALL_TYPES and message_type not in spec.types:
        raise InvalidValueError(
            "not a message type of this topic", topic=topic, type=message_type[:80], known=sorted(spec.types)
        )
    is_price = spec.symbol_style is not None
    if is_price and price_topics_until is not None and today is not None and today > price_topics_until:
        raise RetiredTopicError(
            f"the RTDS price topics were retired after {price_topics_until.isoformat()}; "
            "prices now come from PolyBolt: give LiveData your CLOB API credentials",
            topic=topic,
        )
    fields = _filter_fields(filters)
    if not fields:
        return SubscriptionPlan(Subscription(topic, message_type), {})
    if spec.symbol_style is not None:
        if set(fields) != {"symbol"} or not isinstance(fields["symbol"], str):
            raise InvalidValueError('a price topic filters on one "symbol" (a string)', topic=topic)
        symbol = canonical_symbol(fields["symbol"])
        wire_filter = _encode_filter({"symbol": venue_symbol(symbol, spec.symbol_style)}).decode()
        return SubscriptionPlan(Subscription(topic, message_type, wire_filter), {}, symbol)
    text_fields = {name: _filter_value(topic, name, value) for name, value in fields.items()}
    if not spec.server_filter_works:
        return SubscriptionPlan(Subscription(topic, message_type), text_fields)
    return SubscriptionPlan(Subscription(topic, message_type, _encode_filter(fields).decode()), {})


def _filter_fields(filters: Mapping[str, object] | str | None) -> dict[str, object]:
    if filters is None:
        return {}
    if isinstance(filters, str):
        if not filters.strip():
            return {}
        try:
            decoded = _FILTER_DECODER.decode(filters)
        except MalformedMessageError:
            raise InvalidValueError(
                'filters are a JSON object such as {"symbol":"btcusdt"}: the comma form matches nothing',
                filters=filters[:80],
            ) from None
        filters = decoded
    if not isinstance(filters, Mapping):
        raise InvalidValueError("filters are a JSON object: a list is accepted by the venue and matches nothing")
    return dict(filters)


def _filter_value(topic: str, name: str, value: object) -> str:
    """A filter value compared with a payload field on the client (as text)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidValueError("a filter value is a string or an integer", topic=topic, field=name)
    return str(value)
