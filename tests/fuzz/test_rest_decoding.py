"""Hostile REST answers into every client method that reads one: the domain value or a typed error.

Each method answers from a fake transport that returns the hostile body with status 200, so the
whole read path runs: the bounded decode of :meth:`Response.decode` and the conversion to domain
values (``core.from_wire``). The valid documents are the real captures and the venue's documented
shapes; :func:`hostile_bytes` poisons them by class.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyinfra.clob.rest import SyncClobRestClient
from polyinfra.clob.trading import OrderSubmission, TradingClient
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.from_wire import market_info_from_clob_market_info, market_info_from_market
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, sign_order
from polyinfra.errors import InvalidNumberError, PolyinfraError
from polyinfra.model.numbers import Side
from polyinfra.model.orders import SignatureType, UnsignedOrder
from polyinfra.net.http import HttpTransport, SyncHttpTransport
from polyinfra.net.http_request import Response
from polyinfra.wire.clob_rest import ClobMarketInfo, Market
from polyinfra.wire.json_decoding import decode_json
from tests.conftest import KNOWN_TEST_SECRETS
from tests.fuzz.hostile import hostile_bytes
from tests.shared_data import NAUTILUS_CAPTURES

# Each endpoint is its own property: a quarter of the profile's budget for each keeps the file fast.
PER_ENDPOINT = settings(max_examples=max(10, settings().max_examples // 4))

TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
CONDITION = "0x" + "ab" * 32


def _capture(path: str) -> Any:
    return json.loads((NAUTILUS_CAPTURES / path).read_bytes())


BOOK = _capture("http_responses/book.json") | {"asset_id": TOKEN}
MARKET = _capture("http_responses/market.json")
MARKETS_PAGE = _capture("http_responses/markets.json") | {"next_cursor": "LTE="}
MARKETS_PAGE["data"] = MARKETS_PAGE["data"][:2]
SIMPLIFIED_PAGE = {
    "data": [
        {key: market[key] for key in ("condition_id", "tokens", "rewards", "active", "closed", "archived")}
        | {"accepting_orders": market["accepting_orders"]}
        for market in MARKETS_PAGE["data"]
    ],
    "next_cursor": "LTE=",
    "limit": 2,
    "count": 2,
}
# The docs' /clob-markets example, as the wire tests decode it.
CLOB_MARKET_INFO = {
    "gst": "2023-11-07T05:31:56Z",
    "r": {},
    "t": [{"t": "1" * 77, "o": "Yes"}, {"t": "2" * 77, "o": "No"}],
    "mos": 5,
    "mts": 0.01,
    "mbf": 0,
    "tbf": 0,
    "fd": {"r": 0.02, "e": 2, "to": True},
    "oas": 123,
}
TRADE_ROW = _capture("ws_messages/trades.json")
OPEN_ORDER = {
    "id": "0x" + "cd" * 32,
    "status": "LIVE",
    "market": CONDITION,
    "asset_id": TOKEN,
    "side": "BUY",
    "original_size": "10",
    "size_matched": "0",
    "price": "0.5",
    "associate_trades": [],
    "created_at": 1710000000,
}
ORDER_ANSWER = {"success": True, "errorMsg": "", "orderID": "0x" + "cd" * 32, "status": "live"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    read: Callable[[SyncClobRestClient], object]
    valid: tuple[Any, ...]


MARKET_DATA = [
    Endpoint("ok", lambda client: client.get_ok(), ("OK",)),
    Endpoint("time", lambda client: client.get_server_time(), (1710000000,)),
    Endpoint("version", lambda client: client.get_version(), ({"version": 2},)),
    Endpoint("book", lambda client: client.get_book(TOKEN), (BOOK,)),
    Endpoint("books", lambda client: client.get_books([TOKEN]), ([BOOK],)),
    Endpoint("price", lambda client: client.get_price(TOKEN, Side.BUY), ({"price": "0.5"},)),
    Endpoint("prices", lambda client: client.get_prices([(TOKEN, Side.BUY)]), ({TOKEN: {"BUY": 0.5}},)),
    Endpoint("midpoint", lambda client: client.get_midpoint(TOKEN), ({"mid": "0.5"},)),
    Endpoint("midpoints", lambda client: client.get_midpoints([TOKEN]), ({TOKEN: "0.5"},)),
    Endpoint("spread", lambda client: client.get_spread(TOKEN), ({"spread": "0.02"},)),
    Endpoint("spreads", lambda client: client.get_spreads([TOKEN]), ({TOKEN: "0.02"},)),
    Endpoint(
        "last trade price",
        lambda client: client.get_last_trade_price(TOKEN),
        ({"price": "0.5", "side": "BUY"}, {"price": "0.5", "side": ""}),
    ),
    Endpoint(
        "last trades prices",
        lambda client: client.get_last_trades_prices([TOKEN]),
        ([{"token_id": TOKEN, "price": "0.5", "side": "SELL"}],),
    ),
    Endpoint("tick size", lambda client: client.get_tick_size(TOKEN), ({"minimum_tick_size": 0.01},)),
    Endpoint("neg risk", lambda client: client.get_neg_risk(TOKEN), ({"neg_risk": True},)),
    Endpoint(
        "prices history",
        lambda client: client.get_prices_history(TOKEN, interval="1d"),
        ({"history": [{"t": 1710000000, "p": 0.5}]},),
    ),
    Endpoint("market", lambda client: client.get_market(CONDITION), (MARKET,)),
    Endpoint("market by token", lambda client: client.get_market_by_token(TOKEN), ({"condition_id": CONDITION},)),
    Endpoint("clob market info", lambda client: client.get_clob_market_info(CONDITION), (CLOB_MARKET_INFO,)),
    Endpoint("markets", lambda client: list(itertools.islice(client.iter_markets(), 5)), (MARKETS_PAGE,)),
    Endpoint(
        "simplified markets",
        lambda client: list(itertools.islice(client.iter_simplified_markets(), 5)),
        (SIMPLIFIED_PAGE,),
    ),
]


class _SyncAnswering:
    """Answers every request with one body, status 200, as the transport hands answers to readers."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def request(self, method: str, path: str, **_: object) -> Response:
        return Response(200, {}, self.body, method, path, path)


class _AsyncAnswering(HttpTransport):
    """The real transport's rate-limit table (the trading client sizes batches by it), answering
    every request with :attr:`body` instead of sending it."""

    body = b""

    async def request(self, method: str, path: str, **_: object) -> Response:  # type: ignore[override]
        return Response(200, {}, self.body, method, path, path)


ANSWERING = _AsyncAnswering("http://venue")


@pytest.mark.parametrize("endpoint", MARKET_DATA, ids=[endpoint.name for endpoint in MARKET_DATA])
@PER_ENDPOINT
@given(data=st.data())
def test_market_data_answers_give_a_value_or_a_typed_error(endpoint: Endpoint, data: st.DataObject) -> None:
    body = data.draw(hostile_bytes(*endpoint.valid), label="body")
    client = SyncClobRestClient("http://venue", transport=cast(SyncHttpTransport, _SyncAnswering(body)))
    try:
        endpoint.read(client)
    except PolyinfraError as error:
        str(error)


KEY = SigningKey(KNOWN_TEST_SECRETS.private_key)
CREDENTIALS = ApiCredentials("00000000-0000-0000-0000-000000000000", KNOWN_TEST_SECRETS.api_secret, "a" * 64)
SIGNED = sign_order(
    UnsignedOrder(
        salt=1,
        maker=KEY.address,
        signer=KEY.address,
        token_id=1234,
        maker_amount=50_000_000,
        taker_amount=100_000_000,
        side=Side.BUY,
        signature_type=SignatureType.EOA,
        timestamp_ms=1_710_000_000_000,
    ),
    KEY,
    chain_id=POLYGON_CHAIN_ID,
)


async def _first(rows: Any) -> list[object]:
    return [row async for row in rows][:5]


TradingRead = Callable[[TradingClient], Coroutine[Any, Any, object]]

TRADING: list[tuple[str, TradingRead, tuple[Any, ...]]] = [
    ("derive api key", lambda client: client.derive_api_key(), ({"apiKey": "k", "secret": "s", "passphrase": "p"},)),
    ("api keys", lambda client: client.get_api_keys(), ({"apiKeys": ["k"]},)),
    ("post order", lambda client: client.post_order(SIGNED), (ORDER_ANSWER,)),
    ("post orders", lambda client: client.post_orders([OrderSubmission(SIGNED)]), ([ORDER_ANSWER],)),
    ("cancel", lambda client: client.cancel("0x01"), ({"canceled": ["0x01"], "not_canceled": {}},)),
    ("cancel all", lambda client: client.cancel_all(), ({"canceled": [], "not_canceled": {"0x01": "gone"}},)),
    ("order", lambda client: client.get_order("0x01"), (OPEN_ORDER,)),
    ("open orders", lambda client: _first(client.iter_open_orders()), ({"data": [OPEN_ORDER], "next_cursor": "LTE="},)),
    ("trades", lambda client: _first(client.iter_trades()), ({"data": [TRADE_ROW], "next_cursor": "LTE="},)),
    ("balance", lambda client: client.get_balance_allowance(), ({"balance": "100", "allowances": {"0x1": "5"}},)),
    ("heartbeat", lambda client: client.post_heartbeat(), ({"heartbeat_id": "h"},)),
]


@pytest.mark.parametrize(("name", "read", "valid"), TRADING, ids=[name for name, _, _ in TRADING])
@PER_ENDPOINT
@given(data=st.data())
def test_trading_answers_give_a_value_or_a_typed_error(
    name: str, read: TradingRead, valid: tuple[Any, ...], data: st.DataObject
) -> None:
    body = data.draw(hostile_bytes(*valid), label="body")
    ANSWERING.body = body
    client = TradingClient(ANSWERING, KEY, credentials=CREDENTIALS)
    try:
        asyncio.run(read(client))
    except PolyinfraError as error:
        str(error)


# --- section 4: a few bytes must not burn a core ---------------------------------------------------


@pytest.mark.parametrize("value", [b"1e200000", b"1e999999", b"1" + b"0" * 5000, b"1e-999999"])
def test_a_minimum_order_size_no_venue_sends_is_refused(value: bytes) -> None:
    # Before: 1e200000 cost seconds of exact arithmetic and was then accepted as the market's minimum.
    body = json.dumps(MARKET).encode().replace(b'"minimum_order_size": 5', b'"minimum_order_size": ' + value)
    assert value in body
    market = decode_json(body, Market, what="GET /markets body")
    with pytest.raises(InvalidNumberError) as refused:
        market_info_from_market(market)
    assert refused.value.context["field"] == "minimum_order_size"


@pytest.mark.parametrize(
    "fee_details",
    [{"r": 0.02, "e": Decimal("1e200000")}, {"r": Decimal("1e-999999"), "e": 1}, {"r": Decimal("1e60"), "e": 1}],
)
def test_a_fee_curve_no_venue_sends_is_refused(fee_details: dict[str, object]) -> None:
    info = decode_json(json.dumps(CLOB_MARKET_INFO | {"fd": fee_details}, default=str), ClobMarketInfo, what="body")
    with pytest.raises(InvalidNumberError):
        market_info_from_clob_market_info(CONDITION, info)
