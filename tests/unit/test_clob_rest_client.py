"""The REST client's answers made domain values (``core.from_wire``), without sockets: a real
``GET /book`` capture as an OrderBook, and venue values that must be read exactly or refused."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from polyinfra.core.from_wire import (
    last_trade_from_wire,
    order_book_from_summary,
    price_from_wire,
    price_history_from_wire,
    tick_size_from_wire,
)
from polyinfra.errors import InvalidNumberError, InvalidTickSizeError, InvalidValueError
from polyinfra.model.book import Level
from polyinfra.model.numbers import Side, TickSize
from polyinfra.wire.clob_rest import (
    LastTradePrice,
    LastTradesPricesItem,
    OrderBookSummary,
    PriceHistory,
    PriceHistoryPoint,
    TickSizeInfo,
)
from tests.shared_data import NAUTILUS_CAPTURES as CAPTURES

TOKEN = "1" * 76


def _captured_book() -> OrderBookSummary:
    return msgspec.json.decode((CAPTURES / "http_responses/book.json").read_bytes(), type=OrderBookSummary)


def test_real_book_capture_becomes_an_order_book() -> None:
    summary = _captured_book()
    book = order_book_from_summary(summary)

    assert (book.token_id, book.market) == (summary.asset_id, summary.market)
    assert book.timestamp_ms == int(summary.timestamp)
    # The 2024 capture predates tick_size and last_trade_price in summaries: unknown, not zero.
    assert (book.tick_size, book.last_trade_price_micros) == (None, None)
    # The venue sends the best price last on both sides (venue notes: Order books); the book reads best first.
    assert book.best_bid() == Level(Decimal(summary.bids[-1].price), Decimal(summary.bids[-1].size))
    assert book.best_ask() == Level(Decimal(summary.asks[-1].price), Decimal(summary.asks[-1].size))
    assert len(book.bids()) == len(summary.bids)
    assert len(book.asks()) == len(summary.asks)


def test_summary_tick_size_and_last_trade_are_read_and_empty_ones_left_unknown() -> None:
    summary = msgspec.structs.replace(_captured_book(), tick_size="0.001", last_trade_price="0.12", timestamp="")
    book = order_book_from_summary(summary)
    assert (book.tick_size, book.last_trade_price_micros, book.timestamp_ms) == (TickSize.TICK_0_001, 120_000, None)
    never_traded = order_book_from_summary(msgspec.structs.replace(summary, last_trade_price=""))
    assert never_traded.last_trade_price_micros is None


@pytest.mark.parametrize(
    ("changes", "error", "field"),
    [
        ({"tick_size": "0.02"}, InvalidTickSizeError, "tick_size"),
        ({"last_trade_price": "0.5e1"}, InvalidNumberError, "last_trade_price"),
        ({"bids": [{"price": "-0.1", "size": "1"}]}, InvalidNumberError, "bids.price"),
        ({"asks": [{"price": "0.5", "size": "1.0000001"}]}, InvalidNumberError, "asks.size"),
    ],
)
def test_summary_with_a_bad_value_is_refused_naming_it(
    changes: dict[str, object], error: type[InvalidValueError], field: str
) -> None:
    raw = msgspec.to_builtins(_captured_book()) | changes
    summary = msgspec.convert(raw, OrderBookSummary)
    with pytest.raises(error) as caught:
        order_book_from_summary(summary)
    assert caught.value.context["token_id"] == summary.asset_id
    assert caught.value.context["field"] == field


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.5", Decimal("0.5")), (".48", Decimal("0.48")), ("1", Decimal(1)), (Decimal("0.4865"), Decimal("0.4865"))],
)
def test_prices_are_read_exactly(value: str | Decimal, expected: Decimal) -> None:
    price = price_from_wire(value, token_id=TOKEN, field="mid")
    assert price == expected
    assert str(price) == str(expected)


@pytest.mark.parametrize("value", ["1.01", "-0.1", "0.1234567", "NaN", "", "0x1", Decimal("NaN"), Decimal("1.5")])
def test_values_that_are_not_prices_are_refused(value: str | Decimal) -> None:
    with pytest.raises(InvalidNumberError) as caught:
        price_from_wire(value, token_id=TOKEN, field="spread")
    assert (caught.value.context["token_id"], caught.value.context["field"]) == (TOKEN, "spread")


def test_last_trade() -> None:
    assert last_trade_from_wire(LastTradePrice(price="0.45", side="SELL"), token_id=TOKEN) == (
        Decimal("0.45"),
        Side.SELL,
    )
    item = LastTradesPricesItem(token_id=TOKEN, price="0.45", side="BUY")
    assert last_trade_from_wire(item, token_id=TOKEN) == (Decimal("0.45"), Side.BUY)
    # The venue's placeholder for a token that never traded (venue notes: REST routes) is no trade at 0.5.
    assert last_trade_from_wire(LastTradePrice(price="0.5", side=""), token_id=TOKEN) is None
    with pytest.raises(InvalidValueError) as caught:
        last_trade_from_wire(LastTradePrice(price="0.5", side="buy"), token_id=TOKEN)
    assert caught.value.context["field"] == "side"


def test_tick_size() -> None:
    assert tick_size_from_wire(TickSizeInfo(Decimal("0.0025")), token_id=TOKEN) is TickSize.TICK_0_0025
    with pytest.raises(InvalidTickSizeError) as caught:
        tick_size_from_wire(TickSizeInfo(Decimal("0.02")), token_id=TOKEN)
    assert caught.value.context["token_id"] == TOKEN


def test_price_history_keeps_the_venues_order_and_exact_prices() -> None:
    history = msgspec.json.decode(
        b'{"history": [{"t": 1700000000, "p": 0.5}, {"t": 1700000060, "p": 0.0001}]}', type=PriceHistory
    )
    assert price_history_from_wire(history, token_id=TOKEN) == [
        (1_700_000_000, Decimal("0.5")),
        (1_700_000_060, Decimal("0.0001")),
    ]
    with pytest.raises(InvalidNumberError):
        price_history_from_wire(PriceHistory([PriceHistoryPoint(t=1, p=Decimal("1.2"))]), token_id=TOKEN)
