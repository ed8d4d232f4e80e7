"""The typed REST clients against the emulator over real sockets: every method's domain values equal
the exchange's state, batches keep the caller's order and are chunked at 500 tokens, paging walks
every market, the sync facade answers the same, and failures are typed (venue notes: REST routes)."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web

from polyinfra.clob.rest import ClobRestClient, SyncClobRestClient
from polyinfra.clob.rest_endpoints import TOKENS_PER_REQUEST
from polyinfra.core.book_hash import book_hash_matches
from polyinfra.core.from_wire import market_info_from_market, order_book_from_summary
from polyinfra.core.matching import Order
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidValueError, MalformedMessageError, NotFoundError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side, TickSize, micros_to_decimal
from polyinfra.model.orders import TimeInForce
from tests.integration.conftest import EmulatorFactory

MARKETS = 5
PAGE_SIZE = 2
UNKNOWN_TOKEN = "1" * 77
UNKNOWN_MARKET = "0x" + "0" * 64
_order_ids = itertools.count()


@pytest.fixture
async def emulator(emulator_factory: EmulatorFactory) -> Emulator:
    return await emulator_factory(markets=MARKETS, seed=17, page_size=PAGE_SIZE)


@pytest.fixture
async def rest(emulator: Emulator) -> AsyncIterator[ClobRestClient]:
    async with ClobRestClient(emulator.urls["rest"]) as client:
        yield client


async def _venue_requests(emulator: Emulator) -> int:
    """How many venue REST requests the emulator has served (its own endpoints do not count)."""
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as http:
        stats = (await http.get("/_emulator/stats")).json()
    return int(stats["http"]["requests"])


def _decimal(micros: int | None) -> Decimal:
    assert micros is not None
    return micros_to_decimal(micros)


def _buy_at_best_ask(emulator: Emulator, token: TokenId) -> Decimal:
    """A trade: buy the minimum size at the token's best ask; returns the price."""
    ask = emulator.exchange.best_ask(token)
    assert ask is not None
    emulator.exchange.place(
        Order(
            order_id=f"rest-client-test-{next(_order_ids)}",
            owner="test",
            token_id=token,
            side=Side.BUY,
            price_micros=ask,
            size_micros=5_000_000,
            time_in_force=TimeInForce.FAK,
        )
    )
    return micros_to_decimal(ask)


# --- service ---------------------------------------------------------------------------------------


async def test_service_endpoints(rest: ClobRestClient) -> None:
    await rest.get_ok()  # raises unless the venue answers healthy
    server_time_s = await rest.get_server_time()
    assert isinstance(server_time_s, int)
    assert server_time_s > 1_700_000_000
    assert await rest.get_version() == 2


# --- books and prices ------------------------------------------------------------------------------


async def test_book_is_the_exchange_summary_and_converts_to_an_order_book(
    rest: ClobRestClient, emulator: Emulator
) -> None:
    exchange = emulator.exchange
    for token in exchange.tokens():
        summary = await rest.get_book(token)
        assert summary == exchange.book_summary(token)
        assert book_hash_matches(summary)
        book = order_book_from_summary(summary)
        market = exchange.market_of(token)
        assert market is not None
        assert (book.token_id, book.market, book.tick_size) == (token, market.condition_id, market.tick_size)
        best_bid, best_ask = book.best_bid(), book.best_ask()
        assert best_bid is not None and best_ask is not None
        assert (best_bid.price, best_ask.price) == (
            _decimal(exchange.best_bid(token)),
            _decimal(exchange.best_ask(token)),
        )
        levels = exchange.levels(token)
        assert [(level.price, level.size) for level in book.bids()] == [
            (micros_to_decimal(price), micros_to_decimal(size)) for price, size in reversed(levels.bids)
        ]
        assert [(level.price, level.size) for level in book.asks()] == [
            (micros_to_decimal(price), micros_to_decimal(size)) for price, size in reversed(levels.asks)
        ]


async def test_books_batch_keeps_the_callers_order(rest: ClobRestClient, emulator: Emulator) -> None:
    tokens = list(reversed(emulator.exchange.tokens()))
    asked = [tokens[0], UNKNOWN_TOKEN, *tokens, tokens[3]]
    summaries = await rest.get_books(asked)
    # Each token once, where it was first asked; the unknown one left out.
    assert summaries == [emulator.exchange.book_summary(token) for token in tokens]


async def test_price_buy_is_the_best_bid_and_sell_the_best_ask(rest: ClobRestClient, emulator: Emulator) -> None:
    exchange = emulator.exchange
    for token in exchange.tokens():
        assert await rest.get_price(token, Side.BUY) == _decimal(exchange.best_bid(token))
        assert await rest.get_price(token, "SELL") == _decimal(exchange.best_ask(token))


async def test_prices_batch_keeps_the_callers_order(rest: ClobRestClient, emulator: Emulator) -> None:
    exchange = emulator.exchange
    tokens = exchange.tokens()
    asked = [(tokens[3], Side.SELL), (tokens[0], Side.BUY), (UNKNOWN_TOKEN, Side.BUY), (tokens[3], Side.BUY)]
    prices = await rest.get_prices(asked)
    assert list(prices.items()) == [
        ((tokens[3], Side.SELL), _decimal(exchange.best_ask(tokens[3]))),
        ((tokens[0], Side.BUY), _decimal(exchange.best_bid(tokens[0]))),
        ((tokens[3], Side.BUY), _decimal(exchange.best_bid(tokens[3]))),
    ]
    assert all(isinstance(price, Decimal) for price in prices.values())


async def test_midpoints_and_spreads(rest: ClobRestClient, emulator: Emulator) -> None:
    exchange = emulator.exchange
    tokens = list(reversed(exchange.tokens()))
    expected_mids, expected_spreads = {}, {}
    for token in tokens:
        bid, ask = _decimal(exchange.best_bid(token)), _decimal(exchange.best_ask(token))
        expected_mids[token], expected_spreads[token] = (bid + ask) / 2, ask - bid
        assert await rest.get_midpoint(token) == expected_mids[token]
        assert await rest.get_spread(token) == expected_spreads[token]
    mids = await rest.get_midpoints([*tokens, UNKNOWN_TOKEN])
    spreads = await rest.get_spreads([UNKNOWN_TOKEN, *tokens])
    assert list(mids.items()) == list(expected_mids.items())
    assert list(spreads.items()) == list(expected_spreads.items())


async def test_last_trade_is_none_until_the_token_trades(rest: ClobRestClient, emulator: Emulator) -> None:
    traded, untraded = emulator.exchange.tokens()[0], emulator.exchange.tokens()[2]
    # The venue answers a placeholder 0.5 for a token that never traded (venue notes: REST routes): not a trade.
    assert await rest.get_last_trade_price(traded) is None
    price = _buy_at_best_ask(emulator, traded)
    assert await rest.get_last_trade_price(traded) == (price, Side.BUY)
    assert await rest.get_last_trades_prices([untraded, traded, UNKNOWN_TOKEN]) == {traded: (price, Side.BUY)}


async def test_tick_size_follows_the_market(rest: ClobRestClient, emulator: Emulator) -> None:
    exchange = emulator.exchange
    for token in exchange.tokens():
        market = exchange.market_of(token)
        assert market is not None
        assert await rest.get_tick_size(token) is market.tick_size
    token = exchange.tokens()[0]
    market = exchange.market_of(token)
    assert market is not None
    exchange.set_tick_size(market.condition_id, TickSize.TICK_0_0001)
    assert await rest.get_tick_size(token) is TickSize.TICK_0_0001


async def test_neg_risk(rest: ClobRestClient, emulator: Emulator) -> None:
    markets = [emulator.exchange.market_of(token) for token in emulator.exchange.tokens()]
    flags = [await rest.get_neg_risk(token) for token in emulator.exchange.tokens()]
    assert flags == [market.neg_risk for market in markets if market is not None]
    assert set(flags) == {True, False}, "seed 17 lists both kinds of market"


async def test_prices_history(rest: ClobRestClient, emulator: Emulator) -> None:
    token = emulator.exchange.tokens()[1]
    assert await rest.get_prices_history(token, interval="max") == []
    price = _buy_at_best_ask(emulator, token)
    history = await rest.get_prices_history(token, interval="1d", fidelity_minutes=1)
    assert history == [(time_s, micros_to_decimal(micros)) for time_s, micros in emulator.exchange.price_history(token)]
    [(traded_s, traded_price)] = history
    assert traded_price == price
    assert await rest.get_prices_history(token, start_s=traded_s, end_s=traded_s) == history
    assert await rest.get_prices_history(token, start_s=traded_s + 1, end_s=traded_s + 100) == []


# --- markets ---------------------------------------------------------------------------------------


async def test_market_metadata(rest: ClobRestClient, emulator: Emulator) -> None:
    exchange = emulator.exchange
    for condition, info in exchange.markets.items():
        # /markets carries no fee curve: unknown (None), never zero.
        assert await rest.get_market(condition) == dataclasses.replace(info, fee_schedule=None)
        # /clob-markets carries the fee curve but no question.
        assert await rest.get_clob_market_info(condition) == dataclasses.replace(info, question="")
        raw = await rest.get_raw_market(condition)
        listing = exchange.listing(condition)
        assert (raw.condition_id, raw.question_id, raw.market_slug) == (condition, listing.question_id, listing.slug)
        assert (raw.active, raw.closed, raw.accepting_orders) == (True, False, True)
        for token in info.tokens:
            assert await rest.get_market_by_token(token.token_id) == condition


async def test_paging_walks_every_market_one_page_per_request(rest: ClobRestClient, emulator: Emulator) -> None:
    conditions = list(emulator.exchange.markets)
    pages = -(-MARKETS // PAGE_SIZE)
    before = await _venue_requests(emulator)
    markets = [market async for market in rest.iter_markets()]
    assert await _venue_requests(emulator) - before == pages
    assert [market.condition_id for market in markets] == conditions
    assert [market_info_from_market(market) for market in markets] == [
        dataclasses.replace(info, fee_schedule=None) for info in emulator.exchange.markets.values()
    ]
    assert [market.condition_id async for market in rest.iter_simplified_markets()] == conditions


async def test_sampling_listings_leave_out_resolved_markets(rest: ClobRestClient, emulator: Emulator) -> None:
    condition, info = next(iter(emulator.exchange.markets.items()))
    emulator.exchange.resolve_market(condition, info.tokens[0].token_id)
    open_markets = list(emulator.exchange.markets)[1:]
    assert [market.condition_id async for market in rest.iter_sampling_markets()] == open_markets
    assert [market.condition_id async for market in rest.iter_sampling_simplified_markets()] == open_markets
    every = [market async for market in rest.iter_markets()]
    assert [(market.condition_id, market.closed) for market in every[:2]] == [
        (condition, True),
        (open_markets[0], False),
    ]


async def test_leaving_the_loop_stops_paging(rest: ClobRestClient, emulator: Emulator) -> None:
    before = await _venue_requests(emulator)
    async for market in rest.iter_markets():
        assert market.condition_id == next(iter(emulator.exchange.markets))
        break
    assert await _venue_requests(emulator) - before == 1


# --- batches beyond the payload limit --------------------------------------------------------------


async def test_batches_are_chunked_at_the_payload_limit_and_keep_order(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(markets=260, seed=3)
    exchange = emulator.exchange
    tokens = list(reversed(exchange.tokens()))
    assert len(tokens) == 520 > TOKENS_PER_REQUEST

    async def requests_made(call: Callable[[], Any]) -> tuple[int, Any]:
        before = await _venue_requests(emulator)
        answer = await call()
        return await _venue_requests(emulator) - before, answer

    async with ClobRestClient(emulator.urls["rest"]) as rest:
        count, summaries = await requests_made(lambda: rest.get_books(tokens))
        assert count == 2
        assert summaries == [exchange.book_summary(token) for token in tokens]

        count, mids = await requests_made(lambda: rest.get_midpoints(tokens))
        assert count == 2
        assert list(mids) == tokens

        count, spreads = await requests_made(lambda: rest.get_spreads(tokens))
        assert count == 2
        assert list(spreads) == tokens

        count, last_trades = await requests_made(lambda: rest.get_last_trades_prices(tokens))
        assert count == 2
        assert last_trades == {}

        # Both sides of 520 tokens: 1,040 pairs, three requests.
        pairs = [(token, side) for token in tokens for side in (Side.SELL, Side.BUY)]
        count, prices = await requests_made(lambda: rest.get_prices(pairs))
        assert count == 3
        assert list(prices) == pairs
        assert prices[(tokens[-1], Side.BUY)] == _decimal(exchange.best_bid(tokens[-1]))


# --- the sync facade -------------------------------------------------------------------------------


async def test_sync_facade_gives_the_same_answers(rest: ClobRestClient, emulator: Emulator) -> None:
    tokens = emulator.exchange.tokens()
    token, condition = tokens[0], next(iter(emulator.exchange.markets))
    _buy_at_best_ask(emulator, token)

    async def async_answers() -> list[object]:
        return [
            await rest.get_version(),
            await rest.get_book(token),
            await rest.get_books(tokens),
            await rest.get_price(token, Side.SELL),
            await rest.get_prices([(token, Side.BUY), (tokens[1], Side.SELL)]),
            await rest.get_midpoint(token),
            await rest.get_midpoints(tokens),
            await rest.get_spread(token),
            await rest.get_spreads(tokens),
            await rest.get_last_trade_price(token),
            await rest.get_last_trades_prices(tokens),
            await rest.get_tick_size(token),
            await rest.get_neg_risk(token),
            await rest.get_prices_history(token, interval="1d"),
            await rest.get_market(condition),
            await rest.get_raw_market(condition),
            await rest.get_market_by_token(token),
            await rest.get_clob_market_info(condition),
            [market async for market in rest.iter_markets()],
            [market async for market in rest.iter_simplified_markets()],
            [market async for market in rest.iter_sampling_markets()],
            [market async for market in rest.iter_sampling_simplified_markets()],
        ]

    def sync_answers() -> list[object]:
        with SyncClobRestClient(emulator.urls["rest"]) as client:
            client.get_ok()
            assert isinstance(client.get_server_time(), int)
            return [
                client.get_version(),
                client.get_book(token),
                client.get_books(tokens),
                client.get_price(token, Side.SELL),
                client.get_prices([(token, Side.BUY), (tokens[1], Side.SELL)]),
                client.get_midpoint(token),
                client.get_midpoints(tokens),
                client.get_spread(token),
                client.get_spreads(tokens),
                client.get_last_trade_price(token),
                client.get_last_trades_prices(tokens),
                client.get_tick_size(token),
                client.get_neg_risk(token),
                client.get_prices_history(token, interval="1d"),
                client.get_market(condition),
                client.get_raw_market(condition),
                client.get_market_by_token(token),
                client.get_clob_market_info(condition),
                list(client.iter_markets()),
                list(client.iter_simplified_markets()),
                list(client.iter_sampling_markets()),
                list(client.iter_sampling_simplified_markets()),
            ]

    # In a thread: the emulator serves from this test's event loop, which must keep running.
    assert await asyncio.to_thread(sync_answers) == await async_answers()


async def test_sync_facade_errors_are_typed(emulator: Emulator) -> None:
    def failures() -> list[type[Exception]]:
        raised: list[type[Exception]] = []
        with SyncClobRestClient(emulator.urls["rest"]) as client:
            for call in (lambda: client.get_midpoint(UNKNOWN_TOKEN), lambda: client.get_books([])):
                try:
                    call()
                except (NotFoundError, InvalidValueError) as exc:
                    raised.append(type(exc))
        return raised

    assert await asyncio.to_thread(failures) == [NotFoundError, InvalidValueError]


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    [
        "get_book",
        "get_midpoint",
        "get_spread",
        "get_last_trade_price",
        "get_tick_size",
        "get_neg_risk",
        "get_market_by_token",
    ],
)
async def test_unknown_token_is_not_found(rest: ClobRestClient, method: str) -> None:
    with pytest.raises(NotFoundError) as raised:
        await getattr(rest, method)(UNKNOWN_TOKEN)
    assert raised.value.status == 404


async def test_unknown_token_or_market_is_not_found(rest: ClobRestClient) -> None:
    with pytest.raises(NotFoundError):
        await rest.get_price(UNKNOWN_TOKEN, Side.BUY)
    with pytest.raises(NotFoundError):
        await rest.get_market(UNKNOWN_MARKET)
    with pytest.raises(NotFoundError):
        await rest.get_raw_market(UNKNOWN_MARKET)
    with pytest.raises(NotFoundError):
        await rest.get_clob_market_info(UNKNOWN_MARKET)


async def test_bad_arguments_raise_before_any_request(rest: ClobRestClient, emulator: Emulator) -> None:
    token = emulator.exchange.tokens()[0]
    bad_calls: list[Callable[[], Any]] = [
        lambda: rest.get_books([]),
        lambda: rest.get_midpoints(iter(())),
        # One string is an iterable of one-digit "token ids".
        lambda: rest.get_spreads(token),
        lambda: rest.get_last_trades_prices([token, "0xnot-a-token"]),
        lambda: rest.get_prices([]),
        lambda: rest.get_prices([(token, "buy")]),
        lambda: rest.get_price(token, "HOLD"),
        lambda: rest.get_book("12a"),
        lambda: rest.get_tick_size(""),
        lambda: rest.get_market("0x1234"),
        lambda: rest.get_clob_market_info("../markets"),
        lambda: rest.get_prices_history(token),
        lambda: rest.get_prices_history(token, interval="2y"),
        lambda: rest.get_prices_history(token, interval="1d", start_s=1, end_s=2),
        lambda: rest.get_prices_history(token, start_s=1),
        lambda: rest.get_prices_history(token, start_s=5, end_s=4),
        lambda: rest.get_prices_history(token, interval="max", fidelity_minutes=0),
    ]
    before = await _venue_requests(emulator)
    for call in bad_calls:
        with pytest.raises(InvalidValueError):
            await call()
    assert await _venue_requests(emulator) == before


# --- venue quirks the emulator does not show ---------------------------------------------------------


async def _serve(routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def test_batch_maps_of_json_numbers_are_read_exactly() -> None:
    # The official Rust client's mocks send numbers in these maps, the docs strings (venue notes: REST routes).
    token = "1" * 76

    async def midpoints(request: web.Request) -> web.Response:
        return web.Response(text=f'{{"{token}": 0.4865}}', content_type="application/json")

    async def prices(request: web.Request) -> web.Response:
        return web.Response(text=f'{{"{token}": {{"BUY": 0.1, "SELL": "0.3"}}}}', content_type="application/json")

    runner, url = await _serve([web.post("/midpoints", midpoints), web.post("/prices", prices)])
    try:
        async with ClobRestClient(url) as rest:
            assert await rest.get_midpoints([token]) == {token: Decimal("0.4865")}
            assert await rest.get_prices([(token, Side.BUY), (token, Side.SELL)]) == {
                (token, Side.BUY): Decimal("0.1"),
                (token, Side.SELL): Decimal("0.3"),
            }
    finally:
        await runner.cleanup()


async def test_paging_that_does_not_advance_is_refused() -> None:
    async def same_page_again(request: web.Request) -> web.Response:
        # A page whose next_cursor is the cursor that asked for it: following it would loop forever.
        page = {
            "data": [
                {
                    "condition_id": UNKNOWN_MARKET,
                    "tokens": [],
                    "rewards": {"rates": None, "min_size": 0, "max_spread": 0},
                    "active": True,
                    "closed": False,
                    "archived": False,
                    "accepting_orders": True,
                }
            ],
            "next_cursor": request.query["next_cursor"],
            "limit": 1,
            "count": 1,
        }
        return web.json_response(page)

    runner, url = await _serve([web.get("/simplified-markets", same_page_again)])
    try:
        async with ClobRestClient(url) as rest:
            seen = []
            with pytest.raises(MalformedMessageError):
                async for market in rest.iter_simplified_markets():
                    seen.append(market.condition_id)
            assert seen == []
    finally:
        await runner.cleanup()
