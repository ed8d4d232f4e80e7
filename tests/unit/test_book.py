"""OrderBook: the int fast path, the Decimal reads, and fill estimates, with hand-computed numbers."""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, Decimal, localcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.book import Depth, FillEstimate, Level, OrderBook
from polyinfra.model.numbers import Side, TickSize, parse_micros, to_micros

D = Decimal


def _book(bids: dict[str, str], asks: dict[str, str], *, tick: TickSize | None = None) -> OrderBook:
    book = OrderBook("token", market="0xmarket", tick_size=tick)
    book.apply_snapshot(
        [(parse_micros(price), parse_micros(size)) for price, size in bids.items()],
        [(parse_micros(price), parse_micros(size)) for price, size in asks.items()],
        timestamp_ms=1_757_908_892_351,
    )
    return book


@pytest.fixture
def book() -> OrderBook:
    """bids 0.48x30 0.49x20 0.50x15 | asks 0.52x25 0.53x60 0.54x10 (the venue docs' example shape)."""
    return _book({"0.48": "30", "0.49": "20", "0.50": "15"}, {"0.52": "25", "0.53": "60", "0.54": "10"})


# --- state and reads ---------------------------------------------------------------------------


def test_new_book_is_empty() -> None:
    book = OrderBook("123", market="0xabc", tick_size=TickSize.TICK_0_01)
    assert (book.token_id, book.market, book.tick_size) == ("123", "0xabc", TickSize.TICK_0_01)
    assert book.is_empty and not book.is_one_sided and not book.is_crossed
    assert book.best_bid_micros is None and book.best_ask_micros is None
    assert book.best_bid() is None and book.best_ask() is None
    assert book.bids() == [] and book.asks() == []
    assert book.mid() is None and book.spread() is None
    assert book.timestamp_ms is None and book.last_trade_price_micros is None
    assert book.depth(Side.BUY, 5) == Depth(D(0), D(0), 0)
    assert book.buy_cost(10) == FillEstimate(D(10), D(0), D(0), None, None, complete=False)
    assert book.buy_cost(0) == FillEstimate(D(0), D(0), D(0), None, None, complete=True)
    assert book.slippage(Side.BUY, 10) is None


def test_two_sided_book_reads(book: OrderBook) -> None:
    assert book.best_bid_micros == 500_000 and book.best_ask_micros == 520_000
    assert book.best_bid() == Level(D("0.50"), D("15"))
    assert book.best_ask() == Level(D("0.52"), D("25"))
    assert book.bids() == [Level(D("0.5"), D("15")), Level(D("0.49"), D("20")), Level(D("0.48"), D("30"))]
    assert book.asks() == [Level(D("0.52"), D("25")), Level(D("0.53"), D("60")), Level(D("0.54"), D("10"))]
    assert book.bids(2) == [Level(D("0.5"), D("15")), Level(D("0.49"), D("20"))]
    assert book.asks(1) == [Level(D("0.52"), D("25"))]
    assert book.asks(0) == [] and len(book.bids(10)) == 3
    assert book.mid() == D("0.51")
    assert book.spread() == D("0.02")
    assert not book.is_empty and not book.is_one_sided and not book.is_crossed
    assert book.timestamp_ms == 1_757_908_892_351
    # Exact and normalised, whatever the caller's context says.
    assert str(book.best_bid().price) == "0.5"  # type: ignore[union-attr]
    assert "bids=3" in repr(book) and "best_ask=520000" in repr(book)


def test_mid_can_fall_between_micro_units() -> None:
    book = _book({"0.000001": "1"}, {"0.000002": "1"})
    assert book.mid() == D("0.0000015")
    assert book.spread() == D("0.000001")


def test_one_sided_book() -> None:
    book = _book({"0.3": "100"}, {})
    assert book.is_one_sided and not book.is_empty and not book.is_crossed
    assert book.best_ask() is None and book.mid() is None and book.spread() is None
    assert book.buy_cost(5) == FillEstimate(D(5), D(0), D(0), None, None, complete=False)
    assert book.sell_proceeds(5) == FillEstimate(D(5), D(5), D("1.5"), D("0.3"), D("0.3"), complete=True)
    assert book.slippage(Side.SELL, 5) is None  # no mid to compare with


@pytest.mark.parametrize(
    ("bid", "ask", "spread"),
    [("0.55", "0.50", "-0.05"), ("0.5", "0.5", "0")],
)
def test_crossed_or_locked_book_is_flagged(bid: str, ask: str, spread: str) -> None:
    book = _book({bid: "10"}, {ask: "10"})
    assert book.is_crossed
    assert book.spread() == D(spread)


# (tick, best bid one tick under 0.5, best ask two ticks over 0.5, mid, spread), by hand.
TICK_BOOKS = [
    (TickSize.TICK_0_1, "0.4", "0.7", D("0.55"), D("0.3")),
    (TickSize.TICK_0_01, "0.49", "0.52", D("0.505"), D("0.03")),
    (TickSize.TICK_0_001, "0.499", "0.502", D("0.5005"), D("0.003")),
    (TickSize.TICK_0_0001, "0.4999", "0.5002", D("0.50005"), D("0.0003")),
    (TickSize.TICK_0_005, "0.495", "0.51", D("0.5025"), D("0.015")),
    (TickSize.TICK_0_0025, "0.4975", "0.505", D("0.50125"), D("0.0075")),
]


@pytest.mark.parametrize(("tick", "bid", "ask", "mid", "spread"), TICK_BOOKS)
def test_every_tick_size(tick: TickSize, bid: str, ask: str, mid: Decimal, spread: Decimal) -> None:
    book = _book({bid: "7"}, {ask: "3"}, tick=tick)
    assert book.tick_size is tick
    assert tick.is_on_grid(book.best_bid_micros)  # type: ignore[arg-type]
    assert tick.is_on_grid(book.best_ask_micros)  # type: ignore[arg-type]
    assert book.mid() == mid
    assert book.spread() == spread
    estimate = book.buy_cost(3)
    assert (estimate.amount, estimate.average_price, estimate.complete) == (D(ask) * 3, D(ask), True)


def test_tick_size_can_change() -> None:
    book = _book({"0.97": "10"}, {"0.98": "10"}, tick=TickSize.TICK_0_01)
    book.tick_size = TickSize.TICK_0_001  # what tick_size_change does near the extremes (venue notes: Market channel)
    assert book.tick_size is TickSize.TICK_0_001
    assert book.best_bid() == Level(D("0.97"), D("10"))


def test_dust_sizes() -> None:
    book = _book({"0.001": "0.000001"}, {"0.999": "0.000001", "0.5": "0.000003"})
    assert book.best_ask() == Level(D("0.5"), D("0.000003"))
    # 0.000003 x 0.5 + 0.000001 x 0.999 = 0.0000015 + 0.000000999
    assert book.buy_cost("0.000004") == FillEstimate(
        D("0.000004"), D("0.000004"), D("0.000002499"), D("0.62475"), D("0.999"), complete=True
    )
    assert book.sell_proceeds("0.000001") == FillEstimate(
        D("0.000001"), D("0.000001"), D("0.000000001"), D("0.001"), D("0.001"), complete=True
    )
    # One micro-dollar buys two micro-shares at 0.5.
    assert book.shares_for_dollars("0.000001") == FillEstimate(
        D("0.000001"), D("0.000002"), D("0.000001"), D("0.5"), D("0.5"), complete=True
    )


# --- snapshots and level changes ---------------------------------------------------------------


def test_snapshot_replaces_everything(book: OrderBook) -> None:
    book.apply_snapshot([(400_000, 5_000_000)], [], timestamp_ms=2)
    assert book.bids() == [Level(D("0.4"), D("5"))]
    assert book.asks() == [] and book.best_ask_micros is None
    assert book.timestamp_ms == 2


def test_snapshot_takes_levels_in_any_order_skips_zero_and_keeps_the_last_repeat() -> None:
    book = OrderBook("t")
    book.apply_snapshot(
        [(480_000, 1), (500_000, 2), (490_000, 0), (470_000, 3), (500_000, 4)],
        {530_000: 5, 520_000: 6, 540_000: 0},
    )
    assert [level.price for level in book.bids()] == [D("0.5"), D("0.48"), D("0.47")]
    assert book.best_bid() == Level(D("0.5"), D("0.000004"))
    assert book.asks() == [Level(D("0.52"), D("0.000006")), Level(D("0.53"), D("0.000005"))]


def test_snapshot_does_not_alias_the_callers_mapping() -> None:
    bids = {480_000: 1_000_000}
    book = OrderBook("t")
    book.apply_snapshot(bids, {})
    bids[490_000] = 1_000_000
    assert book.bids() == [Level(D("0.48"), D("1"))]


def test_set_level_adds_updates_and_removes(book: OrderBook) -> None:
    book.set_bid(510_000, 7_000_000)  # a new best bid
    assert book.best_bid() == Level(D("0.51"), D("7"))
    book.set_bid(510_000, 2_500_000)  # the new aggregate size, not a delta
    assert book.best_bid() == Level(D("0.51"), D("2.5"))
    book.set_bid(510_000, 0)
    assert book.best_bid() == Level(D("0.5"), D("15"))
    book.set_bid(510_000, 0)  # removing a missing level is a no-op
    book.set_ask(100_000, 0)
    assert len(book.bids()) == 3 and len(book.asks()) == 3
    book.set_ask(520_000, 0)  # the best ask goes: the next one is best
    assert book.best_ask_micros == 530_000
    book.set_ask(515_000, 1_000_000)
    assert book.best_ask_micros == 515_000
    book.set_level(Side.BUY, 480_000, 0)
    book.set_level(Side.SELL, 540_000, 4_000_000)
    assert [level.price for level in book.bids()] == [D("0.5"), D("0.49")]
    assert book.asks() == [Level(D("0.515"), D("1")), Level(D("0.53"), D("60")), Level(D("0.54"), D("4"))]


def test_removing_every_level_empties_the_sides(book: OrderBook) -> None:
    for price in (480_000, 490_000, 500_000):
        book.set_bid(price, 0)
    assert book.best_bid_micros is None and book.is_one_sided
    for price in (520_000, 530_000, 540_000):
        book.set_ask(price, 0)
    assert book.best_ask_micros is None and book.is_empty


def test_clear(book: OrderBook) -> None:
    book.last_trade_price_micros = 510_000
    book.clear()
    assert book.is_empty and book.timestamp_ms is None and book.last_trade_price_micros is None
    assert book.token_id == "token" and book.market == "0xmarket"


# --- depth, cost, proceeds, slippage -----------------------------------------------------------


def test_depth(book: OrderBook) -> None:
    # 0.5 x 15 + 0.49 x 20 = 7.5 + 9.8
    assert book.depth(Side.BUY, 2) == Depth(D("35"), D("17.3"), 2)
    # 0.52 x 25 + 0.53 x 60 + 0.54 x 10 = 13 + 31.8 + 5.4; only 3 levels exist
    assert book.depth(Side.SELL, 5) == Depth(D("95"), D("50.2"), 3)
    assert book.depth(Side.SELL, 0) == Depth(D(0), D(0), 0)


def test_buy_cost_walks_the_asks(book: OrderBook) -> None:
    # 25 x 0.52 + 25 x 0.53 = 13 + 13.25
    assert book.buy_cost(50) == FillEstimate(D(50), D(50), D("26.25"), D("0.525"), D("0.53"), complete=True)
    assert book.buy_cost("25") == FillEstimate(D(25), D(25), D("13"), D("0.52"), D("0.52"), complete=True)


def test_buy_cost_beyond_the_book_is_incomplete(book: OrderBook) -> None:
    estimate = book.buy_cost(D("100"))
    assert estimate.requested == D(100)
    assert estimate.filled_shares == D(95)
    assert estimate.amount == D("50.2")
    # 50.2 / 95 = 251/475, which does not terminate: 60 significant digits.
    assert estimate.average_price == D("0.528421052631578947368421052631578947368421052631578947368421")
    assert estimate.worst_price == D("0.54")
    assert not estimate.complete


def test_sell_proceeds_walk_the_bids(book: OrderBook) -> None:
    # 15 x 0.5 + 20 x 0.49 + 5 x 0.48 = 7.5 + 9.8 + 2.4
    assert book.sell_proceeds(40) == FillEstimate(D(40), D(40), D("19.7"), D("0.4925"), D("0.48"), complete=True)
    # 31.7 / 65 repeats "076923": 60 significant digits.
    average = D("0.487692307692307692307692307692307692307692307692307692307692")
    assert book.sell_proceeds(70) == FillEstimate(D(70), D(65), D("31.7"), average, D("0.48"), complete=False)


def test_shares_for_dollars(book: OrderBook) -> None:
    # $13 takes all 25 at 0.52; the other $7 buys 7 / 0.53 = 13.2075471... floored to 13.207547
    # shares, which cost 6.99999991.
    estimate = book.shares_for_dollars(20)
    assert estimate.requested == D(20)
    assert estimate.filled_shares == D("38.207547")
    assert estimate.amount == D("19.99999991")
    assert estimate.worst_price == D("0.53")
    assert estimate.complete
    assert estimate.average_price is not None
    assert abs(estimate.average_price * D("38.207547") - D("19.99999991")) < D("1E-50")


def test_shares_for_dollars_exactly_the_whole_book_and_beyond(book: OrderBook) -> None:
    average = D("0.528421052631578947368421052631578947368421052631578947368421")
    assert book.shares_for_dollars("50.2") == FillEstimate(
        D("50.2"), D(95), D("50.2"), average, D("0.54"), complete=True
    )
    beyond = book.shares_for_dollars(100)
    assert (beyond.filled_shares, beyond.amount, beyond.complete) == (D(95), D("50.2"), False)


def test_shares_for_dollars_with_too_little_for_a_micro_share() -> None:
    book = _book({}, {"0.5": "10"})
    assert book.shares_for_dollars("0") == FillEstimate(D(0), D(0), D(0), None, None, complete=True)


def test_slippage(book: OrderBook) -> None:
    assert book.slippage(Side.BUY, 50) == D("0.015")  # VWAP 0.525 - mid 0.51
    assert book.slippage(Side.SELL, 40) == D("0.0175")  # mid 0.51 - VWAP 0.4925
    assert book.slippage(Side.BUY, 25) == D("0.01")  # the best ask is half the spread away
    assert book.slippage(Side.BUY, 0) is None  # nothing fills


def test_deep_sweep_across_99_levels() -> None:
    prices = [f"0.{cents:02d}" for cents in range(1, 100)]
    book = _book(dict.fromkeys(prices, "100"), {})
    asks = _book({}, dict.fromkeys(prices, "100"))
    # 100 x (0.01 + ... + 0.99) = 100 x 49.5
    assert asks.buy_cost(9900) == FillEstimate(D(9900), D(9900), D("4950"), D("0.5"), D("0.99"), complete=True)
    # 100 x 0.01 + 50 x 0.02 = 2, average 2/150
    small = asks.buy_cost(150)
    assert (small.amount, small.worst_price) == (D("2"), D("0.02"))
    assert small.average_price == D("0.0133333333333333333333333333333333333333333333333333333333333")
    # 100 x 0.99 + 100 x 0.98 + 50 x 0.97 = 99 + 98 + 48.5
    assert book.sell_proceeds(250) == FillEstimate(D(250), D(250), D("245.5"), D("0.982"), D("0.97"), complete=True)
    # 100 x (0.99 + 0.98 + ... + 0.90) = 100 x 9.45
    assert book.depth(Side.BUY, 10) == Depth(D("1000"), D("945"), 10)
    assert asks.shares_for_dollars("4950") == FillEstimate(
        D("4950"), D(9900), D("4950"), D("0.5"), D("0.99"), complete=True
    )


def test_results_do_not_depend_on_the_callers_decimal_context(book: OrderBook) -> None:
    with localcontext() as context:
        context.prec = 3
        context.rounding = ROUND_DOWN
        estimate = book.buy_cost(100)
        assert book.mid() == D("0.51")
    assert estimate.average_price == D("0.528421052631578947368421052631578947368421052631578947368421")


# --- bad inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize("shares", [0.5, True, "-1", "1e3", "0.0000001", D("NaN"), D("-0.1"), None])
def test_amounts_must_be_exact_non_negative_decimals(book: OrderBook, shares: object) -> None:
    for method in (book.buy_cost, book.sell_proceeds, book.shares_for_dollars):
        with pytest.raises(InvalidNumberError):
            method(shares)  # type: ignore[arg-type]
    with pytest.raises(InvalidNumberError):
        book.slippage(Side.BUY, shares)  # type: ignore[arg-type]


HOSTILE_AMOUNTS = [
    D("1e60"),
    D("-1e60"),
    D("1e999990"),
    D("-9.99e999999"),
    D("1e-999999"),
    D("1E+16"),
    D("sNaN"),
    D("Infinity"),
    10**100_000,
    -(10**100_000),
    10**15,
    "1" + "0" * 4_000,
]


@pytest.mark.parametrize("amount", HOSTILE_AMOUNTS, ids=[f"hostile{index}" for index in range(len(HOSTILE_AMOUNTS))])
def test_hostile_amounts_are_refused_typed_and_cheap(book: OrderBook, amount: object) -> None:
    # Before the bound these raised decimal.Overflow, or ran for a minute (1e999990 as an int).
    for method in (book.buy_cost, book.sell_proceeds, book.shares_for_dollars):
        with pytest.raises(InvalidNumberError) as caught:
            method(amount)  # type: ignore[arg-type]
        str(caught.value)  # printable, even for an int too long for str()
    with pytest.raises(InvalidNumberError):
        book.slippage(Side.SELL, amount)  # type: ignore[arg-type]


def test_the_largest_amount_is_answered(book: OrderBook) -> None:
    # Amounts are bounded where every amount is (to_micros): below 10**15, more than any book fills.
    estimate = book.buy_cost(10**15 - 1)
    assert estimate.requested == 10**15 - 1 and not estimate.complete
    assert book.shares_for_dollars(D("999999999999999")).filled_shares == book.depth(Side.SELL, 99).shares


def test_level_counts_beyond_any_book_list_everything(book: OrderBook) -> None:
    huge = 10**30
    assert book.bids(huge) == book.bids() and book.asks(huge) == book.asks()
    assert book.depth(Side.BUY, huge) == book.depth(Side.BUY, 3)


@pytest.mark.parametrize("levels", [-1, 1.0, True, "2"])
def test_level_counts_must_be_non_negative_ints(book: OrderBook, levels: object) -> None:
    with pytest.raises(InvalidValueError):
        book.depth(Side.BUY, levels)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        book.bids(levels)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        book.asks(levels)  # type: ignore[arg-type]


def test_depth_needs_a_level_count_where_a_listing_does_not(book: OrderBook) -> None:
    with pytest.raises(InvalidValueError):
        book.depth(Side.BUY, None)  # type: ignore[arg-type]
    assert len(book.bids(None)) == 3


@pytest.mark.parametrize("side", ["buy", "BID", None, 1])
def test_side_must_be_a_side(book: OrderBook, side: object) -> None:
    with pytest.raises(InvalidValueError):
        book.depth(side, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        book.slippage(side, 1)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        book.set_level(side, 500_000, 1)  # type: ignore[arg-type]


# --- property: the book against a naive Decimal model ------------------------------------------

_MODEL = Context(prec=60)
_MICRO = D("0.000001")

prices = st.integers(min_value=1, max_value=999).map(lambda thousandths: D(thousandths) / 1000)
sizes = st.one_of(
    st.just(D("0.000001")),
    st.integers(min_value=1, max_value=10**10).map(lambda micros: D(micros) * _MICRO),
)
levels = st.dictionaries(prices, sizes, max_size=30)
changes = st.lists(
    st.tuples(st.sampled_from([Side.BUY, Side.SELL]), prices, st.one_of(st.just(D(0)), sizes)), max_size=40
)
amounts = st.integers(min_value=0, max_value=10**12).map(lambda micros: D(micros) * _MICRO)


def _naive_walk(side: list[tuple[Decimal, Decimal]], shares: Decimal) -> tuple[Decimal, Decimal, Decimal | None]:
    filled, amount, worst = D(0), D(0), None
    for price, size in side:
        if filled == shares:
            break
        take = min(size, shares - filled)
        filled += take
        amount += price * take
        worst = price
    return filled, amount, worst


@settings(max_examples=150, deadline=None)
@given(bids=levels, asks=levels, changes=changes, shares=amounts, dollars=amounts)
def test_book_matches_a_naive_decimal_model(
    bids: dict[Decimal, Decimal],
    asks: dict[Decimal, Decimal],
    changes: list[tuple[Side, Decimal, Decimal]],
    shares: Decimal,
    dollars: Decimal,
) -> None:
    book = OrderBook("t")
    book.apply_snapshot(
        [(to_micros(p), to_micros(s)) for p, s in bids.items()], [(to_micros(p), to_micros(s)) for p, s in asks.items()]
    )
    model = {Side.BUY: dict(bids), Side.SELL: dict(asks)}
    for side, price, size in changes:
        book.set_level(side, to_micros(price), to_micros(size))
        if size:
            model[side][price] = size
        else:
            model[side].pop(price, None)

    model_bids = sorted(model[Side.BUY].items(), reverse=True)
    model_asks = sorted(model[Side.SELL].items())
    assert [(level.price, level.size) for level in book.bids()] == model_bids
    assert [(level.price, level.size) for level in book.asks()] == model_asks
    best_bid = model_bids[0][0] if model_bids else None
    best_ask = model_asks[0][0] if model_asks else None
    assert book.best_bid_micros == (None if best_bid is None else to_micros(best_bid))
    assert book.best_ask_micros == (None if best_ask is None else to_micros(best_ask))
    two_sided = best_bid is not None and best_ask is not None
    assert book.mid() == ((best_bid + best_ask) / 2 if two_sided else None)  # type: ignore[operator]
    assert book.spread() == (best_ask - best_bid if two_sided else None)  # type: ignore[operator]
    assert book.is_crossed == (two_sided and best_bid >= best_ask)  # type: ignore[operator]
    top = model_bids[:5]
    assert book.depth(Side.BUY, 5) == Depth(
        sum((s for _, s in top), D(0)), sum((p * s for p, s in top), D(0)), len(top)
    )

    for estimate, walked in ((book.buy_cost(shares), model_asks), (book.sell_proceeds(shares), model_bids)):
        filled, amount, worst = _naive_walk(walked, shares)
        assert (estimate.requested, estimate.filled_shares, estimate.amount) == (shares, filled, amount)
        assert estimate.worst_price == worst
        assert estimate.complete == (filled == shares)
        assert estimate.average_price == (_MODEL.divide(amount, filled) if filled else None)

    remaining, filled, worst_price, complete = dollars, D(0), None, False
    for price, size in model_asks:
        if remaining < price * size:
            take = _MODEL.divide_int(remaining, price * _MICRO) * _MICRO  # floor to whole micro-shares
            if take:
                filled, remaining, worst_price = filled + take, remaining - price * take, price
            complete = True
            break
        filled, remaining, worst_price = filled + size, remaining - price * size, price
    else:
        complete = remaining == 0
    estimate = book.shares_for_dollars(dollars)
    assert (estimate.filled_shares, estimate.amount) == (filled, dollars - remaining)
    assert (estimate.worst_price, estimate.complete) == (worst_price, complete)
