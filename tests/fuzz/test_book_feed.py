"""Property tests of the sans-I/O book feed: sequences of valid and hostile frames and REST answers.

Two kinds of hostility: bytes that are not a venue frame at all (:mod:`tests.fuzz.hostile`), and
frames that decode perfectly but carry values no venue book holds (prices outside (0, 1) or off
the tick grid, sizes beyond any market, a last trade of 7, crossing levels), sent without hashes or
best prices so only the values can give them away. Whatever the sequence, only
:class:`~polyinfra.errors.PolyinfraError` (or nothing) comes out, and after every step every token
that says it is in sync has a book any venue could hold.
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.book_sync import BookSync, Instant
from polyinfra.core.market_feed import MarketFeed
from polyinfra.errors import PolyinfraError
from polyinfra.model.book import MAX_SIZE_MICROS, OrderBook
from polyinfra.model.events import SyncState
from polyinfra.model.numbers import MICROS, Side, TickSize
from polyinfra.wire.clob_rest import OrderBookSummary
from polyinfra.wire.clob_ws import PriceLevel
from tests.fuzz.hostile import hostile_bytes, hostile_numbers

MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
TOKENS = (YES, NO)
CONNECTION = 1
MAX_SIZE = Decimal(MAX_SIZE_MICROS) / MICROS
FINEST_TICK = min(tick.decimal for tick in TickSize)

# --- values ------------------------------------------------------------------------------------------

# Mostly the 0.01 grid the books start on, sometimes a finer one (valid once the tick moves there).
good_prices = st.one_of(
    st.integers(1, 99).map(lambda cents: str(Decimal(cents) / 100)),
    st.integers(1, 999).map(lambda mils: str(Decimal(mils) / 1000)),
)
good_sizes = st.one_of(st.just("0"), st.integers(1, 10**6).map(str), st.just("999999999999.999999"))
bad_prices = st.one_of(
    st.sampled_from(["0", "1", "1.5", "7", "100000000000000000000", "0.00005", "0.4750001", "-0.5", "1e20", "NaN"]),
    hostile_numbers(),
)
bad_sizes = st.sampled_from(["100000000000000000000", "1000000000000.000001", "-5", "1e3", "Infinity", ""])
prices = st.one_of(good_prices, good_prices, bad_prices)
sizes = st.one_of(good_sizes, good_sizes, bad_sizes)
ticks = st.sampled_from([tick.text for tick in TickSize] + ["0.02", "1", "0"])
tokens = st.sampled_from(TOKENS)


def levels(draw: st.DrawFn, price: st.SearchStrategy[str], size: st.SearchStrategy[str]) -> list[dict[str, str]]:
    return [{"price": p, "size": s} for p, s in draw(st.lists(st.tuples(price, size), max_size=4))]


@st.composite
def book_events(draw: st.DrawFn) -> dict[str, Any]:
    """A ``book`` without a hash: sides split at a random price (valid) or anything at all."""
    if draw(st.booleans()):
        split = draw(st.integers(2, 98))
        bids = levels(draw, st.integers(1, split - 1).map(lambda c: str(Decimal(c) / 100)), good_sizes)
        asks = levels(draw, st.integers(split, 99).map(lambda c: str(Decimal(c) / 100)), good_sizes)
    else:
        bids, asks = levels(draw, prices, sizes), levels(draw, prices, sizes)
    event = {"event_type": "book", "asset_id": draw(tokens), "market": MARKET, "bids": bids, "asks": asks}
    event |= {"timestamp": "1000", "tick_size": draw(st.sampled_from(["0.01", "0.001"]) | ticks)}
    if draw(st.booleans()):
        event["last_trade_price"] = draw(prices)
    return event


@st.composite
def price_change_events(draw: st.DrawFn) -> dict[str, Any]:
    """Level changes without hashes or best prices (sometimes with best prices, right or wrong)."""
    changes = []
    for _ in range(draw(st.integers(1, 4))):
        change = {
            "asset_id": draw(tokens),
            "price": draw(prices),
            "side": draw(st.sampled_from(["BUY", "SELL", "buy"])),
        }
        change["size"] = draw(sizes)
        if draw(st.integers(0, 4)) == 0:
            change |= {"best_bid": draw(prices), "best_ask": draw(prices)}
        changes.append(change)
    return {"event_type": "price_change", "market": MARKET, "timestamp": "2000", "price_changes": changes}


@st.composite
def other_events(draw: st.DrawFn) -> dict[str, Any]:
    token = draw(tokens)
    kind = draw(st.sampled_from(["last_trade_price", "tick_size_change", "best_bid_ask"]))
    event: dict[str, Any] = {"event_type": kind, "asset_id": token, "market": MARKET, "timestamp": "3000"}
    if kind == "last_trade_price":
        event |= {"price": draw(prices), "side": "BUY", "size": draw(sizes)}
    elif kind == "tick_size_change":
        event |= {"old_tick_size": "0.01", "new_tick_size": draw(ticks)}
    else:
        event |= {"best_bid": draw(prices), "best_ask": draw(prices), "spread": "0.01"}
    return event


VALID_DOCUMENTS = [
    {
        "event_type": "book",
        "asset_id": YES,
        "market": MARKET,
        "bids": [{"price": "0.48", "size": "30"}],
        "asks": [{"price": "0.52", "size": "25"}],
        "timestamp": "1000",
        "tick_size": "0.01",
        "last_trade_price": "0.5",
    },
    {
        "event_type": "price_change",
        "market": MARKET,
        "timestamp": "2000",
        "price_changes": [{"asset_id": NO, "price": "0.47", "side": "BUY", "size": "10"}],
    },
    {"event_type": "last_trade_price", "asset_id": YES, "market": MARKET, "price": "0.5", "timestamp": "3000"},
]

events = st.one_of(book_events(), price_change_events(), other_events())
venue_shaped_frames = st.lists(events, min_size=1, max_size=3).map(msgspec.json.encode)
# Mostly frames the decoder accepts, so the values reach the books (a bad frame resyncs everything).
frames = st.one_of(venue_shaped_frames, venue_shaped_frames, venue_shaped_frames, hostile_bytes(*VALID_DOCUMENTS))


@st.composite
def rest_summaries(draw: st.DrawFn) -> OrderBookSummary:
    """A REST book answer: a venue's book, or one carrying values no venue book holds."""
    event = draw(book_events())
    return OrderBookSummary(
        market=MARKET,
        asset_id=event["asset_id"],
        timestamp="1000",
        hash="",
        bids=[PriceLevel(**level) for level in event["bids"]],
        asks=[PriceLevel(**level) for level in event["asks"]],
        min_order_size="5",
        tick_size=event["tick_size"],
        neg_risk=False,
        last_trade_price=event.get("last_trade_price", ""),
    )


# A step: a frame on the socket, or the REST answer to whatever snapshot request is due.
frame_steps = frames.map(lambda frame: ("frame", frame))
steps = st.one_of(frame_steps, frame_steps, rest_summaries().map(lambda summary: ("rest", summary)))

# --- the invariant -----------------------------------------------------------------------------------


def assert_venue_book(book: OrderBook) -> None:
    """A book any venue could hold: prices inside (0, 1) on its tick grid, sizes in range, uncrossed."""
    grid = FINEST_TICK if book.tick_size is None else book.tick_size.decimal
    for level in (*book.bids(), *book.asks()):
        assert 0 < level.price < 1, level
        assert level.price % grid == 0, (level, grid)
        assert 0 < level.size <= MAX_SIZE, level
    assert not book.is_crossed, book


def at(seconds: float) -> Instant:
    return Instant(seconds, int(seconds * 1e9))


# --- MarketFeed ---------------------------------------------------------------------------------------


@given(st.lists(frames, max_size=12))
def test_feed_books_in_sync_always_hold_venue_values(sequence: list[bytes]) -> None:
    feed = MarketFeed()
    feed.track(TOKENS)
    feed.apply_frame(msgspec.json.encode([{**VALID_DOCUMENTS[0], "asset_id": token} for token in TOKENS]))
    assert all(feed.is_in_sync(token) for token in TOKENS)
    for frame in sequence:
        with contextlib.suppress(PolyinfraError):
            feed.apply_frame(frame)
        for token in TOKENS:
            if feed.is_in_sync(token):
                assert_venue_book(feed.books[token])


# --- BookSync -----------------------------------------------------------------------------------------


def live_sync() -> BookSync:
    sync = BookSync(random=lambda: 0.5)
    sync.emit_events = True
    sync.add(TOKENS, CONNECTION, at(0))
    sync.connection_proven(CONNECTION, at(0))
    request = sync.take_snapshot_batch(at(0), 10)
    assert request is not None
    good = [
        OrderBookSummary(MARKET, token, "1000", "", [PriceLevel("0.48", "30")], [PriceLevel("0.52", "25")], "5", "0.01")
        for token in TOKENS
    ]
    sync.apply_snapshots(request, good, at(0))
    assert all(sync.states[token] is SyncState.LIVE for token in TOKENS)
    return sync


@given(st.lists(steps, max_size=12))
def test_sync_tokens_live_always_hold_venue_values(sequence: list[tuple[str, Any]]) -> None:
    sync = live_sync()
    for index, (kind, payload) in enumerate(sequence, start=1):
        now = at(index * 60.0)  # past any retry delay: every step may answer a due snapshot request
        if kind == "frame":
            with contextlib.suppress(PolyinfraError):
                sync.receive_frame(CONNECTION, payload, now)
        else:
            request = sync.take_snapshot_batch(now, 10)
            if request is not None:
                sync.apply_snapshots(request, [payload], now)
        sync.take_events()
        for token in TOKENS:
            if sync.states[token] is SyncState.LIVE:
                assert_venue_book(sync.books[token])


# --- book analytics ----------------------------------------------------------------------------------

amounts = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    hostile_numbers().map(Decimal),
    hostile_numbers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([10**100_000, -(10**100_000)]),
)


@given(amounts, st.sampled_from([Side.BUY, Side.SELL]), st.integers(min_value=-5, max_value=10**30))
def test_book_analytics_answer_or_refuse_typed(amount: Any, side: Side, count: int) -> None:
    book = OrderBook(YES, tick_size=TickSize.TICK_0_01)
    book.apply_snapshot({480_000: 30 * MICROS, 470_000: MAX_SIZE_MICROS}, {520_000: 25 * MICROS})
    for read in (
        book.buy_cost,
        book.sell_proceeds,
        book.shares_for_dollars,
        lambda value: book.slippage(side, value),
        lambda _: book.depth(side, count),
        lambda _: book.bids(count),
    ):
        with contextlib.suppress(PolyinfraError):
            read(amount)
