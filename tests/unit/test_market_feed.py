"""MarketFeed: market-channel frames in, books out, with every way it notices it is out of sync."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from polyinfra.core.market_feed import FeedStats, MarketFeed
from polyinfra.errors import MalformedMessageError
from polyinfra.model.book import Level
from polyinfra.model.numbers import TickSize
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BookMessage,
    MarketResolvedMessage,
    NewMarketMessage,
    PriceChangeMessage,
)
from tests.shared_data import NAUTILUS_CAPTURES as CAPTURES

D = Decimal

# The real `book` and legacy `price_change` captures are of this token.
CAPTURED_TOKEN = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"


def _capture(path: str) -> bytes:
    return (CAPTURES / path).read_bytes()


def _frame(document: Any) -> bytes:
    return json.dumps(document).encode()


def _legacy_hash(market: str, asset_id: str, bids: list[dict[str, str]], asks: list[dict[str, str]]) -> str:
    """The legacy book hash (core/book_hash.py), recomputed here from its definition."""
    hashed = {"market": market, "asset_id": asset_id, "hash": "", "bids": bids, "asks": asks}
    return hashlib.sha1(json.dumps(hashed, separators=(",", ":")).encode()).hexdigest()


def _book_event(
    asset_id: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]], *, timestamp: str = "1757908892000"
) -> dict[str, Any]:
    """A `book` event as the venue sends it: bids ascending, asks descending, hashed."""
    bid_levels = [{"price": p, "size": s} for p, s in bids]
    ask_levels = [{"price": p, "size": s} for p, s in asks]
    return {
        "event_type": "book",
        "asset_id": asset_id,
        "market": MARKET,
        "bids": bid_levels,
        "asks": ask_levels,
        "timestamp": timestamp,
        "hash": _legacy_hash(MARKET, asset_id, bid_levels, ask_levels),
    }


def _change(asset_id: str, price: str, side: str, size: str, best_bid: str = "", best_ask: str = "") -> dict[str, str]:
    change = {"asset_id": asset_id, "price": price, "side": side, "size": size, "hash": "0" * 40}
    if best_bid:
        change["best_bid"] = best_bid
    if best_ask:
        change["best_ask"] = best_ask
    return change


def _price_change(*changes: dict[str, str], timestamp: str = "1757908892351") -> dict[str, Any]:
    return {"market": MARKET, "price_changes": list(changes), "timestamp": timestamp, "event_type": "price_change"}


@pytest.fixture
def feed() -> MarketFeed:
    """YES: bids 0.48x30 0.49x20 0.50x15 | asks 0.52x25 0.53x60; NO: bids 0.47x25 | asks 0.51x15."""
    feed = MarketFeed()
    feed.track([YES, NO])
    feed.apply_frame(
        _frame(
            [
                _book_event(YES, [("0.48", "30"), ("0.49", "20"), ("0.50", "15")], [("0.53", "60"), ("0.52", "25")]),
                _book_event(NO, [("0.47", "25")], [("0.51", "15")]),
            ]
        )
    )
    assert feed.stats == FeedStats(snapshots=2)
    return feed


# --- real captures ------------------------------------------------------------------------------


def test_real_book_then_real_legacy_price_change() -> None:
    feed = MarketFeed()
    feed.track([CAPTURED_TOKEN])
    assert feed.awaiting_snapshot == {CAPTURED_TOKEN}
    assert not feed.is_in_sync(CAPTURED_TOKEN)

    [book_event] = feed.apply_frame(_capture("ws_messages/book.json"))
    assert isinstance(book_event, BookMessage)
    book = feed.books[CAPTURED_TOKEN]
    assert (len(book.bids()), len(book.asks())) == (76, 86)
    assert book.best_bid() == Level(D("0.511"), D("1304.72"))
    assert book.best_ask() == Level(D("0.514"), D("20230.87"))
    assert book.market == "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
    assert book.timestamp_ms == 1_728_799_418_260
    assert feed.stats == FeedStats(snapshots=1)
    assert feed.is_in_sync(CAPTURED_TOKEN) and not feed.awaiting_snapshot

    # The 2024 single-level form: root asset_id, price, side, size.
    [change] = feed.apply_frame(_capture("ws_messages/price_change.json"))
    assert isinstance(change, PriceChangeMessage)
    assert book.best_ask() == Level(D("0.514"), D("21574.08"))
    assert book.timestamp_ms == 1_723_967_931_411
    assert feed.stats == FeedStats(snapshots=1, level_changes=1)
    assert not feed.resync_needed


def test_real_rest_summary_applies_verified() -> None:
    summary = msgspec.json.decode(_capture("http_responses/book.json"), type=OrderBookSummary)
    feed = MarketFeed()
    feed.track([summary.asset_id])
    feed.apply_book_summary(summary)
    book = feed.books[summary.asset_id]
    assert book.best_bid() == Level(D("0.1"), D("125"))
    assert book.best_ask() == Level(D("0.14"), D("705"))
    assert book.mid() == D("0.12")
    assert feed.stats == FeedStats(snapshots=1)
    assert feed.is_in_sync(summary.asset_id)


def test_real_current_price_change_disagrees_with_its_own_best_prices() -> None:
    # The capture is REAL-EDITED: its last entry adds a bid at 0.7 yet reports best_bid 0.6. The
    # three entries are one run of one asset, so only the last is checked: one mismatch.
    feed = MarketFeed()
    feed.track([NO])
    feed.apply_frame(_frame(_book_event(NO, [("0.5", "100"), ("0.6", "10")], [("0.8", "5"), ("0.7", "50")])))
    feed.apply_frame(_capture("ws_messages/price_change_v2.json"))
    book = feed.books[NO]
    assert book.bids() == [Level(D("0.7"), D("3400")), Level(D("0.6"), D("3300")), Level(D("0.5"), D("3400"))]
    assert book.is_crossed
    assert book.timestamp_ms == 1_729_084_877_448
    assert feed.stats == FeedStats(snapshots=1, level_changes=3, best_price_mismatches=1, crossed_books=1)
    assert feed.resync_needed == {NO}


def test_real_tick_size_change_and_last_trade_price() -> None:
    tick_token = "115474063863764126958837769719736461272619491980773624567012766320777398670353"
    trade_token = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
    feed = MarketFeed()
    feed.track([tick_token, trade_token])
    feed.books[tick_token].tick_size = TickSize.TICK_0_01
    feed.apply_frame(_capture("ws_messages/tick_size_change.json"))
    feed.apply_frame(_capture("ws_messages/last_trade_price.json"))
    assert feed.books[tick_token].tick_size is TickSize.TICK_0_001
    assert feed.books[trade_token].last_trade_price_micros == 491_000
    assert feed.stats == FeedStats()  # neither is a level change, and neither needs a snapshot


def test_real_best_bid_ask_is_checked() -> None:
    token = "85354956062430465315924116860125388538595433819574542752031640332592237464430"
    frame = _capture("rust_test_data/ws_market_best_bid_ask_msg.json")  # best 0.73 / 0.77
    feed = MarketFeed()
    feed.track([token])
    feed.apply_frame(_frame(_book_event(token, [("0.72", "5"), ("0.73", "1")], [("0.77", "2")])))
    feed.apply_frame(frame)
    assert feed.is_in_sync(token) and feed.stats.best_price_mismatches == 0

    feed.apply_frame(_frame(_book_event(token, [("0.72", "5")], [("0.77", "2")])))
    feed.apply_frame(frame)
    assert feed.stats.best_price_mismatches == 1
    assert feed.resync_needed == {token}


@pytest.mark.parametrize(
    ("capture", "kind"),
    [("ws_market_new_market_msg.json", NewMarketMessage), ("ws_market_resolved_msg.json", MarketResolvedMessage)],
)
def test_custom_feature_market_events_pass_through(feed: MarketFeed, capture: str, kind: type) -> None:
    before = feed.books[YES].bids()
    [event] = feed.apply_frame(_capture(f"rust_test_data/{capture}"))
    assert isinstance(event, kind)
    assert feed.books[YES].bids() == before
    assert feed.stats == FeedStats(snapshots=2)


# --- snapshots then deltas ----------------------------------------------------------------------


def test_snapshot_then_current_deltas(feed: MarketFeed) -> None:
    yes, no = feed.books[YES], feed.books[NO]
    assert yes.best_bid() == Level(D("0.5"), D("15")) and yes.best_ask() == Level(D("0.52"), D("25"))
    assert yes.timestamp_ms == 1_757_908_892_000

    # A bid at 0.51 on YES is an ask at 0.49 on NO: both tokens in one message (venue notes: Market channel).
    feed.apply_frame(
        _frame(
            _price_change(
                _change(YES, "0.51", "BUY", "200", best_bid="0.51", best_ask="0.52"),
                _change(NO, "0.49", "SELL", "200", best_bid="0.47", best_ask="0.49"),
            )
        )
    )
    assert yes.best_bid() == Level(D("0.51"), D("200"))
    assert no.best_ask() == Level(D("0.49"), D("200"))
    assert yes.timestamp_ms == no.timestamp_ms == 1_757_908_892_351

    # The size is the level's new aggregate, not a delta; "0" removes the level.
    feed.apply_frame(
        _frame(
            _price_change(
                _change(YES, "0.53", "SELL", "45", best_bid="0.51", best_ask="0.52"),
                _change(YES, "0.51", "BUY", "0", best_bid="0.5", best_ask="0.52"),
                timestamp="1757908892400",
            )
        )
    )
    assert yes.asks() == [Level(D("0.52"), D("25")), Level(D("0.53"), D("45"))]
    assert yes.bids() == [Level(D("0.5"), D("15")), Level(D("0.49"), D("20")), Level(D("0.48"), D("30"))]
    assert yes.timestamp_ms == 1_757_908_892_400
    assert feed.stats == FeedStats(snapshots=2, level_changes=4)
    assert not feed.resync_needed and feed.is_in_sync(YES) and feed.is_in_sync(NO)


def test_each_run_of_one_asset_is_checked_after_its_last_entry(feed: MarketFeed) -> None:
    # Mid-run the first entry's best prices are stale; only the end of the run counts.
    feed.apply_frame(
        _frame(
            _price_change(
                _change(YES, "0.51", "BUY", "5", best_bid="0.505", best_ask="0.52"),
                _change(YES, "0.505", "BUY", "5", best_bid="0.51", best_ask="0.52"),
                _change(NO, "0.47", "BUY", "0", best_bid="0", best_ask="0.51"),
            )
        )
    )
    assert feed.stats.best_price_mismatches == 0
    assert feed.books[YES].best_bid_micros == 510_000


def test_empty_sides_are_reported_as_0_and_1(feed: MarketFeed) -> None:
    feed.apply_frame(
        _frame(
            _price_change(
                _change(NO, "0.47", "BUY", "0", best_bid="0", best_ask="0.51"),
                _change(NO, "0.51", "SELL", "0", best_bid="0", best_ask="1"),
            )
        )
    )
    assert feed.books[NO].is_empty
    assert feed.stats.best_price_mismatches == 0 and not feed.resync_needed


def test_unreported_best_prices_are_not_checked(feed: MarketFeed) -> None:
    change = _change(YES, "0.51", "BUY", "5")
    change["best_bid"] = ""  # PYSDK fixtures send "" when absent (venue notes: Market channel)
    feed.apply_frame(_frame(_price_change(change, _change(NO, "0.46", "BUY", "5"))))
    assert feed.stats == FeedStats(snapshots=2, level_changes=2)
    assert not feed.resync_needed


@pytest.mark.parametrize(("best_bid", "best_ask"), [("0.49", "0.52"), ("0.5", "0.53"), ("0", "0.52"), ("0.5", "1")])
def test_best_price_disagreement_asks_for_resync_until_a_snapshot(
    feed: MarketFeed, best_bid: str, best_ask: str
) -> None:
    feed.apply_frame(_frame(_price_change(_change(YES, "0.48", "BUY", "31", best_bid=best_bid, best_ask=best_ask))))
    assert feed.books[YES].bids()[-1] == Level(D("0.48"), D("31"))  # applied all the same
    assert feed.stats.best_price_mismatches == 1
    assert feed.resync_needed == {YES}
    assert not feed.is_in_sync(YES) and feed.is_in_sync(NO)

    feed.apply_frame(_frame(_book_event(YES, [("0.5", "1")], [("0.52", "1")])))
    assert not feed.resync_needed and feed.is_in_sync(YES)
    assert feed.books[YES].bids() == [Level(D("0.5"), D("1"))]


def test_legacy_changes_array(feed: MarketFeed) -> None:
    frame = {
        "asset_id": YES,
        "changes": [{"price": "0.52", "side": "SELL", "size": "0"}, {"price": "0.4", "side": "BUY", "size": "3300"}],
        "event_type": "price_change",
        "market": MARKET,
        "timestamp": "1729084877448",
        "hash": "3cd4d61e042c81560c9037ece0c61f3b1a8fbbdd",
    }
    feed.apply_frame(_frame(frame))
    yes = feed.books[YES]
    assert yes.best_ask() == Level(D("0.53"), D("60"))
    assert yes.bids()[-1] == Level(D("0.4"), D("3300"))
    assert yes.timestamp_ms == 1_729_084_877_448
    assert feed.stats == FeedStats(snapshots=2, level_changes=2)


def test_json_array_of_events_applies_in_order() -> None:
    feed = MarketFeed()
    feed.track([YES])
    events = feed.apply_frame(
        _frame(
            [
                _book_event(YES, [("0.4", "10")], [("0.6", "10")]),
                _price_change(_change(YES, "0.45", "BUY", "3", best_bid="0.45", best_ask="0.6")),
                _price_change(_change(YES, "0.45", "BUY", "0", best_bid="0.4", best_ask="0.6")),
            ]
        )
    )
    assert [type(event) for event in events] == [BookMessage, PriceChangeMessage, PriceChangeMessage]
    assert feed.books[YES].bids() == [Level(D("0.4"), D("10"))]
    assert feed.stats == FeedStats(snapshots=1, level_changes=2)


def test_text_frames_work_like_bytes(feed: MarketFeed) -> None:
    feed.apply_frame(json.dumps(_price_change(_change(YES, "0.51", "BUY", "1", best_bid="0.51"))))
    assert feed.books[YES].best_bid_micros == 510_000


# --- tokens not tracked, or not yet snapshotted ---------------------------------------------------


def test_untracked_entries_are_ignored_and_counted(feed: MarketFeed) -> None:
    other = "1" * 77
    feed.apply_frame(
        _frame(
            [
                _price_change(
                    _change(other, "0.3", "BUY", "10", best_bid="0.9", best_ask="0.95"),
                    _change(YES, "0.51", "BUY", "5", best_bid="0.51", best_ask="0.52"),
                ),
                _book_event(other, [("0.3", "1")], []),
                {
                    "event_type": "tick_size_change",
                    "asset_id": other,
                    "market": MARKET,
                    "old_tick_size": "0.01",
                    "new_tick_size": "0.001",
                    "timestamp": "1",
                },
            ]
        )
    )
    assert other not in feed.books
    assert feed.books[YES].best_bid_micros == 510_000
    assert feed.stats == FeedStats(snapshots=2, level_changes=1, untracked_changes=3)
    assert not feed.resync_needed


def test_delta_before_the_first_snapshot_asks_for_resync() -> None:
    feed = MarketFeed()
    feed.track([YES])
    feed.apply_frame(_frame(_price_change(_change(YES, "0.5", "BUY", "10", best_bid="0.5", best_ask="1"))))
    assert feed.books[YES].is_empty
    assert feed.stats == FeedStats(changes_before_snapshot=1)
    assert feed.resync_needed == {YES} and feed.awaiting_snapshot == {YES}

    feed.apply_frame(_frame(_book_event(YES, [("0.5", "10")], [])))
    assert feed.is_in_sync(YES) and not feed.awaiting_snapshot and not feed.resync_needed


def test_track_is_idempotent_and_untrack_forgets(feed: MarketFeed) -> None:
    yes = feed.books[YES]
    feed.track([YES])
    assert feed.books[YES] is yes and feed.is_in_sync(YES)
    feed.apply_frame(_frame(_price_change(_change(YES, "0.1", "BUY", "1", best_bid="0.9"))))
    assert feed.resync_needed == {YES}
    feed.untrack([YES])
    assert YES not in feed.books and not feed.resync_needed and not feed.is_in_sync(YES)
    feed.apply_frame(_frame(_price_change(_change(YES, "0.2", "BUY", "1"))))
    assert feed.stats.untracked_changes == 1
    assert dict(feed.books) == {NO: feed.books[NO]}


def test_books_is_a_read_only_view(feed: MarketFeed) -> None:
    with pytest.raises(TypeError):
        feed.books[YES] = feed.books[NO]  # type: ignore[index]


# --- hashes ---------------------------------------------------------------------------------------


def test_hash_mismatch_is_applied_counted_and_resynced() -> None:
    document = json.loads(_capture("ws_messages/book.json"))
    document["bids"][-1]["size"] = "1304.73"
    feed = MarketFeed()
    feed.track([CAPTURED_TOKEN])
    feed.apply_frame(_frame(document))
    assert feed.books[CAPTURED_TOKEN].best_bid() == Level(D("0.511"), D("1304.73"))
    assert feed.stats == FeedStats(snapshots=1, hash_mismatches=1)
    assert feed.resync_needed == {CAPTURED_TOKEN}
    assert not feed.awaiting_snapshot  # it has a snapshot, just not a trusted one

    # The untampered snapshot restores trust.
    feed.apply_frame(_capture("ws_messages/book.json"))
    assert feed.is_in_sync(CAPTURED_TOKEN)
    assert feed.books[CAPTURED_TOKEN].best_bid() == Level(D("0.511"), D("1304.72"))


@pytest.mark.parametrize("hash_field", [None, "", "absent"])
def test_hashless_snapshot_is_counted_but_not_resynced(hash_field: str | None) -> None:
    document = _book_event(YES, [("0.4", "1")], [("0.6", "1")])
    if hash_field == "absent":
        del document["hash"]
    else:
        document["hash"] = hash_field
    feed = MarketFeed()
    feed.track([YES])
    feed.apply_frame(_frame(document))
    assert feed.stats == FeedStats(snapshots=1, unhashed_snapshots=1)
    assert feed.is_in_sync(YES)


def test_verification_can_be_turned_off() -> None:
    document = _book_event(YES, [("0.4", "1")], [("0.6", "1")])
    document["hash"] = "0" * 40
    feed = MarketFeed(verify_hashes=False)
    feed.track([YES])
    feed.apply_frame(_frame(document))
    assert feed.stats == FeedStats(snapshots=1)
    assert feed.is_in_sync(YES)


def test_snapshot_with_current_summary_fields_sets_tick_and_last_trade() -> None:
    document = _book_event(YES, [("0.4", "1")], [("0.6", "1")])
    document |= {"min_order_size": "5", "tick_size": "0.001", "neg_risk": False, "last_trade_price": "0.45"}
    feed = MarketFeed()
    feed.track([YES])
    feed.apply_frame(_frame(document))
    book = feed.books[YES]
    assert book.tick_size is TickSize.TICK_0_001
    assert book.last_trade_price_micros == 450_000
    assert feed.is_in_sync(YES)  # the legacy-form hash still verifies


# --- frames and values the feed refuses ---------------------------------------------------------


def test_unknown_event_type_is_skipped_and_counted(feed: MarketFeed) -> None:
    events = feed.apply_frame(
        _frame(
            [
                {"event_type": "something_new", "asset_id": YES},
                _price_change(_change(YES, "0.51", "BUY", "5", best_bid="0.51", best_ask="0.52")),
            ]
        )
    )
    assert [type(event) for event in events] == [PriceChangeMessage]
    assert feed.unknown_event_types == {"something_new": 1}
    assert feed.books[YES].best_bid_micros == 510_000


@pytest.mark.parametrize(
    "frame",
    [
        b"not json",
        b"PONG",
        b'{"event_type": "book", "asset_id": "1"}',
        b'[{"event_type": "price_change", "market": "0x", "timestamp": 5}]',
        b'{"asset_id": "1"}',
        b"",
    ],
)
def test_malformed_frame_raises_and_changes_nothing(feed: MarketFeed, frame: bytes) -> None:
    before = (feed.books[YES].bids(), feed.books[YES].asks(), feed.stats)
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(frame)
    assert (feed.books[YES].bids(), feed.books[YES].asks(), feed.stats) == before


@pytest.mark.parametrize(
    "bad_change",
    [
        _change(YES, "abc", "BUY", "5"),
        _change(YES, "0.51", "BUY", "-5"),
        _change(YES, "0.51", "BUY", "1e3"),
        _change(YES, "0.51", "buy", "5"),
        _change(YES, "0.51", "BUY", "5", best_bid="0.5.1"),
        {"asset_id": YES, "price": "0.51", "side": "BUY"},  # no size
    ],
)
def test_invalid_value_refuses_the_entry_marks_the_token_and_keeps_going(
    feed: MarketFeed, bad_change: dict[str, str]
) -> None:
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(
            _frame(_price_change(bad_change, _change(NO, "0.46", "BUY", "5", best_bid="0.47", best_ask="0.51")))
        )
    assert feed.stats.invalid_values == 1
    assert feed.resync_needed == {YES}
    assert feed.books[NO].bids() == [Level(D("0.47"), D("25")), Level(D("0.46"), D("5"))]


def test_invalid_snapshot_leaves_the_book_as_it_was(feed: MarketFeed) -> None:
    before = feed.books[YES].bids()
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(_frame(_book_event(YES, [("0.4", "1"), ("zero", "1")], [])))
    assert feed.books[YES].bids() == before
    assert feed.stats.invalid_values == 1 and feed.stats.snapshots == 2
    assert feed.resync_needed == {YES}


def test_invalid_tick_size_change_marks_the_token(feed: MarketFeed) -> None:
    feed.books[YES].tick_size = TickSize.TICK_0_01
    tick_change = {
        "event_type": "tick_size_change",
        "asset_id": YES,
        "market": MARKET,
        "old_tick_size": "0.01",
        "new_tick_size": "0.02",
        "timestamp": "1",
    }
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(_frame(tick_change))
    assert feed.books[YES].tick_size is TickSize.TICK_0_01
    assert feed.stats.invalid_values == 1 and feed.resync_needed == {YES}


def test_unreadable_delta_timestamp_keeps_the_last_known_one(feed: MarketFeed) -> None:
    feed.apply_frame(_frame(_price_change(_change(YES, "0.51", "BUY", "5"), timestamp="soon")))
    assert feed.books[YES].best_bid_micros == 510_000
    assert feed.books[YES].timestamp_ms == 1_757_908_892_000
    assert feed.stats.invalid_values == 0
