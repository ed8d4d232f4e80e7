"""The sans-I/O US market-data core: exact scales, the update decoder's refusals, the stream plan, the
silence rule."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from polyinfra.core.us_books import (
    SilenceWatch,
    book_scales,
    checked_depth,
    checked_symbol,
    decode_update,
    plan_streams,
    stream_share,
)
from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.emulator.us.market import MAX_GENERATED_INSTRUMENTS, generated_instruments
from polyinfra.errors import InvalidValueError, MalformedMessageError, StreamBudgetExceededError
from polyinfra.model.book import OrderBook
from polyinfra.wire.us.market_data_lean import LeanUpdate
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

NYY = next(instrument for instrument in US_INSTRUMENTS if instrument.symbol == "aec-mlb-nyy-bos-2026-04-10")
SCALES = book_scales(NYY)  # price_scale 1000, tick 0.005, hundredths of a contract


def _update(bids: list[tuple[int, int]], offers: list[tuple[int, int]], **fields: object) -> md.MarketDataUpdate:
    return md.MarketDataUpdate(
        symbol=NYY.symbol,
        bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids],
        offers=[md.BookEntry(px=px, qty=qty) for px, qty in offers],
        **fields,  # type: ignore[arg-type]
    )


def test_an_update_becomes_exact_decimal_levels() -> None:
    update = _update([(655, 312), (650, 1)], [(660, 100_000)], state="INSTRUMENT_STATE_OPEN", price_scale=1000)
    update.transact_time.FromNanoseconds(1_700_000_000_123_456_789)
    image = decode_update(update, SCALES, depth=10)
    assert image.state is UsInstrumentState.OPEN and image.transact_time_ns == 1_700_000_000_123_456_789
    book = OrderBook(NYY.symbol)
    book.apply_snapshot(image.bids, image.asks)
    assert [(level.price, level.size) for level in book.bids()] == [
        (Decimal("0.655"), Decimal("3.12")),
        (Decimal("0.65"), Decimal("0.01")),
    ]
    assert book.best_ask() == (Decimal("0.66"), Decimal(1000))


@pytest.mark.parametrize(
    ("bids", "offers", "fields"),
    [
        ([(651, 1)], [], {}),  # off the 0.005 tick
        ([(0, 1)], [], {}),  # a price of 0
        ([], [(1000, 1)], {}),  # a price of 1
        ([(650, 1), (655, 1)], [], {}),  # bids out of order
        ([], [(660, 1), (660, 2)], {}),  # a repeated price
        ([(650, 0)], [], {}),  # an empty level
        ([(650, -5)], [], {}),
        ([(650, 1 << 62)], [], {}),  # beyond any market
        ([(650 - 5 * i, 1) for i in range(11)], [], {}),  # deeper than subscribed
        ([], [], {"price_scale": 100}),  # scales that contradict the instrument
        ([], [], {"quantity_scale": 1}),
        ([], [], {"symbol": "another"}),
        ([], [], {"state": 42}),
    ],
)
def test_what_no_book_holds_is_malformed(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]], fields: dict[str, object]
) -> None:
    update = _update(bids, offers)
    for name, value in fields.items():
        setattr(update, name, value)
    with pytest.raises(MalformedMessageError):
        decode_update(update, SCALES, depth=10)


def test_scales_that_do_not_divide_a_million_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        book_scales(replace(NYY, price_scale=3, tick_size=Decimal(1) / 3))
    assert (SCALES.price_micros, SCALES.quantity_micros, SCALES.tick_units) == (1000, 10_000, 5)


def test_streams_are_planned_before_anything_opens() -> None:
    symbols = [f"s{i}" for i in range(2500)]
    assert [len(shard) for shard in plan_streams(symbols + symbols[:10])] == [1000, 1000, 500]
    with pytest.raises(StreamBudgetExceededError) as refused:
        plan_streams(symbols, budget=2)
    assert refused.value.context == {"streams": 3, "budget": 2}
    assert plan_streams(symbols[:10], symbols_per_stream=4, budget=3)[-1] == ["s8", "s9"]
    with pytest.raises(InvalidValueError):
        plan_streams(symbols, symbols_per_stream=1001)


def test_the_share_left_for_market_data_is_the_budget_less_what_others_hold() -> None:
    assert stream_share(4) == 16
    assert stream_share(4, 3, budget=8) == 1
    with pytest.raises(StreamBudgetExceededError) as refused:
        stream_share(4, budget=4)
    assert refused.value.context == {"streams": 5, "budget": 4}
    with pytest.raises(InvalidValueError):
        stream_share(-1)


def test_a_stream_is_silent_after_the_timeout_without_anything_heard() -> None:
    watch = SilenceWatch(timeout_s=180.0, now_s=1000.0)
    assert not watch.silent(1179.9)
    watch.heard(1100.0)  # a heartbeat counts
    assert not watch.silent(1279.9) and watch.silent(1280.0)


def test_depth_and_symbols_are_checked() -> None:
    assert (checked_depth(0), checked_depth(3)) == (10, 3)
    for depth in (-1, 1001, True):
        with pytest.raises(InvalidValueError):
            checked_depth(depth)  # type: ignore[arg-type]
    for symbol in ("", "a b", "x" * 201, "é", "a\nb"):
        with pytest.raises(InvalidValueError):
            checked_symbol(symbol)


def test_raw_orders_are_summed_into_levels() -> None:
    update = _update([(655, 312), (655, 1), (650, 4)], [(660, 2), (665, 3), (665, 5)])
    image = decode_update(update, SCALES, depth=3, unaggregated=True)
    assert image.bids == [(655_000, 3_130_000), (650_000, 40_000)]
    assert image.asks == [(660_000, 20_000), (665_000, 80_000)]
    # The same entries as aggregated levels repeat a price: refused.
    with pytest.raises(MalformedMessageError):
        decode_update(update, SCALES, depth=3)


@pytest.mark.parametrize(
    ("bids", "offers", "depth"),
    [
        ([(650, 1), (655, 1)], [], 10),  # orders out of the venue's price order
        ([(655, 1), (650, 1), (655, 1)], [], 10),  # a price's orders not together
        ([], [(665, 1), (660, 1)], 10),
        ([(655, 1)] * 4, [], 3),  # more orders than the depth
        ([(655, 1), (655, 0)], [], 10),  # an empty order
        ([(655, 60_000_000_000_000)] * 2, [], 10),  # each order fits, their sum does not
    ],
)
def test_raw_orders_no_book_holds_are_malformed(
    bids: list[tuple[int, int]], offers: list[tuple[int, int]], depth: int
) -> None:
    with pytest.raises(MalformedMessageError):
        decode_update(_update(bids, offers), SCALES, depth=depth, unaggregated=True)


def test_a_book_entry_that_does_not_parse_is_malformed() -> None:
    lean = LeanUpdate(symbol=NYY.symbol, bids=[b"\x08"])  # a varint cut short
    with pytest.raises(MalformedMessageError):
        decode_update(lean, SCALES, depth=10)


def test_generated_instruments_are_bounded_like_the_flag() -> None:
    assert len(generated_instruments(MAX_GENERATED_INSTRUMENTS)) == MAX_GENERATED_INSTRUMENTS
    for count in (-1, MAX_GENERATED_INSTRUMENTS + 1, True, 1.5):
        with pytest.raises(InvalidValueError):
            generated_instruments(count)  # type: ignore[arg-type]
