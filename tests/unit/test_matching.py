"""The matching engine with hand-computed books: priority, pricing, order types, Yes/No projection."""

from __future__ import annotations

import pytest

from polyinfra.core.matching import (
    BookLevels,
    Fill,
    Level,
    LevelChange,
    MatchingEngine,
    MatchKind,
    Order,
    SubmitStatus,
    project_levels,
)
from polyinfra.errors import InvalidNumberError, InvalidValueError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side, TickSize, parse_micros
from polyinfra.model.orders import TimeInForce

YES = TokenId("1001")
NO = TokenId("1002")
BUY = Side.BUY
SELL = Side.SELL


def m(text: str) -> int:
    """Micro-units of a decimal string, for readable expectations."""
    return parse_micros(text)


def make_engine(tick_size: TickSize = TickSize.TICK_0_01) -> MatchingEngine:
    return MatchingEngine(yes_token_id=YES, no_token_id=NO, tick_size=tick_size)


def order(
    order_id: str,
    token: TokenId,
    side: Side,
    price: str,
    size: str,
    time_in_force: TimeInForce = TimeInForce.GTC,
    *,
    owner: str = "alice",
    post_only: bool = False,
    expiration_s: int = 0,
) -> Order:
    return Order(
        order_id=order_id,
        owner=owner,
        token_id=token,
        side=side,
        price_micros=m(price),
        size_micros=m(size),
        time_in_force=time_in_force,
        post_only=post_only,
        expiration_s=expiration_s,
    )


def levels(*pairs: tuple[str, str]) -> list[Level]:
    return [Level(m(price), m(size)) for price, size in pairs]


def rest(engine: MatchingEngine, *orders: Order) -> None:
    for resting in orders:
        assert engine.submit(resting).status is SubmitStatus.RESTING


# --- priority and pricing ------------------------------------------------------------------------


def test_time_priority_at_one_level() -> None:
    engine = make_engine()
    rest(
        engine,
        order("a1", YES, SELL, "0.50", "10", owner="m1"),
        order("a2", YES, SELL, "0.50", "10", owner="m2"),
        order("a3", YES, SELL, "0.50", "10", owner="m3"),
    )
    result = engine.submit(order("t", YES, BUY, "0.50", "15", owner="taker"))

    assert result.status is SubmitStatus.FILLED
    assert [(fill.maker_order_id, fill.size_micros) for fill in result.fills] == [("a1", m("10")), ("a2", m("5"))]
    assert result.fills[1].maker_remaining_micros == m("5")
    assert result.level_changes == (LevelChange(SELL, m("0.5"), m("15")),)
    assert engine.levels(YES).asks == levels(("0.5", "15"))
    assert [resting.order_id for resting in engine.open_orders()] == ["a2", "a3"]
    assert engine.order("a1") is None


def test_price_priority_across_levels_and_taker_pays_each_resting_price() -> None:
    engine = make_engine()
    rest(
        engine,
        order("a52", YES, SELL, "0.52", "10"),
        order("a50", YES, SELL, "0.50", "10"),
        order("a51", YES, SELL, "0.51", "10"),
    )
    result = engine.submit(order("t", YES, BUY, "0.52", "25", owner="bob"))

    assert [(fill.maker_order_id, fill.taker_price_micros, fill.size_micros) for fill in result.fills] == [
        ("a50", m("0.50"), m("10")),
        ("a51", m("0.51"), m("10")),
        ("a52", m("0.52"), m("5")),
    ]
    assert result.filled_micros == m("25")
    assert result.level_changes == (
        LevelChange(SELL, m("0.50"), 0),
        LevelChange(SELL, m("0.51"), 0),
        LevelChange(SELL, m("0.52"), m("5")),
    )
    assert engine.levels(YES) == BookLevels(bids=[], asks=levels(("0.52", "5")))


def test_taker_gets_price_improvement() -> None:
    """A buy at 0.55 against a resting 0.52 pays 0.52; a sell at 0.45 against a 0.52 bid gets 0.52."""
    engine = make_engine()
    rest(engine, order("ask", YES, SELL, "0.52", "10"), order("bid", YES, BUY, "0.48", "10"))

    bought = engine.submit(order("buy", YES, BUY, "0.55", "4", owner="bob"))
    sold = engine.submit(order("sell", YES, SELL, "0.45", "4", owner="bob"))

    assert bought.fills == (
        Fill(
            maker_order_id="ask",
            maker_owner="alice",
            maker_token_id=YES,
            maker_side=SELL,
            maker_price_micros=m("0.52"),
            maker_remaining_micros=m("6"),
            taker_order_id="buy",
            taker_owner="bob",
            taker_token_id=YES,
            taker_side=BUY,
            taker_price_micros=m("0.52"),
            size_micros=m("4"),
            kind=MatchKind.NORMAL,
        ),
    )
    assert [(fill.taker_price_micros, fill.maker_order_id) for fill in sold.fills] == [(m("0.48"), "bid")]


def test_partial_fill_rests_the_remainder_at_the_limit() -> None:
    engine = make_engine()
    rest(engine, order("ask", YES, SELL, "0.50", "10"))
    result = engine.submit(order("t", YES, BUY, "0.55", "25", owner="bob"))

    assert result.status is SubmitStatus.RESTING
    assert result.rests
    assert result.filled_micros == m("10")
    assert result.order.remaining_micros == m("15")
    assert result.killed_micros == 0
    assert result.level_changes == (LevelChange(SELL, m("0.50"), 0), LevelChange(BUY, m("0.55"), m("15")))
    assert engine.levels(YES) == BookLevels(bids=levels(("0.55", "15")), asks=[])
    assert engine.best_bid(YES) == m("0.55")
    assert engine.best_ask(YES) is None


def test_a_partially_filled_maker_keeps_its_place_in_the_queue() -> None:
    engine = make_engine()
    rest(engine, order("first", YES, BUY, "0.40", "10"), order("second", YES, BUY, "0.40", "10"))
    engine.submit(order("t1", YES, SELL, "0.40", "3", TimeInForce.FAK, owner="bob"))
    result = engine.submit(order("t2", YES, SELL, "0.40", "9", TimeInForce.FAK, owner="bob"))

    assert [(fill.maker_order_id, fill.size_micros) for fill in result.fills] == [("first", m("7")), ("second", m("2"))]


# --- order types ---------------------------------------------------------------------------------


def test_fok_that_cannot_fill_entirely_changes_nothing() -> None:
    engine = make_engine()
    rest(engine, order("a50", YES, SELL, "0.50", "10"), order("a51", YES, SELL, "0.51", "10"))
    before = engine.levels(YES)

    result = engine.submit(order("fok", YES, BUY, "0.51", "25", TimeInForce.FOK, owner="bob"))

    assert result.status is SubmitStatus.KILLED
    assert result.fills == ()
    assert result.killed_micros == m("25")
    assert result.level_changes == ()
    assert engine.levels(YES) == before
    untouched = engine.order("a50")
    assert untouched is not None and untouched.remaining_micros == m("10")


def test_fok_does_not_count_levels_beyond_its_limit() -> None:
    engine = make_engine()
    rest(engine, order("a50", YES, SELL, "0.50", "10"), order("a52", YES, SELL, "0.52", "10"))
    result = engine.submit(order("fok", YES, BUY, "0.51", "15", TimeInForce.FOK, owner="bob"))
    assert result.status is SubmitStatus.KILLED
    assert engine.levels(YES).asks == levels(("0.52", "10"), ("0.50", "10"))


def test_fok_that_can_fill_fills_entirely() -> None:
    engine = make_engine()
    rest(engine, order("a50", YES, SELL, "0.50", "10"), order("a51", YES, SELL, "0.51", "10"))
    result = engine.submit(order("fok", YES, BUY, "0.51", "20", TimeInForce.FOK, owner="bob"))
    assert result.status is SubmitStatus.FILLED
    assert result.filled_micros == m("20")
    assert engine.levels(YES) == BookLevels(bids=[], asks=[])


def test_fak_remainder_is_cancelled() -> None:
    engine = make_engine()
    rest(engine, order("a50", YES, SELL, "0.50", "10"), order("a51", YES, SELL, "0.51", "10"))
    result = engine.submit(order("fak", YES, BUY, "0.50", "25", TimeInForce.FAK, owner="bob"))

    assert result.status is SubmitStatus.KILLED
    assert not result.rests
    assert result.filled_micros == m("10")
    assert result.killed_micros == m("15")
    assert result.level_changes == (LevelChange(SELL, m("0.50"), 0),)
    assert engine.levels(YES) == BookLevels(bids=[], asks=levels(("0.51", "10")))
    assert engine.order("fak") is None


def test_fak_that_fills_entirely_is_filled() -> None:
    engine = make_engine()
    rest(engine, order("a50", YES, SELL, "0.50", "10"))
    result = engine.submit(order("fak", YES, BUY, "0.50", "10", TimeInForce.FAK, owner="bob"))
    assert result.status is SubmitStatus.FILLED
    assert result.killed_micros == 0


def test_post_only_that_would_cross_is_rejected_and_changes_nothing() -> None:
    engine = make_engine()
    rest(engine, order("ask", YES, SELL, "0.50", "10"))

    rejected = engine.submit(order("po", YES, BUY, "0.50", "5", post_only=True, owner="bob"))
    assert rejected.status is SubmitStatus.REJECTED_POST_ONLY
    assert rejected.fills == () and rejected.level_changes == ()
    assert engine.order("po") is None

    resting = engine.submit(order("po2", YES, BUY, "0.49", "5", post_only=True, owner="bob"))
    assert resting.status is SubmitStatus.RESTING
    assert engine.levels(YES) == BookLevels(bids=levels(("0.49", "5")), asks=levels(("0.5", "10")))


@pytest.mark.parametrize("time_in_force", [TimeInForce.FOK, TimeInForce.FAK])
def test_post_only_is_only_for_resting_types(time_in_force: TimeInForce) -> None:
    with pytest.raises(InvalidValueError, match="post-only"):
        make_engine().submit(order("po", YES, BUY, "0.49", "5", time_in_force, post_only=True))


def test_gtd_rests_until_it_expires() -> None:
    engine = make_engine()
    rest(
        engine,
        order("early", YES, BUY, "0.40", "10", TimeInForce.GTD, expiration_s=1_000),
        order("late", YES, BUY, "0.40", "5", TimeInForce.GTD, expiration_s=2_000),
        order("gtc", YES, BUY, "0.39", "5"),
    )
    assert engine.expire(999).orders == ()

    expired = engine.expire(1_000)

    assert [gone.order_id for gone in expired.orders] == ["early"]
    assert expired.level_changes == (LevelChange(BUY, m("0.40"), m("5")),)
    assert [gone.order_id for gone in engine.expire(10**9).orders] == ["late"]
    assert [resting.order_id for resting in engine.open_orders()] == ["gtc"]


# --- Yes / No ------------------------------------------------------------------------------------


def test_buy_yes_against_buy_no_mints() -> None:
    engine = make_engine()
    rest(engine, order("bid", YES, BUY, "0.60", "10"))  # Yes-space bid 0.60
    # BUY No at 0.45 is a Yes-space ask at 0.55: it crosses the 0.60 bid and trades at 0.60,
    # so the No buyer pays 1 - 0.60 = 0.40, better than its 0.45 limit.
    result = engine.submit(order("t", NO, BUY, "0.45", "10", owner="bob"))

    (fill,) = result.fills
    assert fill.kind is MatchKind.MINT
    assert (fill.maker_token_id, fill.maker_side, fill.maker_price_micros) == (YES, BUY, m("0.60"))
    assert (fill.taker_token_id, fill.taker_side, fill.taker_price_micros) == (NO, BUY, m("0.40"))
    assert result.level_changes == (LevelChange(BUY, m("0.60"), 0),)


def test_sell_yes_against_sell_no_merges() -> None:
    engine = make_engine()
    rest(engine, order("ask", YES, SELL, "0.60", "10"))  # Yes-space ask 0.60
    # SELL No at 0.35 is a Yes-space bid at 0.65: crosses 0.60, trades there, the No seller gets 0.40.
    result = engine.submit(order("t", NO, SELL, "0.35", "4", owner="bob"))

    (fill,) = result.fills
    assert fill.kind is MatchKind.MERGE
    assert (fill.maker_token_id, fill.maker_side, fill.maker_price_micros) == (YES, SELL, m("0.60"))
    assert (fill.taker_token_id, fill.taker_side, fill.taker_price_micros) == (NO, SELL, m("0.40"))
    assert fill.size_micros == m("4")
    assert engine.levels(YES).asks == levels(("0.60", "6"))


def test_no_against_no_is_a_normal_trade_at_the_no_price() -> None:
    engine = make_engine()
    rest(engine, order("no_bid", NO, BUY, "0.30", "10"))  # Yes-space ask 0.70
    result = engine.submit(order("t", NO, SELL, "0.25", "10", owner="bob"))  # Yes-space bid 0.75
    (fill,) = result.fills
    assert fill.kind is MatchKind.NORMAL
    assert fill.maker_price_micros == fill.taker_price_micros == m("0.30")
    assert result.level_changes == (LevelChange(SELL, m("0.70"), 0),)


def test_no_book_mirrors_the_yes_book() -> None:
    engine = make_engine()
    rest(
        engine,
        order("b48", YES, BUY, "0.48", "30"),
        order("b49", YES, BUY, "0.49", "20"),
        order("a52", YES, SELL, "0.52", "25"),
        order("a53", YES, SELL, "0.53", "60"),
        order("n45", NO, BUY, "0.45", "10"),  # Yes-space ask 0.55
        order("n53", NO, SELL, "0.53", "7"),  # Yes-space bid 0.47
    )

    assert engine.levels(YES) == BookLevels(
        bids=levels(("0.47", "7"), ("0.48", "30"), ("0.49", "20")),
        asks=levels(("0.55", "10"), ("0.53", "60"), ("0.52", "25")),
    )
    assert engine.levels(NO) == BookLevels(
        bids=levels(("0.45", "10"), ("0.47", "60"), ("0.48", "25")),
        asks=levels(("0.53", "7"), ("0.52", "30"), ("0.51", "20")),
    )
    assert (engine.best_bid(YES), engine.best_ask(YES)) == (m("0.49"), m("0.52"))
    assert (engine.best_bid(NO), engine.best_ask(NO)) == (m("0.48"), m("0.51"))


def test_project_levels_of_an_empty_side() -> None:
    assert project_levels({m("0.4"): m("1")}, {}, yes_token=False) == BookLevels(bids=[], asks=levels(("0.6", "1")))


# --- cancels -------------------------------------------------------------------------------------


def test_cancel_by_id() -> None:
    engine = make_engine()
    rest(engine, order("b1", YES, BUY, "0.40", "10"), order("b2", YES, BUY, "0.40", "5"))

    cancellation = engine.cancel("b1")

    assert [gone.order_id for gone in cancellation.orders] == ["b1"]
    assert cancellation.level_changes == (LevelChange(BUY, m("0.40"), m("5")),)
    assert engine.cancel("b1").orders == ()
    assert engine.cancel("never").level_changes == ()
    assert engine.cancel("b2").level_changes == (LevelChange(BUY, m("0.40"), 0),)
    assert engine.levels(YES) == BookLevels(bids=[], asks=[])


def test_cancel_a_no_order_changes_its_yes_space_level() -> None:
    engine = make_engine()
    rest(engine, order("n", NO, BUY, "0.30", "10"))
    assert engine.cancel("n").level_changes == (LevelChange(SELL, m("0.70"), 0),)


def test_cancel_all_of_an_owner() -> None:
    engine = make_engine()
    rest(
        engine,
        order("a1", YES, BUY, "0.40", "10", owner="alice"),
        order("b1", YES, BUY, "0.40", "3", owner="bob"),
        order("a2", NO, BUY, "0.30", "10", owner="alice"),
        order("a3", YES, BUY, "0.41", "1", owner="alice"),
    )

    cancellation = engine.cancel_owner("alice")

    assert [gone.order_id for gone in cancellation.orders] == ["a1", "a2", "a3"]
    assert cancellation.level_changes == (
        LevelChange(BUY, m("0.40"), m("3")),
        LevelChange(SELL, m("0.70"), 0),
        LevelChange(BUY, m("0.41"), 0),
    )
    assert engine.open_orders("alice") == []
    assert [left.order_id for left in engine.open_orders()] == ["b1"]
    assert engine.cancel_owner("nobody").orders == ()


def test_cancel_all() -> None:
    engine = make_engine()
    rest(engine, order("a", YES, BUY, "0.40", "10"), order("b", YES, SELL, "0.60", "10", owner="bob"))
    assert len(engine.cancel_all().orders) == 2
    assert engine.open_orders() == []


# --- validation and ticks ------------------------------------------------------------------------


@pytest.mark.parametrize("price", ["0.505", "0.0001"])
def test_price_off_the_tick_grid_is_refused(price: str) -> None:
    with pytest.raises(InvalidNumberError, match="tick grid") as caught:
        make_engine().submit(order("o", YES, BUY, price, "10"))
    assert caught.value.context["tick_size"] == "0.01"


@pytest.mark.parametrize("price", ["0", "1", "1.5"])
def test_price_outside_zero_one_is_refused(price: str) -> None:
    with pytest.raises(InvalidValueError, match=r"inside \(0, 1\)"):
        make_engine().submit(order("o", YES, BUY, price, "10"))


@pytest.mark.parametrize(
    ("bad_order", "message"),
    [
        (order("o", YES, BUY, "0.5", "0"), "size must be positive"),
        (order("o", TokenId("999"), BUY, "0.5", "1"), "not traded in this market"),
        (order("", YES, BUY, "0.5", "1"), "order id is empty"),
        (order("o", YES, BUY, "0.5", "1", TimeInForce.GTD), "GTD orders need an expiration"),
        (order("o", YES, BUY, "0.5", "1", expiration_s=123), "GTD orders need an expiration"),
    ],
)
def test_invalid_orders_are_refused(bad_order: Order, message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        make_engine().submit(bad_order)


def test_live_order_id_and_resubmission_are_refused() -> None:
    engine = make_engine()
    first = order("dup", YES, BUY, "0.40", "10")
    rest(engine, first)
    with pytest.raises(InvalidValueError, match="already live"):
        engine.submit(order("dup", YES, BUY, "0.40", "10"))
    engine.submit(order("t", YES, SELL, "0.40", "4", owner="bob"))
    engine.cancel("dup")
    with pytest.raises(InvalidValueError, match="already submitted"):
        engine.submit(first)


def test_validation_leaves_the_book_alone() -> None:
    engine = make_engine()
    rest(engine, order("ask", YES, SELL, "0.50", "10"))
    with pytest.raises(InvalidNumberError):
        engine.submit(order("bad", YES, BUY, "0.555", "10"))
    assert engine.levels(YES).asks == levels(("0.50", "10"))


def test_tick_size_change_keeps_resting_prices() -> None:
    engine = make_engine(TickSize.TICK_0_001)
    rest(engine, order("fine", YES, SELL, "0.505", "10"))

    engine.set_tick_size(TickSize.TICK_0_01)

    assert engine.tick_size is TickSize.TICK_0_01
    with pytest.raises(InvalidNumberError):
        engine.submit(order("o", YES, SELL, "0.515", "1"))
    result = engine.submit(order("t", YES, BUY, "0.51", "10", owner="bob"))
    assert [(fill.maker_order_id, fill.taker_price_micros) for fill in result.fills] == [("fine", m("0.505"))]

    engine.set_tick_size(TickSize.TICK_0_001)
    assert engine.submit(order("finer", YES, BUY, "0.501", "1")).rests


def test_engine_needs_two_distinct_tokens() -> None:
    with pytest.raises(InvalidValueError):
        MatchingEngine(yes_token_id=YES, no_token_id=YES, tick_size=TickSize.TICK_0_01)


def test_levels_of_an_unknown_token_is_refused() -> None:
    with pytest.raises(InvalidValueError):
        make_engine().levels("42")
