"""The venue's order-book hash: every official vector (venue notes: Order books) and the real captures."""

from __future__ import annotations

import hashlib
import json

import msgspec
import pytest

from polyinfra.core.book_hash import book_hash, book_hash_matches, legacy_book_hash
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import BookMessage, PriceLevel
from tests.shared_data import NAUTILUS_CAPTURES as CAPTURES

MARKET_0XBD31 = "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af"
ASSET_5211 = "52114319501245915516055106046884209969926127482827954674443846427813813222426"

# (compact JSON the official clients hash, its SHA-1), from the official clients' tests.
VECTORS = [
    (
        '{"market":"0xaabbcc","asset_id":"100","timestamp":"123456789","hash":"","bids":[{"price":"0.3","size":"100"},'
        '{"price":"0.4","size":"100"}],"asks":[{"price":"0.6","size":"100"},{"price":"0.7","size":"100"}],'
        '"min_order_size":"100","tick_size":"0.01","neg_risk":false,"last_trade_price":"0.5"}',
        "0458ea5755c9f73d64a14636fa5c36ed460ec394",
    ),
    (
        '{"market":"0xaabbcc","asset_id":"100","timestamp":"","hash":"","bids":[],"asks":[],"min_order_size":"100",'
        '"tick_size":"0.01","neg_risk":false,"last_trade_price":"0.5"}',
        "74c6a7c81c1d572f1c877b7d3e25b80c336d8a6e",
    ),
    (
        '{"market":"0xaabbcc","asset_id":"100","timestamp":"123456789","hash":"","bids":[],"asks":[],'
        '"min_order_size":"100","tick_size":"0.01","neg_risk":false,"last_trade_price":""}',
        "6948261b907ad81475285e1f929d4013aec07795",
    ),
    (
        '{"market":"' + MARKET_0XBD31 + '","asset_id":"' + ASSET_5211 + '","timestamp":"123456789","hash":"",'
        '"bids":[{"price":"0.15","size":"100"},{"price":"0.31","size":"148.56"},{"price":"0.33","size":"58"},'
        '{"price":"0.5","size":"100"}],"asks":[],"min_order_size":"100","tick_size":"0.01","neg_risk":false,'
        '"last_trade_price":""}',
        "59fc94e9c13126e69673ddc51d7897a121063805",
    ),
]


def _summary(hashed_json: str, digest: str) -> OrderBookSummary:
    """The summary the venue would send for a vector: its content with the hash filled in."""
    document = json.loads(hashed_json)
    document["hash"] = digest
    return msgspec.convert(document, OrderBookSummary)


@pytest.mark.parametrize(("hashed_json", "digest"), VECTORS)
def test_vector_is_the_sha1_of_its_compact_json(hashed_json: str, digest: str) -> None:
    # Guards the vectors themselves against a copying mistake.
    assert hashlib.sha1(hashed_json.encode()).hexdigest() == digest


@pytest.mark.parametrize(("hashed_json", "digest"), VECTORS)
def test_book_hash_reproduces_every_vector(hashed_json: str, digest: str) -> None:
    summary = _summary(hashed_json, digest)
    assert (
        book_hash(
            market=summary.market,
            asset_id=summary.asset_id,
            timestamp=summary.timestamp,
            bids=summary.bids,
            asks=summary.asks,
            min_order_size=str(summary.min_order_size),
            tick_size=str(summary.tick_size),
            neg_risk=bool(summary.neg_risk),
            last_trade_price=str(summary.last_trade_price),
        )
        == digest
    )
    assert book_hash_matches(summary)


@pytest.mark.parametrize(("hashed_json", "digest"), VECTORS)
def test_vector_with_any_field_changed_does_not_match(hashed_json: str, digest: str) -> None:
    document = json.loads(hashed_json)
    document["hash"] = digest
    for key, changed in [("market", "0xaabbcd"), ("timestamp", "123456780"), ("min_order_size", "5")]:
        tampered = msgspec.convert({**document, key: changed}, OrderBookSummary)
        assert not book_hash_matches(tampered), key


def test_first_vector_with_a_level_changed_does_not_match() -> None:
    hashed_json, digest = VECTORS[0]
    summary = _summary(hashed_json, digest)
    tampered = msgspec.structs.replace(summary, bids=[PriceLevel("0.3", "100"), PriceLevel("0.4", "101")])
    assert not book_hash_matches(tampered)


def test_levels_are_hashed_in_the_order_sent() -> None:
    hashed_json, digest = VECTORS[0]
    summary = _summary(hashed_json, digest)
    reordered = msgspec.structs.replace(summary, bids=list(reversed(summary.bids)))
    assert not book_hash_matches(reordered)


def test_real_rest_book_capture_verifies() -> None:
    summary = msgspec.json.decode((CAPTURES / "http_responses" / "book.json").read_bytes(), type=OrderBookSummary)
    assert summary.hash == "2fc4a3d6a98bc164e057589bcb74981852b87412"
    assert book_hash_matches(summary)
    assert legacy_book_hash(market=summary.market, asset_id=summary.asset_id, bids=summary.bids, asks=summary.asks) == (
        summary.hash
    )


def test_real_ws_book_capture_verifies() -> None:
    message = msgspec.json.decode((CAPTURES / "ws_messages" / "book.json").read_bytes(), type=BookMessage)
    assert message.hash == "655a38d4977427b086c25b985993691b753ed166"
    assert (len(message.bids), len(message.asks)) == (76, 86)
    assert book_hash_matches(message)


@pytest.mark.parametrize("capture", ["http_responses/book.json", "ws_messages/book.json"])
def test_tampered_copy_of_a_real_capture_does_not_verify(capture: str) -> None:
    document = json.loads((CAPTURES / capture).read_bytes())
    document.pop("event_type", None)
    document["asks"][-1]["size"] += "1"  # "705" -> "7051": one best-ask size differs
    tampered = msgspec.convert(document, OrderBookSummary)
    assert not book_hash_matches(tampered)


def test_book_without_a_hash_cannot_match() -> None:
    document = json.loads((CAPTURES / "ws_messages" / "book.json").read_bytes())
    for missing in (None, ""):
        document["hash"] = missing
        assert not book_hash_matches(msgspec.convert(document, BookMessage))
    del document["hash"]
    assert not book_hash_matches(msgspec.convert(document, BookMessage))
