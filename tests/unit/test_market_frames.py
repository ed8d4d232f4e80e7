"""MarketFrameDecoder: one event or an array of them per frame (venue notes: WebSockets), unknown event types
skipped and counted, malformed frames raised as MalformedMessageError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from msgspec import UNSET

from polyinfra.errors import MalformedMessageError, ProtocolError
from polyinfra.wire.clob_ws import (
    BookMessage,
    LastTradePriceMessage,
    MarketFrameDecoder,
    PriceChangeMessage,
    TickSizeChangeMessage,
)
from tests.shared_data import NAUTILUS_CAPTURES

WS_MESSAGES = NAUTILUS_CAPTURES / "ws_messages"


def _capture(name: str) -> Any:
    return json.loads((WS_MESSAGES / name).read_bytes())


def _frame(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_single_event_frame() -> None:
    decoder = MarketFrameDecoder()
    [event] = decoder.decode((WS_MESSAGES / "book.json").read_bytes())

    assert isinstance(event, BookMessage)
    assert event.asset_id.startswith("48331043")
    assert (len(event.bids), len(event.asks)) == (76, 86)
    assert decoder.unknown_event_types == {}


def test_text_frame_is_accepted_too() -> None:
    [event] = MarketFrameDecoder().decode((WS_MESSAGES / "tick_size_change.json").read_text())
    assert isinstance(event, TickSizeChangeMessage)
    assert (event.old_tick_size, event.new_tick_size) == ("0.01", "0.001")


def test_array_frame_keeps_the_venue_order() -> None:
    frame = _frame([_capture("book.json"), _capture("price_change_v2.json"), _capture("last_trade_price.json")])
    events = MarketFrameDecoder().decode(frame)
    assert [type(event) for event in events] == [BookMessage, PriceChangeMessage, LastTradePriceMessage]


def test_unknown_event_type_is_skipped_and_counted_while_known_events_decode() -> None:
    decoder = MarketFrameDecoder()
    mystery = {"event_type": "mystery_feature", "market": "0x1", "anything": [1, 2]}
    frame = _frame([mystery, _capture("book.json"), _capture("last_trade_price.json")])

    events = decoder.decode(frame)
    assert [type(event) for event in events] == [BookMessage, LastTradePriceMessage]
    assert decoder.unknown_event_types == {"mystery_feature": 1}

    assert decoder.decode(_frame(mystery)) == []
    assert decoder.unknown_event_types == {"mystery_feature": 2}


def test_known_event_with_a_wrong_schema_raises() -> None:
    broken = _capture("book.json")
    broken["bids"] = "not a list"
    with pytest.raises(MalformedMessageError) as caught:
        MarketFrameDecoder().decode(_frame([_capture("last_trade_price.json"), broken]))
    assert caught.value.context["event_type"] == "book"
    assert isinstance(caught.value, ProtocolError)
    assert not caught.value.retriable


def test_known_event_missing_a_required_key_raises() -> None:
    broken = _capture("tick_size_change.json")
    del broken["new_tick_size"]
    with pytest.raises(MalformedMessageError, match="does not match its schema"):
        MarketFrameDecoder().decode(_frame(broken))


@pytest.mark.parametrize("frame", [b"not json", b'{"event_type": "book"', b"PONG", b""])
def test_non_json_frame_raises(frame: bytes) -> None:
    with pytest.raises(MalformedMessageError, match="not JSON"):
        MarketFrameDecoder().decode(frame)


@pytest.mark.parametrize("document", [5, {"market": "0x1"}, [{"event_type": 7}]])
def test_event_without_an_event_type_raises(document: Any) -> None:
    with pytest.raises(MalformedMessageError, match="no event_type"):
        MarketFrameDecoder().decode(_frame(document))


def test_current_price_change_format() -> None:
    [event] = MarketFrameDecoder().decode((WS_MESSAGES / "price_change_v2.json").read_bytes())
    assert isinstance(event, PriceChangeMessage)
    assert event.price_changes is not UNSET
    assert len(event.price_changes) == 3
    first = event.price_changes[0]
    assert first.asset_id and first.price and first.side in {"BUY", "SELL"}
    assert first.best_bid is not UNSET and first.best_ask is not UNSET
    assert event.asset_id is UNSET and event.changes is UNSET


def test_legacy_single_level_price_change_format() -> None:
    [event] = MarketFrameDecoder().decode((WS_MESSAGES / "price_change.json").read_bytes())
    assert isinstance(event, PriceChangeMessage)
    raw = _capture("price_change.json")
    assert (event.asset_id, event.price, event.side, event.size, event.hash) == (
        raw["asset_id"],
        raw["price"],
        raw["side"],
        raw["size"],
        raw["hash"],
    )
    assert event.price_changes is UNSET


def test_legacy_changes_array_price_change_format() -> None:
    # The migration guide's example of the pre-2025-09-15 schema (venue notes: Market channel).
    frame = (
        b'{"asset_id":"71321045679252212594626385532706912750332728571942532289631379312455583992563",'
        b'"changes":[{"price":"0.4","side":"SELL","size":"3300"}],"event_type":"price_change",'
        b'"market":"0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1",'
        b'"timestamp":"1729084877448","hash":"3cd4d61e042c81560c9037ece0c61f3b1a8fbbdd"}'
    )
    [event] = MarketFrameDecoder().decode(frame)
    assert isinstance(event, PriceChangeMessage)
    assert event.changes is not UNSET
    assert [(change.price, change.side, change.size) for change in event.changes] == [("0.4", "SELL", "3300")]
    assert event.hash == "3cd4d61e042c81560c9037ece0c61f3b1a8fbbdd"
    assert event.price_changes is UNSET
