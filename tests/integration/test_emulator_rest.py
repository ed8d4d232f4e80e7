"""The emulator's CLOB REST API over real sockets: every endpoint's shape, status codes and error
bodies (venue notes: REST routes, Responses), cursor paging, and the official ``py-clob-client-v2`` against it."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import msgspec
import pytest
from py_clob_client_v2 import ClobClient
from py_clob_client_v2.clob_types import BookParams

from polyinfra.core.book_hash import book_hash_matches
from polyinfra.core.matching import Order
from polyinfra.emulator.runner import Emulator
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side, TickSize, format_micros
from polyinfra.model.orders import TimeInForce
from polyinfra.wire.clob_rest import OrderBookSummary

MARKETS = 5
PAGE_SIZE = 2
NO_ORDERBOOK = {"error": "No orderbook exists for the requested token id"}
UNKNOWN_TOKEN = "1" * 77
_order_ids = itertools.count()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=MARKETS, seed=11, rate=0, page_size=PAGE_SIZE) as running:
        yield running


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=30.0) as client:
        yield client


def _token(emulator: Emulator, index: int = 0) -> TokenId:
    return emulator.exchange.tokens()[index]


def _buy_at_best_ask(emulator: Emulator, token: TokenId) -> int:
    """A trade: buy the minimum size at the token's best ask; returns the price."""
    ask = emulator.exchange.best_ask(token)
    assert ask is not None
    emulator.exchange.place(
        Order(
            order_id=f"test-{next(_order_ids)}",
            owner="test",
            token_id=token,
            side=Side.BUY,
            price_micros=ask,
            size_micros=5_000_000,
            time_in_force=TimeInForce.FAK,
        )
    )
    return ask


# --- service ------------------------------------------------------------------------------------


async def test_service_endpoints(http: httpx.AsyncClient) -> None:
    for path in ("/", "/ok"):
        response = await http.get(path)
        assert (response.status_code, response.json()) == (200, "OK")
    time_response = await http.get("/time")
    assert time_response.status_code == 200
    # A bare integer of unix seconds, not an object (venue notes: REST routes).
    assert time_response.text.isdigit()
    assert int(time_response.text) > 1_700_000_000
    version = await http.get("/version")
    assert (version.status_code, version.json()) == (200, {"version": 2})


async def test_responses_are_gzipped_when_asked(http: httpx.AsyncClient, emulator: Emulator) -> None:
    # The official client sends Accept-Encoding: gzip on every GET (venue notes: REST routes).
    response = await http.get("/book", params={"token_id": _token(emulator)}, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.json()["asset_id"] == _token(emulator)


# --- books and prices ---------------------------------------------------------------------------


async def test_market_listing_matches_what_the_events_announce(http: httpx.AsyncClient, emulator: Emulator) -> None:
    condition = next(iter(emulator.exchange.markets))
    listing = emulator.exchange.listing(condition)
    body = (await http.get(f"/markets/{condition}")).json()
    assert (body["question_id"], body["market_slug"], body["description"]) == (
        listing.question_id,
        listing.slug,
        listing.description,
    )


async def test_book_is_the_exchange_summary_in_venue_shape(http: httpx.AsyncClient, emulator: Emulator) -> None:
    token = _token(emulator)
    response = await http.get("/book", params={"token_id": token})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == [
        "market",
        "asset_id",
        "timestamp",
        "hash",
        "bids",
        "asks",
        "min_order_size",
        "tick_size",
        "neg_risk",
        "last_trade_price",
    ]
    assert body == msgspec.to_builtins(emulator.exchange.book_summary(token))
    summary = msgspec.json.decode(response.content, type=OrderBookSummary)
    assert book_hash_matches(summary)
    bid_prices = [Decimal(level["price"]) for level in body["bids"]]
    ask_prices = [Decimal(level["price"]) for level in body["asks"]]
    # Best price LAST on both sides, as the real servers send them (venue notes: Order books).
    assert bid_prices == sorted(bid_prices)
    assert ask_prices == sorted(ask_prices, reverse=True)
    assert all(isinstance(level["price"], str) and isinstance(level["size"], str) for level in body["bids"])


async def test_books_batch_answers_known_tokens(http: httpx.AsyncClient, emulator: Emulator) -> None:
    tokens = emulator.exchange.tokens()[:3]
    response = await http.post("/books", json=[{"token_id": token} for token in [*tokens, UNKNOWN_TOKEN]])
    assert response.status_code == 200
    assert response.json() == [msgspec.to_builtins(emulator.exchange.book_summary(token)) for token in tokens]


async def test_price_buy_is_best_bid_and_sell_is_best_ask(http: httpx.AsyncClient, emulator: Emulator) -> None:
    token = _token(emulator)
    best_bid, best_ask = emulator.exchange.best_bid(token), emulator.exchange.best_ask(token)
    assert best_bid is not None and best_ask is not None
    buy = await http.get("/price", params={"token_id": token, "side": "BUY"})
    sell = await http.get("/price", params={"token_id": token, "side": "SELL"})
    assert (buy.status_code, buy.json()) == (200, {"price": format_micros(best_bid)})
    assert (sell.status_code, sell.json()) == (200, {"price": format_micros(best_ask)})


@pytest.mark.parametrize("side", [None, "", "HOLD", "bid"])
async def test_price_with_missing_or_invalid_side_is_400(
    http: httpx.AsyncClient, emulator: Emulator, side: str | None
) -> None:
    params = {"token_id": _token(emulator)} | ({} if side is None else {"side": side})
    response = await http.get("/price", params=params)
    assert (response.status_code, response.json()) == (400, {"error": "Invalid side"})


async def test_prices_batch(http: httpx.AsyncClient, emulator: Emulator) -> None:
    first, second = emulator.exchange.tokens()[:2]
    body = [
        {"token_id": first, "side": "BUY"},
        {"token_id": first, "side": "SELL"},
        {"token_id": second, "side": "SELL"},
        {"token_id": UNKNOWN_TOKEN, "side": "BUY"},
    ]
    response = await http.post("/prices", json=body)
    assert response.status_code == 200
    exchange = emulator.exchange
    first_bid, first_ask, second_ask = exchange.best_bid(first), exchange.best_ask(first), exchange.best_ask(second)
    assert first_bid is not None and first_ask is not None and second_ask is not None
    assert response.json() == {
        first: {"BUY": format_micros(first_bid), "SELL": format_micros(first_ask)},
        second: {"SELL": format_micros(second_ask)},
    }
    invalid = await http.post("/prices", json=[{"token_id": first, "side": "sideways"}])
    assert (invalid.status_code, invalid.json()) == (400, {"error": "Invalid side"})


async def test_midpoint_and_spread(http: httpx.AsyncClient, emulator: Emulator) -> None:
    tokens = emulator.exchange.tokens()[:2]
    expected_mid, expected_spread = {}, {}
    for token in tokens:
        bid, ask = emulator.exchange.best_bid(token), emulator.exchange.best_ask(token)
        assert bid is not None and ask is not None
        expected_mid[token] = str((Decimal(format_micros(bid)) + Decimal(format_micros(ask))) / 2)
        expected_spread[token] = str(Decimal(format_micros(ask)) - Decimal(format_micros(bid)))
    for token in tokens:
        mid = await http.get("/midpoint", params={"token_id": token})
        spread = await http.get("/spread", params={"token_id": token})
        assert Decimal(mid.json()["mid"]) == Decimal(expected_mid[token])
        assert Decimal(spread.json()["spread"]) == Decimal(expected_spread[token])
    mids = await http.post("/midpoints", json=[{"token_id": token} for token in tokens])
    spreads = await http.post("/spreads", json=[{"token_id": token} for token in tokens])
    assert {token: Decimal(value) for token, value in mids.json().items()} == {
        token: Decimal(value) for token, value in expected_mid.items()
    }
    assert {token: Decimal(value) for token, value in spreads.json().items()} == {
        token: Decimal(value) for token, value in expected_spread.items()
    }
    assert all(isinstance(value, str) for value in [*mids.json().values(), *spreads.json().values()])


async def test_last_trade_price_defaults_then_follows_trades(http: httpx.AsyncClient, emulator: Emulator) -> None:
    token = _token(emulator)
    before = await http.get("/last-trade-price", params={"token_id": token})
    # The venue's answer for a token that never traded (venue notes: REST routes).
    assert (before.status_code, before.json()) == (200, {"price": "0.5", "side": ""})
    price = _buy_at_best_ask(emulator, token)
    after = await http.get("/last-trade-price", params={"token_id": token})
    assert after.json() == {"price": format_micros(price), "side": "BUY"}
    other = _token(emulator, 2)
    batch = await http.post("/last-trades-prices", json=[{"token_id": token}, {"token_id": other}])
    assert batch.status_code == 200
    assert batch.json() == [
        {"token_id": token, "price": format_micros(price), "side": "BUY"},
        {"token_id": other, "price": "0.5", "side": ""},
    ]


async def test_tick_size_is_an_exact_json_number(http: httpx.AsyncClient, emulator: Emulator) -> None:
    token = _token(emulator)
    market = emulator.exchange.market_of(token)
    assert market is not None
    response = await http.get("/tick-size", params={"token_id": token})
    assert response.text == '{"minimum_tick_size":' + market.tick_size.text + "}"
    emulator.exchange.set_tick_size(market.condition_id, TickSize.TICK_0_0001)
    finer = await http.get("/tick-size", params={"token_id": token})
    assert finer.text == '{"minimum_tick_size":0.0001}'
    # Parsed without float, the number is exactly the tick.
    assert json.loads(finer.text, parse_float=Decimal) == {"minimum_tick_size": Decimal("0.0001")}


async def test_neg_risk(http: httpx.AsyncClient, emulator: Emulator) -> None:
    for token in emulator.exchange.tokens():
        market = emulator.exchange.market_of(token)
        assert market is not None
        response = await http.get("/neg-risk", params={"token_id": token})
        assert response.json() == {"neg_risk": market.neg_risk}


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        ("/book", {}),
        ("/price", {"side": "BUY"}),
        ("/midpoint", {}),
        ("/spread", {}),
        ("/last-trade-price", {}),
        ("/tick-size", {}),
        ("/neg-risk", {}),
    ],
)
async def test_token_errors(http: httpx.AsyncClient, path: str, extra: dict[str, str]) -> None:
    unknown = await http.get(path, params={"token_id": UNKNOWN_TOKEN} | extra)
    assert (unknown.status_code, unknown.json()) == (404, NO_ORDERBOOK)
    missing = await http.get(path, params=extra)
    assert (missing.status_code, missing.json()) == (400, {"error": "Invalid token id"})
    malformed = await http.get(path, params={"token_id": "0xnot-a-token"} | extra)
    assert (malformed.status_code, malformed.json()) == (400, {"error": "Invalid token id"})


@pytest.mark.parametrize("path", ["/books", "/prices", "/midpoints", "/spreads", "/last-trades-prices"])
async def test_batch_errors(http: httpx.AsyncClient, emulator: Emulator, path: str) -> None:
    for bad_body in (b"not json", b'{"token_id": "1"}', b'[{"side": "BUY"}]', b'[{"token_id": "abc"}]'):
        response = await http.post(path, content=bad_body, headers={"Content-Type": "application/json"})
        assert (response.status_code, response.json()) == (400, {"error": "Invalid payload"})
    too_many = [{"token_id": _token(emulator), "side": "BUY"}] * 501
    response = await http.post(path, json=too_many)
    assert (response.status_code, response.json()) == (400, {"error": "Payload exceeds the limit"})
    at_limit = await http.post(path, json=too_many[:500])
    assert at_limit.status_code == 200


async def test_prices_history(http: httpx.AsyncClient, emulator: Emulator) -> None:
    token = _token(emulator)
    assert (await http.get("/prices-history", params={"market": token, "interval": "max"})).json() == {"history": []}
    price = _buy_at_best_ask(emulator, token)
    response = await http.get("/prices-history", params={"market": token, "interval": "1d", "fidelity": "1"})
    assert response.status_code == 200
    history = json.loads(response.text, parse_float=Decimal)["history"]
    assert len(history) == 1
    assert history[0]["p"] == Decimal(format_micros(price))
    point_s = history[0]["t"]
    assert isinstance(point_s, int)
    window = {"market": token, "startTs": str(point_s), "endTs": str(point_s)}
    assert len((await http.get("/prices-history", params=window)).json()["history"]) == 1
    later = {"market": token, "startTs": str(point_s + 1), "endTs": str(point_s + 100)}
    assert (await http.get("/prices-history", params=later)).json() == {"history": []}
    for bad in ({"market": token}, {"market": token, "startTs": "1"}, {"market": token, "interval": "2y"}):
        error = await http.get("/prices-history", params=bad)
        assert error.status_code == 400
        assert set(error.json()) == {"error"}
    no_market = await http.get("/prices-history", params={"interval": "max"})
    assert (no_market.status_code, no_market.json()) == (400, {"error": "Invalid token id"})


# --- markets ------------------------------------------------------------------------------------


async def _walk(http: httpx.AsyncClient, path: str, *, url_encoded: bool) -> tuple[list[dict[str, object]], list[str]]:
    cursor, data, cursors = "MA==", [], []
    while cursor != "LTE=":
        if url_encoded:
            response = await http.get(path, params={"next_cursor": cursor})
        else:
            # V1 clients put the cursor in the query by hand, unencoded (venue notes: REST routes).
            response = await http.get(f"{path}?next_cursor={cursor}")
        assert response.status_code == 200
        page = response.json()
        assert set(page) == {"data", "next_cursor", "limit", "count"}
        assert page["limit"] == PAGE_SIZE
        assert page["count"] == len(page["data"]) <= PAGE_SIZE
        data.extend(page["data"])
        cursor = page["next_cursor"]
        cursors.append(cursor)
    return data, cursors


@pytest.mark.parametrize("url_encoded", [True, False])
async def test_markets_paging_walks_every_market(
    http: httpx.AsyncClient, emulator: Emulator, *, url_encoded: bool
) -> None:
    data, cursors = await _walk(http, "/markets", url_encoded=url_encoded)
    # next_cursor is base64 of the next offset: "Mg==" is 2, "NA==" is 4, "LTE=" the end (venue notes: REST routes).
    assert cursors == ["Mg==", "NA==", "LTE="]
    assert [market["condition_id"] for market in data] == list(emulator.exchange.markets)


async def test_market_shape(http: httpx.AsyncClient, emulator: Emulator) -> None:
    condition, info = next(iter(emulator.exchange.markets.items()))
    response = await http.get(f"/markets/{condition}")
    assert response.status_code == 200
    market = json.loads(response.text, parse_float=Decimal)
    assert list(market) == [
        "enable_order_book",
        "active",
        "closed",
        "archived",
        "accepting_orders",
        "accepting_order_timestamp",
        "minimum_order_size",
        "minimum_tick_size",
        "condition_id",
        "question_id",
        "question",
        "description",
        "market_slug",
        "end_date_iso",
        "game_start_time",
        "seconds_delay",
        "fpmm",
        "maker_base_fee",
        "taker_base_fee",
        "notifications_enabled",
        "neg_risk",
        "neg_risk_market_id",
        "neg_risk_request_id",
        "icon",
        "image",
        "rewards",
        "is_50_50_outcome",
        "tokens",
        "tags",
    ]
    assert market["condition_id"] == condition
    assert market["question"] == info.question
    assert market["minimum_tick_size"] == info.tick_size.decimal
    assert market["minimum_order_size"] == info.min_order_size
    assert market["neg_risk"] == info.neg_risk
    assert (market["active"], market["closed"], market["accepting_orders"]) == (True, False, True)
    assert [(token["token_id"], token["outcome"], token["winner"]) for token in market["tokens"]] == [
        (token.token_id, token.outcome, False) for token in info.tokens
    ]
    assert all(isinstance(token["price"], Decimal) for token in market["tokens"])
    missing = await http.get("/markets/0x" + "0" * 64)
    assert (missing.status_code, missing.json()) == (404, {"error": "market not found"})


async def test_resolved_market_is_closed_and_leaves_sampling(http: httpx.AsyncClient, emulator: Emulator) -> None:
    condition, info = next(iter(emulator.exchange.markets.items()))
    winner = info.tokens[1].token_id
    emulator.exchange.resolve_market(condition, winner)
    market = (await http.get(f"/markets/{condition}")).json()
    assert (market["closed"], market["accepting_orders"]) == (True, False)
    assert [(token["winner"], token["price"]) for token in market["tokens"]] == [(False, 0), (True, 1)]
    sampling, _ = await _walk(http, "/sampling-markets", url_encoded=True)
    assert [entry["condition_id"] for entry in sampling] == list(emulator.exchange.markets)[1:]
    simplified_sampling, _ = await _walk(http, "/sampling-simplified-markets", url_encoded=True)
    assert [entry["condition_id"] for entry in simplified_sampling] == list(emulator.exchange.markets)[1:]


async def test_simplified_markets(http: httpx.AsyncClient, emulator: Emulator) -> None:
    data, _ = await _walk(http, "/simplified-markets", url_encoded=False)
    assert [entry["condition_id"] for entry in data] == list(emulator.exchange.markets)
    assert all(
        list(entry) == ["condition_id", "tokens", "rewards", "active", "closed", "archived", "accepting_orders"]
        for entry in data
    )


async def test_cursor_edges(http: httpx.AsyncClient) -> None:
    end = await http.get("/markets", params={"next_cursor": "LTE="})
    assert end.json() == {"data": [], "next_cursor": "LTE=", "limit": PAGE_SIZE, "count": 0}
    first = await http.get("/markets")
    assert first.json()["next_cursor"] == "Mg=="
    for bad in ("!!!", "bm90IGEgbnVtYmVy"):  # not base64; base64 of "not a number"
        response = await http.get("/markets", params={"next_cursor": bad})
        assert response.status_code == 400
        assert set(response.json()) == {"error"}


async def test_clob_market_info(http: httpx.AsyncClient, emulator: Emulator) -> None:
    for condition, info in emulator.exchange.markets.items():
        response = await http.get(f"/clob-markets/{condition}")
        assert response.status_code == 200
        body = json.loads(response.text, parse_float=Decimal)
        assert body["t"] == [{"t": token.token_id, "o": token.outcome} for token in info.tokens]
        assert body["mts"] == info.tick_size.decimal
        assert body["mos"] == info.min_order_size
        assert body["fd"] == {
            "r": info.fee_schedule.rate,
            "e": info.fee_schedule.exponent,
            "to": info.fee_schedule.taker_only,
        }
        # ``nr`` is left out when false (venue notes: Market info).
        assert body.get("nr", False) == info.neg_risk
        assert ("nr" in body) == info.neg_risk
    missing = await http.get("/clob-markets/0x" + "0" * 64)
    assert (missing.status_code, missing.json()) == (404, {"error": "market not found"})


async def test_markets_by_token(http: httpx.AsyncClient, emulator: Emulator) -> None:
    for condition, info in emulator.exchange.markets.items():
        for token in info.tokens:
            response = await http.get(f"/markets-by-token/{token.token_id}")
            assert response.json() == {"condition_id": condition}
    unknown = await http.get(f"/markets-by-token/{UNKNOWN_TOKEN}")
    assert (unknown.status_code, unknown.json()) == (404, NO_ORDERBOOK)


# --- the official client ------------------------------------------------------------------------


async def test_official_client_reads_everything(emulator: Emulator) -> None:
    first, second = emulator.exchange.tokens()[:2]
    condition = next(iter(emulator.exchange.markets))

    def use_official_client() -> dict[str, object]:
        client = ClobClient(host=emulator.urls["rest"], chain_id=137)
        return {
            "ok": client.get_ok(),
            "time": client.get_server_time(),
            "book": client.get_order_book(first),
            "books": client.get_order_books([BookParams(token_id=first), BookParams(token_id=second)]),
            "midpoint": client.get_midpoint(first),
            "midpoints": client.get_midpoints([BookParams(token_id=first), BookParams(token_id=second)]),
            "price": client.get_price(first, "BUY"),
            "prices": client.get_prices(
                [BookParams(token_id=first, side="BUY"), BookParams(token_id=second, side="SELL")]
            ),
            "spread": client.get_spread(first),
            "spreads": client.get_spreads([BookParams(token_id=first), BookParams(token_id=second)]),
            "tick_size": client.get_tick_size(first),
            "neg_risk": client.get_neg_risk(first),
            "last_trade_price": client.get_last_trade_price(first),
            "markets": client.get_markets(),
            "next_markets": client.get_markets(next_cursor="Mg=="),
            "market": client.get_market(condition),
            "simplified_markets": client.get_simplified_markets(),
        }

    answers = await asyncio.to_thread(use_official_client)
    market = emulator.exchange.market_of(first)
    assert market is not None
    assert answers["ok"] == "OK"
    assert isinstance(answers["time"], int)
    assert answers["book"] == msgspec.to_builtins(emulator.exchange.book_summary(first))
    assert isinstance(answers["books"], list) and len(answers["books"]) == 2
    assert answers["price"] == {"price": format_micros(emulator.exchange.best_bid(first) or 0)}
    assert answers["tick_size"] == market.tick_size.text
    assert answers["neg_risk"] is market.neg_risk
    assert answers["last_trade_price"] == {"price": "0.5", "side": ""}
    assert isinstance(answers["markets"], dict) and answers["markets"]["next_cursor"] == "Mg=="
    assert isinstance(answers["next_markets"], dict) and answers["next_markets"]["next_cursor"] == "NA=="
    assert isinstance(answers["market"], dict) and answers["market"]["condition_id"] == condition
    assert isinstance(answers["simplified_markets"], dict) and len(answers["simplified_markets"]["data"]) == PAGE_SIZE
    for key in ("midpoint", "midpoints", "prices", "spread", "spreads"):
        assert isinstance(answers[key], dict) and answers[key]
