"""Values no venue book holds never enter a book that says it is in sync (issue 9 §5).

Each probe is sent the way that slipped through before: with hashes and best prices omitted (the
venue may leave both out), so only the values themselves can give the book away. Every probe runs
against both entry paths (the market channel and REST snapshots) and both sans-I/O cores
(:class:`MarketFeed` and :class:`BookSync`): the book never holds the value while its token says
it is in sync, and the token resyncs.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from polyinfra.core.book_sync import BookSync, Instant, SyncReason
from polyinfra.core.from_wire import order_book_from_summary
from polyinfra.core.market_feed import MarketFeed
from polyinfra.errors import InvalidNumberError, MalformedMessageError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import SyncState, SyncStateChanged, TradePrinted
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import (
    BookMessage,
    LastTradePriceMessage,
    MarketEvent,
    PriceChange,
    PriceChangeMessage,
    PriceLevel,
    TickSizeChangeMessage,
)

MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
CONNECTION = 1
HUGE = "100000000000000000000"  # 1e20 as the venue writes numbers: digits only

# The book every probe starts from: tick 0.01, bids 0.48 x 30, asks 0.52 x 25.
BIDS = [("0.48", "30")]
ASKS = [("0.52", "25")]

# (probe id, side, price, size, the price that must never be in an in-sync book)
BAD_LEVELS = [
    ("price 0", "BUY", "0", "10", "0"),
    ("price 1", "SELL", "1", "10", "1"),
    ("price 1.5", "SELL", "1.5", "10", "1.5"),
    ("price 1e20", "SELL", HUGE, "10", HUGE),
    ("size 1e20", "BUY", "0.47", HUGE, "0.47"),
    ("off tick", "BUY", "0.475", "10", "0.475"),
]


def at(seconds: float) -> Instant:
    return Instant(seconds, int(seconds * 1e9))


def levels(pairs: list[tuple[str, str]]) -> list[PriceLevel]:
    return [PriceLevel(price, size) for price, size in pairs]


def book_event(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], *, last_trade_price: str = "0.5"
) -> BookMessage:
    """A `book` event without a hash."""
    return BookMessage(
        asset_id=YES,
        market=MARKET,
        bids=levels(bids),
        asks=levels(asks),
        timestamp="1000",
        tick_size="0.01",
        last_trade_price=last_trade_price,
    )


def rest_summary(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], *, last_trade_price: str = "0.5"
) -> OrderBookSummary:
    """A REST summary without a hash."""
    return OrderBookSummary(
        market=MARKET,
        asset_id=YES,
        timestamp="1000",
        hash="",
        bids=levels(bids),
        asks=levels(asks),
        min_order_size="5",
        tick_size="0.01",
        neg_risk=False,
        last_trade_price=last_trade_price,
    )


def price_change(*changes: tuple[str, str, str]) -> PriceChangeMessage:
    """Level changes of YES without best prices or hashes."""
    return PriceChangeMessage(
        market=MARKET,
        timestamp="2000",
        price_changes=[PriceChange(YES, price, side, size) for side, price, size in changes],
    )


def last_trade(price: str, size: str = "5") -> LastTradePriceMessage:
    return LastTradePriceMessage(asset_id=YES, market=MARKET, price=price, timestamp="2000", side="BUY", size=size)


def tick_size_change(old: str, new: str) -> TickSizeChangeMessage:
    return TickSizeChangeMessage(asset_id=YES, market=MARKET, old_tick_size=old, new_tick_size=new, timestamp="2000")


def frame(*events: MarketEvent) -> bytes:
    return msgspec.json.encode(list(events))


def prices(book: OrderBook) -> set[Decimal]:
    return {level.price for level in (*book.bids(), *book.asks())}


def live_feed() -> MarketFeed:
    feed = MarketFeed()
    feed.track([YES])
    feed.apply_frame(frame(book_event(BIDS, ASKS)))
    assert feed.is_in_sync(YES)
    return feed


def live_sync() -> BookSync:
    """YES LIVE on a proven connection, from an unhashed REST snapshot."""
    sync = BookSync(random=lambda: 0.0)
    sync.add([YES], CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 10)
    assert request is not None
    sync.apply_snapshots(request, [rest_summary(BIDS, ASKS)], at(0.1))
    assert sync.states[YES] is SyncState.LIVE
    sync.emit_events = True
    return sync


def resynced(sync: BookSync, reason: SyncReason) -> bool:
    """YES left LIVE for ``reason`` and waits for a fresh snapshot."""
    moves = [event for event in sync.take_events() if isinstance(event, SyncStateChanged)]
    return (
        sync.states[YES] is SyncState.STALE
        and sync.snapshots_wanted
        and [(move.new, move.reason) for move in moves] == [(SyncState.STALE, reason)]
    )


# --- level probes: price_change ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "price", "size", "held"), [probe[1:] for probe in BAD_LEVELS], ids=[probe[0] for probe in BAD_LEVELS]
)
def test_feed_refuses_a_price_change_no_book_holds(side: str, price: str, size: str, held: str) -> None:
    feed = live_feed()
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(frame(price_change((side, price, size))))
    assert Decimal(held) not in prices(feed.books[YES])
    assert not feed.is_in_sync(YES)
    assert feed.stats.invalid_values == 1


@pytest.mark.parametrize(
    ("side", "price", "size", "held"), [probe[1:] for probe in BAD_LEVELS], ids=[probe[0] for probe in BAD_LEVELS]
)
def test_sync_refuses_a_price_change_no_book_holds(side: str, price: str, size: str, held: str) -> None:
    sync = live_sync()
    with pytest.raises(MalformedMessageError):
        sync.receive_frame(CONNECTION, frame(price_change((side, price, size))), at(1))
    assert Decimal(held) not in prices(sync.books[YES])
    assert resynced(sync, SyncReason.INVALID_VALUE)
    assert sync.invalid_values == 1


# --- level probes: snapshots -----------------------------------------------------------------------


def _with_level(side: str, price: str, size: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return ([*BIDS, (price, size)], ASKS) if side == "BUY" else (BIDS, [(price, size), *ASKS])


@pytest.mark.parametrize(
    ("side", "price", "size", "held"), [probe[1:] for probe in BAD_LEVELS], ids=[probe[0] for probe in BAD_LEVELS]
)
def test_feed_refuses_a_snapshot_no_book_holds(side: str, price: str, size: str, held: str) -> None:
    bids, asks = _with_level(side, price, size)
    feed = live_feed()
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(frame(book_event(bids, asks)))
    with pytest.raises(MalformedMessageError):
        feed.apply_book_summary(rest_summary(bids, asks))
    assert Decimal(held) not in prices(feed.books[YES])
    assert not feed.is_in_sync(YES)

    first = MarketFeed()
    first.track([YES])
    with pytest.raises(MalformedMessageError):
        first.apply_frame(frame(book_event(bids, asks)))
    assert first.books[YES].is_empty and not first.is_in_sync(YES)


@pytest.mark.parametrize(
    ("side", "price", "size", "held"), [probe[1:] for probe in BAD_LEVELS], ids=[probe[0] for probe in BAD_LEVELS]
)
def test_sync_refuses_a_socket_snapshot_no_book_holds(side: str, price: str, size: str, held: str) -> None:
    sync = live_sync()
    with pytest.raises(MalformedMessageError):
        sync.receive_frame(CONNECTION, frame(book_event(*_with_level(side, price, size))), at(1))
    assert Decimal(held) not in prices(sync.books[YES])
    assert resynced(sync, SyncReason.INVALID_VALUE)


@pytest.mark.parametrize(
    ("side", "price", "size", "held"), [probe[1:] for probe in BAD_LEVELS], ids=[probe[0] for probe in BAD_LEVELS]
)
def test_sync_refuses_a_rest_snapshot_no_book_holds(side: str, price: str, size: str, held: str) -> None:
    sync = live_sync()
    sync.request_resync([YES], SyncReason.AUDIT, at(1))
    request = sync.take_snapshot_batch(at(1), 10)
    assert request is not None
    sync.take_events()
    sync.apply_snapshots(request, [rest_summary(*_with_level(side, price, size))], at(1.1))
    assert Decimal(held) not in prices(sync.books[YES])
    assert sync.states[YES] is SyncState.STALE and sync.snapshots_wanted
    assert sync.stats.resyncs_by_reason[SyncReason.INVALID_VALUE] == 1


@pytest.mark.parametrize(
    ("side", "price", "size"), [probe[1:4] for probe in BAD_LEVELS], ids=[probe[0] for probe in BAD_LEVELS]
)
def test_a_rest_book_no_venue_holds_is_refused(side: str, price: str, size: str) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        order_book_from_summary(rest_summary(*_with_level(side, price, size)))
    assert caught.value.context["token_id"] == YES


# --- crossed books -------------------------------------------------------------------------------


def test_feed_resyncs_a_book_a_price_change_crossed() -> None:
    feed = live_feed()
    feed.apply_frame(frame(price_change(("BUY", "0.53", "5"))))
    assert feed.books[YES].is_crossed
    assert not feed.is_in_sync(YES)
    assert feed.stats.crossed_books == 1


def test_sync_resyncs_a_book_a_price_change_crossed() -> None:
    sync = live_sync()
    sync.receive_frame(CONNECTION, frame(price_change(("SELL", "0.47", "5"))), at(1))
    assert resynced(sync, SyncReason.CROSSED_BOOK)


def test_a_book_crossed_only_within_a_message_stays_in_sync() -> None:
    # A taker's remainder rests at 0.53 once the 0.52 ask it took is gone: the venue may list the
    # new level first. Only the book after the whole message counts.
    feed = live_feed()
    feed.apply_frame(frame(price_change(("BUY", "0.53", "5"), ("SELL", "0.52", "0"))))
    assert not feed.books[YES].is_crossed
    assert feed.is_in_sync(YES) and feed.stats.crossed_books == 0


def test_crossed_snapshots_resync() -> None:
    crossed = ([("0.53", "5")], ASKS)
    feed = live_feed()
    feed.apply_frame(frame(book_event(*crossed)))
    assert not feed.is_in_sync(YES) and feed.stats.crossed_books == 1

    sync = live_sync()
    sync.receive_frame(CONNECTION, frame(book_event(*crossed)), at(1))
    assert resynced(sync, SyncReason.CROSSED_BOOK)

    sync = live_sync()
    sync.request_resync([YES], SyncReason.AUDIT, at(1))
    request = sync.take_snapshot_batch(at(1), 10)
    assert request is not None
    sync.apply_snapshots(request, [rest_summary(*crossed)], at(1.1))
    assert sync.states[YES] is SyncState.STALE and sync.snapshots_wanted
    assert sync.stats.resyncs_by_reason[SyncReason.CROSSED_BOOK] == 1


# --- last trades -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("price", "size"), [("7", "5"), ("0", "5"), ("1", "5"), ("0.5", HUGE)])
def test_a_last_trade_no_market_prints_is_refused(price: str, size: str) -> None:
    feed = live_feed()
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(frame(last_trade(price, size)))
    assert feed.books[YES].last_trade_price_micros == 500_000
    assert not feed.is_in_sync(YES)

    sync = live_sync()
    with pytest.raises(MalformedMessageError):
        sync.receive_frame(CONNECTION, frame(last_trade(price, size)), at(1))
    assert sync.books[YES].last_trade_price_micros == 500_000
    assert resynced(sync, SyncReason.INVALID_VALUE)  # and no TradePrinted


def test_a_snapshot_with_a_last_trade_of_7_is_refused() -> None:
    feed = live_feed()
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(frame(book_event(BIDS, [("0.51", "5")], last_trade_price="7")))
    assert feed.books[YES].best_ask_micros == 520_000 and not feed.is_in_sync(YES)
    with pytest.raises(InvalidNumberError):
        order_book_from_summary(rest_summary(BIDS, ASKS, last_trade_price="7"))


# --- tick sizes --------------------------------------------------------------------------------------


def test_a_finer_tick_admits_its_prices() -> None:
    feed = live_feed()
    feed.apply_frame(frame(tick_size_change("0.01", "0.001"), price_change(("BUY", "0.475", "10"))))
    assert Decimal("0.475") in prices(feed.books[YES])
    assert feed.is_in_sync(YES)


def test_a_tick_that_leaves_levels_off_its_grid_resyncs() -> None:
    feed = live_feed()
    feed.apply_frame(frame(tick_size_change("0.01", "0.1")))
    assert not feed.is_in_sync(YES) and feed.stats.off_tick_books == 1

    sync = live_sync()
    sync.receive_frame(CONNECTION, frame(tick_size_change("0.01", "0.1")), at(1))
    assert resynced(sync, SyncReason.OFF_TICK_LEVELS)


def test_an_unknown_tick_size_still_admits_only_the_finest_grid() -> None:
    feed = MarketFeed()
    feed.track([YES])
    legacy = msgspec.structs.replace(book_event(BIDS, ASKS), tick_size=msgspec.UNSET)
    feed.apply_frame(frame(legacy))
    assert feed.books[YES].tick_size is None and feed.is_in_sync(YES)
    feed.apply_frame(frame(price_change(("BUY", "0.4801", "1"))))  # on the 0.0001 grid
    with pytest.raises(MalformedMessageError):
        feed.apply_frame(frame(price_change(("BUY", "0.48005", "1"))))
    assert Decimal("0.48005") not in prices(feed.books[YES])
    assert not feed.is_in_sync(YES)


# --- timestamps ----------------------------------------------------------------------------------------


def test_a_timestamp_of_thousands_of_digits_leaves_the_book_undated() -> None:
    # int() refuses more than 4,300 digits with a ValueError, which used to escape the feed.
    endless = "1" * 5_000
    feed = live_feed()
    feed.apply_frame(frame(msgspec.structs.replace(price_change(("BUY", "0.47", "1")), timestamp=endless)))
    feed.apply_frame(frame(msgspec.structs.replace(book_event(BIDS, ASKS), timestamp=endless)))
    assert feed.books[YES].timestamp_ms is None and feed.is_in_sync(YES)

    sync = live_sync()
    sync.receive_frame(CONNECTION, frame(msgspec.structs.replace(last_trade("0.5"), timestamp=endless)), at(1))
    sync.receive_frame(CONNECTION, frame(msgspec.structs.replace(book_event(BIDS, ASKS), timestamp=endless)), at(1))
    trades = [event for event in sync.take_events() if isinstance(event, TradePrinted)]
    assert [trade.venue_timestamp_ms for trade in trades] == [None]
    assert sync.states[YES] is SyncState.LIVE
