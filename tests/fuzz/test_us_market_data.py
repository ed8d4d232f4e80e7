"""Hostile US market data: every ``MarketDataUpdate``, from any field values or any bytes, becomes levels an
``OrderBook`` can hold exactly (inside (0, 1), on the tick, positive, in the venue's order, within the depth)
or a :class:`MalformedMessageError`; and the emulator's own updates always decode to its book."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from google.protobuf.message import DecodeError
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_books import BookScales, book_scales, decode_update
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.emulator.us.market import UsMarket
from polyinfra.emulator.us.market_books import MarketBooks
from polyinfra.errors import MalformedMessageError
from polyinfra.model.book import MAX_SIZE_MICROS, OrderBook
from polyinfra.model.numbers import MICROS
from polyinfra.wire.us.market_data_lean import LeanResponse, LeanUpdate, update_symbol
from polyinfra.wire.us.polymarket.v1 import marketdatasubscription_pb2 as md

INT64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
SMALL = st.integers(min_value=-5, max_value=1200)
SCALES = [book_scales(instrument) for instrument in US_INSTRUMENTS]
KC = SCALES[0]

entries = st.lists(st.builds(md.BookEntry, px=st.one_of(SMALL, INT64), qty=st.one_of(SMALL, INT64)), max_size=15)
updates = st.builds(
    md.MarketDataUpdate,
    symbol=st.one_of(st.just(KC.symbol), st.text(max_size=30)),
    bids=entries,
    offers=entries,
    state=st.one_of(st.none(), st.integers(min_value=-3, max_value=12)),
    price_scale=st.one_of(st.none(), st.sampled_from([KC.price_scale, 100, 0]), INT64),
    quantity_scale=st.one_of(st.none(), st.sampled_from([KC.quantity_scale, 1]), INT64),
    book_hidden=st.booleans(),
    stats=st.one_of(st.none(), st.builds(md.InstrumentStats, last_trade_px=st.one_of(SMALL, INT64))),
)


def _check(update: md.MarketDataUpdate, scales: BookScales, depth: int) -> None:
    try:
        image = decode_update(update, scales, depth=depth)
    except MalformedMessageError:
        return
    tick_micros = scales.tick_units * scales.price_micros
    for levels, descending in ((image.bids, True), (image.asks, False)):
        assert len(levels) <= depth
        prices = [price for price, _ in levels]
        assert prices == sorted(prices, reverse=descending) and len(set(prices)) == len(prices)
        for price, size in levels:
            assert 0 < price < MICROS and price % tick_micros == 0 and 0 < size <= MAX_SIZE_MICROS
    if image.last_trade_micros is not None:
        assert 0 < image.last_trade_micros < MICROS and image.last_trade_micros % tick_micros == 0
    book = OrderBook(scales.symbol)
    book.apply_snapshot(image.bids, image.asks)
    assert book.bid_levels_micros() == image.bids and book.ask_levels_micros() == image.asks


@given(updates, st.integers(min_value=1, max_value=20))
def test_any_update_is_exact_levels_or_malformed(update: md.MarketDataUpdate, depth: int) -> None:
    _check(update, KC, depth)


@given(st.binary(max_size=600), st.sampled_from(SCALES))
def test_any_bytes_that_parse_are_exact_levels_or_malformed(data: bytes, scales: BookScales) -> None:
    try:
        response = md.BiDirectionalStreamMarketDataResponse.FromString(data)
    except DecodeError:
        return  # UsLiveBooks counts these and starts its session over
    if response.WhichOneof("event") == "update":
        _check(response.update, scales, 10)
    lean = LeanResponse.FromString(data)  # what parses the generated way parses the lean way too
    if lean.WhichOneof("event") == "update":
        for unaggregated in (False, True):
            with contextlib.suppress(MalformedMessageError):
                image = decode_update(lean.update, scales, depth=10, unaggregated=unaggregated)
                assert all(
                    0 < size <= MAX_SIZE_MICROS for size in (*image.bid_sizes.values(), *image.ask_sizes.values())
                )


@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=0, max_value=300))
def test_the_emulators_updates_decode_to_its_books(seed: int, steps: int) -> None:
    market = UsMarket(US_INSTRUMENTS, seed=seed)
    market.seed_books()
    for _ in range(steps):
        market.step()
    books = MarketBooks(market)
    for instrument in market.instruments:
        image = decode_update(books.update(instrument.symbol, 10), market.scales(instrument.symbol), depth=10)
        assert (image.bids, image.asks) == market.levels_micros(instrument.symbol, 10)


def _reference(
    entries: list[tuple[int, int]], scales: BookScales, *, descending: bool
) -> list[tuple[Decimal, Decimal]] | None:
    """Levels the plain way: Decimal division per entry, summed by price; None when no book holds them."""
    prices = [px for px, _ in entries]
    if prices != sorted(prices, reverse=descending):
        return None
    levels: dict[Decimal, Decimal] = {}
    for px, qty in entries:
        if not 0 < px < scales.price_scale or px % scales.tick_units or qty <= 0:
            return None
        price = Decimal(px) / scales.price_scale
        levels[price] = levels.get(price, Decimal(0)) + Decimal(qty) / scales.quantity_scale
    if any(size * MICROS > MAX_SIZE_MICROS for size in levels.values()):
        return None
    return list(levels.items())


valid_sides = st.lists(st.tuples(st.integers(1, 999), st.integers(1, 10**9)), max_size=12)


@given(valid_sides, valid_sides, st.sampled_from(SCALES), st.booleans())
def test_the_fast_decoder_is_exact_against_decimal_division(
    bid_entries: list[tuple[int, int]], ask_entries: list[tuple[int, int]], scales: BookScales, unaggregated: bool
) -> None:
    # Entries in the venue's order, on the tick, inside (0, 1) for this scale (some stay off it, to be refused).
    bids = sorted(((px * scales.tick_units, qty) for px, qty in bid_entries), reverse=True)
    asks = sorted((px * scales.tick_units, qty) for px, qty in ask_entries)
    if not unaggregated:  # aggregated levels have distinct prices
        bids = list(dict(bids).items())
        asks = list(dict(asks).items())
    update = md.MarketDataUpdate(
        symbol=scales.symbol,
        bids=[md.BookEntry(px=px, qty=qty) for px, qty in bids],
        offers=[md.BookEntry(px=px, qty=qty) for px, qty in asks],
    )
    expected = (_reference(bids, scales, descending=True), _reference(asks, scales, descending=False))
    for _ in range(2):  # the second time every level comes from the cache
        try:
            image = decode_update(
                LeanUpdate.FromString(update.SerializeToString()), scales, depth=12, unaggregated=unaggregated
            )
        except MalformedMessageError:
            assert None in expected
            continue
        book = OrderBook(scales.symbol)
        book.replace_sides(image.bid_sizes, image.bid_prices, image.ask_sizes, image.ask_prices)
        assert [tuple(level) for level in book.bids()] == expected[0]
        assert [tuple(level) for level in book.asks()] == expected[1]


@given(updates)
def test_the_symbol_read_off_the_bytes_is_the_parsed_symbol_or_nothing(update: md.MarketDataUpdate) -> None:
    # The hot path's reading, against the parse, on every update a serializer writes.
    message = md.BiDirectionalStreamMarketDataResponse(update=update).SerializeToString()
    symbol = update.symbol.encode()
    expected = symbol if len(symbol) < 128 and len(message) < 3 + (1 << 14) else b""
    assert update_symbol(message) == expected
    for cut in range(len(message)):  # a truncated message is never read as an update
        assert update_symbol(message[:cut]) == b""


def _length_delimited(tag: int, body: bytes) -> bytes:
    size, varint = len(body), bytearray()
    while size >= 0x80:
        varint.append(size & 0x7F | 0x80)
        size >>= 7
    return bytes([tag, *varint, size]) + body


# An update field whose body starts with a symbol field, then anything (more fields, garbage, a second symbol).
framed = st.builds(
    lambda symbol, rest: _length_delimited(0x12, _length_delimited(0x0A, symbol) + rest),
    st.binary(min_size=1, max_size=127),
    st.binary(max_size=300),
)


@given(framed)
def test_the_first_symbol_field_is_read_whatever_follows_it(data: bytes) -> None:
    body_at = 2 if data[1] < 0x80 else 3
    assert update_symbol(data) == data[body_at + 2 : body_at + 2 + data[body_at + 1]]
    with contextlib.suppress(DecodeError):  # what follows is only ever judged by a parse
        assert LeanResponse.FromString(data).WhichOneof("event") == "update"


@given(st.one_of(st.binary(max_size=300), framed.map(lambda data: data[: len(data) // 2])))
def test_any_bytes_give_a_symbol_only_as_the_update_layout_places_it(data: bytes) -> None:
    symbol = update_symbol(data)
    if not symbol:
        return
    # One update field spanning the message, its first field the symbol: what the parse would find first.
    body_at = 2 if data[1] < 0x80 else 3
    assert data[0] == 0x12 and data[body_at] == 0x0A and data[body_at + 1] == len(symbol)
    assert data[body_at + 2 : body_at + 2 + len(symbol)] == symbol
