"""The demo's closing proof compares books for real: equal books pass, any difference fails."""

from __future__ import annotations

from polyinfra.cli.demo import SyncProof, compare_with_rest
from polyinfra.core.from_wire import order_book_from_summary
from polyinfra.model.events import SyncState
from polyinfra.wire.clob_rest import OrderBookSummary, PriceLevel

TOKEN = "1234"
OTHER_TOKEN = "5678"


def _summary(token: str, bids: dict[str, str], asks: dict[str, str], tick_size: str = "0.01") -> OrderBookSummary:
    # The venue's order: best price last on both sides.
    return OrderBookSummary(
        market="0x" + "ab" * 32,
        asset_id=token,
        timestamp="1700000000000",
        hash="",
        bids=[PriceLevel(price, size) for price, size in sorted(bids.items())],
        asks=[PriceLevel(price, size) for price, size in sorted(asks.items(), reverse=True)],
        tick_size=tick_size,
    )


VENUE = _summary(TOKEN, bids={"0.48": "100", "0.47": "50"}, asks={"0.52": "80", "0.53": "20"})
LIVE = {TOKEN: SyncState.LIVE}


def _proof(local: OrderBookSummary, venue: OrderBookSummary, states: dict[str, SyncState] = LIVE) -> SyncProof:
    return compare_with_rest({local.asset_id: order_book_from_summary(local)}, states, [venue])


def test_equal_live_books_are_the_proof() -> None:
    proof = _proof(VENUE, VENUE)
    assert proof.equal and proof.compared == 1


def test_a_different_size_fails_and_is_shown_as_local_to_venue() -> None:
    local = _summary(TOKEN, bids={"0.48": "100", "0.47": "51"}, asks={"0.52": "80", "0.53": "20"})
    proof = _proof(local, VENUE)
    assert not proof.equal
    assert proof.differences == (f"{TOKEN}: BUY 0.47: 51 -> 50",)


def test_a_missing_or_extra_level_fails() -> None:
    local = _summary(TOKEN, bids={"0.48": "100"}, asks={"0.52": "80", "0.53": "20", "0.60": "1"})
    (difference,) = _proof(local, VENUE).differences
    assert "BUY 0.47: None -> 50" in difference and "SELL 0.6: 1 -> None" in difference


def test_a_book_that_is_not_live_fails_even_when_its_levels_match() -> None:
    proof = _proof(VENUE, VENUE, {TOKEN: SyncState.STALE})
    assert proof.differences == (f"{TOKEN}: stale",)


def test_a_book_the_venue_did_not_answer_for_fails() -> None:
    local = _summary(OTHER_TOKEN, bids={"0.48": "100"}, asks={"0.52": "80"})
    proof = _proof(local, VENUE, {OTHER_TOKEN: SyncState.LIVE})
    assert proof.differences == (f"{OTHER_TOKEN}: no REST book",)


def test_a_different_tick_size_fails() -> None:
    local = _summary(TOKEN, bids={"0.48": "100", "0.47": "50"}, asks={"0.52": "80", "0.53": "20"}, tick_size="0.001")
    (difference,) = _proof(local, VENUE).differences
    assert "tick size" in difference
