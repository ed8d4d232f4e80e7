"""The client facade end to end against the emulator over real sockets: the newcomer's ten-line
script (blocking and async, two wallets), batches, market orders, the user channel, live books,
float and unknown-wallet refusals, the blocking client inside and outside an event loop, and no
secret in any repr or traceback.

Blocking scripts run in a worker thread (``asyncio.to_thread``): the test's event loop keeps
serving the emulator meanwhile, and the thread has no running loop, as a script has none.
"""

from __future__ import annotations

import asyncio
import gc
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyinfra import (
    AsyncPolymarket,
    InsufficientLiquidityError,
    InvalidNumberError,
    MinimumSizeError,
    OrderRejectedError,
    OrderRequest,
    OrderUpdate,
    PlacedOrder,
    Polymarket,
    Side,
    SyncState,
    TickSize,
    TickSizeViolationError,
    UnknownWalletError,
    WrongContextError,
)
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import PolyinfraError
from polyinfra.obs.redaction import SecretScanner
from tests.integration.trading_steps import WAIT_S, empty_market
from tests.traceback_locals import secrets_in_traceback_locals

# Hardhat accounts #1 and #2 (public test keys); account #0 is the leak gate's watched secret.
ALICE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
BOB_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
NO_ENVIRONMENT: dict[str, str] = {}
"""Every client here reads this instead of os.environ: a developer's POLYINFRA_* must not leak in."""


def _yes_token(emulator: Emulator) -> str:
    return empty_market(emulator).tokens[0].token_id


def newcomer_script(rest_url: str, token: str) -> tuple[PlacedOrder, PlacedOrder, list[str], list[str]]:
    """Place, list and cancel, from two wallets, in ten lines."""
    with Polymarket(rest_url=rest_url, environ=NO_ENVIRONMENT) as pm:
        pm.add_wallet("alice", private_key=ALICE_KEY)
        pm.add_wallet("bob", private_key=BOB_KEY)
        bid = pm.place_order(token, "BUY", "0.40", "10", wallet="alice")
        ask = pm.place_order(token, Side.SELL, Decimal("0.60"), 10, wallet="bob")
        listed = [order.id for order in pm.open_orders(wallet="alice") + pm.open_orders(wallet="bob")]
        pm.cancel(bid.order_id, wallet="alice")
        cancelled = pm.cancel_all(wallet="bob").canceled
    return bid, ask, listed, cancelled


async def newcomer_script_async(rest_url: str, token: str) -> tuple[PlacedOrder, PlacedOrder, list[str], list[str]]:
    """The same ten lines, async."""
    async with AsyncPolymarket(rest_url=rest_url, environ=NO_ENVIRONMENT) as pm:
        pm.add_wallet("alice", private_key=ALICE_KEY)
        pm.add_wallet("bob", private_key=BOB_KEY)
        bid = await pm.place_order(token, "BUY", "0.40", "10", wallet="alice")
        ask = await pm.place_order(token, Side.SELL, Decimal("0.60"), 10, wallet="bob")
        listed = [order.id for order in await pm.open_orders(wallet="alice") + await pm.open_orders(wallet="bob")]
        await pm.cancel(bid.order_id, wallet="alice")
        cancelled = (await pm.cancel_all(wallet="bob")).canceled
    return bid, ask, listed, cancelled


def _check_newcomer_run(
    emulator: Emulator, run: tuple[PlacedOrder, PlacedOrder, list[str], list[str]], token: str
) -> None:
    bid, ask, listed, cancelled = run
    assert (bid.status, ask.status) == ("live", "live")
    assert (bid.wallet, ask.wallet) == ("alice", "bob")
    assert (bid.price, bid.size, bid.amount) == (Decimal("0.4"), Decimal("10"), Decimal("4"))
    assert (ask.side, ask.price, ask.amount) == (Side.SELL, Decimal("0.6"), Decimal("6"))
    assert sorted(listed) == sorted([bid.order_id, ask.order_id])
    assert cancelled == [ask.order_id]
    assert not [order for order in emulator.exchange.open_orders() if order.token_id == token]


async def test_newcomer_places_lists_and_cancels_with_two_wallets_blocking(emulator: Emulator) -> None:
    token = _yes_token(emulator)
    run = await asyncio.to_thread(newcomer_script, emulator.urls["rest"], token)
    _check_newcomer_run(emulator, run, token)


async def test_newcomer_places_lists_and_cancels_with_two_wallets_async(emulator: Emulator) -> None:
    token = _yes_token(emulator)
    _check_newcomer_run(emulator, await newcomer_script_async(emulator.urls["rest"], token), token)


async def test_batch_gives_one_result_per_order_and_places_the_good_ones(emulator: Emulator) -> None:
    token = _yes_token(emulator)
    orders = [
        OrderRequest(token, "BUY", "0.30", "10"),
        OrderRequest(token, "BUY", 0.31, "10"),  # type: ignore[arg-type]  # the float a newcomer types
        OrderRequest(token, "BUY", "0.32", "1"),  # below the market's minimum size
        OrderRequest(token, "SELL", "0.70", "10", post_only=True),
        OrderRequest(token, "BUY", "0.75", "10", post_only=True),  # would take the ask above: the venue refuses
    ]
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], private_key=ALICE_KEY, environ=NO_ENVIRONMENT) as pm:
        results = await pm.place_orders(orders)
        assert len(results) == len(orders)
        placed, float_refusal, too_small, post_only, crossing = results
        assert isinstance(placed, PlacedOrder) and placed.status == "live"
        assert isinstance(float_refusal, InvalidNumberError)
        assert 'Decimal("0.31")' in str(float_refusal)
        assert isinstance(too_small, MinimumSizeError)
        assert isinstance(post_only, PlacedOrder) and post_only.side is Side.SELL
        assert isinstance(crossing, OrderRejectedError) and "venue_message" in crossing.context
        assert sorted(order.id for order in await pm.open_orders(asset_id=token)) == sorted(
            [placed.order_id, post_only.order_id]
        )
        await pm.cancel_many([placed.order_id, post_only.order_id])


async def test_market_orders_buy_dollars_and_sell_shares_from_the_book(emulator: Emulator) -> None:
    token = _yes_token(emulator)
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], environ=NO_ENVIRONMENT) as pm:
        pm.add_wallet("maker", private_key=BOB_KEY)
        pm.add_wallet("taker", private_key=ALICE_KEY)
        with pytest.raises(InsufficientLiquidityError):
            await pm.market_order(token, "BUY", "5", wallet="taker")  # the book is empty: nothing sent
        await pm.place_order(token, "SELL", "0.50", "20", wallet="maker")
        await pm.place_order(token, "BUY", "0.40", "20", wallet="maker")

        bought = await pm.market_order(token, "BUY", "5", wallet="taker")
        assert (bought.status, bought.price, bought.amount, bought.size) == ("matched", Decimal("0.5"), 5, 10)
        assert bought.trade_ids
        sold = await pm.market_order(token, Side.SELL, "6", "FAK", wallet="taker")
        assert (sold.status, sold.price, sold.size) == ("matched", Decimal("0.4"), Decimal("6"))
        book = await pm.book(token)
        best_ask, best_bid = book.best_ask(), book.best_bid()
        assert best_ask is not None and best_ask.size == 10
        assert best_bid is not None and best_bid.size == 14
        await pm.cancel_all(wallet="maker")


async def test_a_float_is_refused_before_anything_is_sent(unused_tcp_port: int) -> None:
    # Nothing listens there: an error other than InvalidNumberError would mean a request was tried.
    async with AsyncPolymarket(
        rest_url=f"http://127.0.0.1:{unused_tcp_port}", private_key=ALICE_KEY, environ=NO_ENVIRONMENT
    ) as pm:
        for kwargs in ({"price": 0.55, "size": "10"}, {"price": "0.55", "size": 10.0}):
            with pytest.raises(InvalidNumberError) as refused:
                await pm.place_order("1234", "BUY", **kwargs)
            name, value = next((name, value) for name, value in kwargs.items() if isinstance(value, float))
            assert f"{name}={value!r} is a float" in refused.value.message
            assert f'pass Decimal("{value!r}") or "{value!r}"' in refused.value.message
        with pytest.raises(InvalidNumberError, match=r"amount=12\.5 is a float"):
            await pm.market_order("1234", "BUY", 12.5)  # type: ignore[arg-type]


async def test_an_unknown_wallet_is_a_typed_error_listing_the_known_ones(unused_tcp_port: int) -> None:
    async with AsyncPolymarket(rest_url=f"http://127.0.0.1:{unused_tcp_port}", environ=NO_ENVIRONMENT) as pm:
        with pytest.raises(UnknownWalletError, match="no wallet: set POLYINFRA_PRIVATE_KEY"):
            await pm.cancel_all()
        pm.add_wallet("alice", private_key=ALICE_KEY)
        pm.add_wallet("bob", private_key=BOB_KEY)
        with pytest.raises(UnknownWalletError, match="no wallet named 'carol'; known wallets: alice, bob"):
            await pm.place_order("1234", "BUY", "0.5", "10", wallet="carol")
        assert pm.address() == pm.address("alice")  # the first one added is the default


async def test_the_blocking_client_refuses_to_block_a_running_loop(emulator: Emulator) -> None:
    token = _yes_token(emulator)
    pm = await asyncio.to_thread(Polymarket, rest_url=emulator.urls["rest"], environ=NO_ENVIRONMENT)
    try:
        with pytest.raises(WrongContextError, match=r"Polymarket\.book blocks.*await client\.book"):
            pm.book(token)
        with pytest.raises(WrongContextError, match="AsyncPolymarket"):
            Polymarket(rest_url=emulator.urls["rest"], environ=NO_ENVIRONMENT)
        book = await asyncio.to_thread(pm.book, token)  # from a thread without a loop it works
        assert book.token_id == token
    finally:
        await asyncio.to_thread(pm.close)
    with pytest.raises(WrongContextError, match="closed"):
        await asyncio.to_thread(pm.book, token)


def test_an_embedded_emulator_runs_inside_the_blocking_client() -> None:
    quiet = {"rate": 0}  # no simulated activity: the live book must equal the REST one
    with Polymarket.emulator(start=True, emulator_options=quiet, private_key=ALICE_KEY, environ=NO_ENVIRONMENT) as pm:
        embedded = pm.async_client.embedded_emulator
        assert embedded is not None and pm.config.rest_url == embedded.urls["rest"]
        market = next(pm.search(next(pm.markets()).question[:12]))
        token = market.tokens[0].token_id
        assert pm.market(market.condition_id).condition_id == market.condition_id
        assert pm.market_rules(token).tick_size is pm.tick_size(token)
        assert pm.neg_risk(token) is pm.market_rules(token).neg_risk
        assert set(pm.books([token])) == {token}
        assert pm.midpoints([token])[token] == pm.midpoint(token)
        assert pm.spreads([token])[token] == pm.spread(token)
        assert pm.price(token, "BUY") > 0
        assert pm.balance().balance == Decimal(10_000)
        assert pm.balance(token_id=token).balance == Decimal(1_000)
        pm.update_balance()
        books = pm.live_books([token])
        assert books.wait_until_live(timeout_s=WAIT_S)
        assert books.state(token) is SyncState.LIVE
        assert books.book(token).best_bid() == pm.book(token).best_bid()
    with pytest.raises(WrongContextError, match="closed"):
        pm.book(token)


async def test_user_events_start_with_the_open_orders_blocking_and_async(emulator: Emulator) -> None:
    token = _yes_token(emulator)

    def first_event(pm: Polymarket) -> tuple[PlacedOrder, Any]:
        placed = pm.place_order(token, "BUY", "0.20", "10")
        events = pm.user_events()
        try:
            return placed, next(events)
        finally:
            events.close()  # type: ignore[attr-defined]

    with_blocking = await asyncio.to_thread(
        Polymarket, rest_url=emulator.urls["rest"], private_key=ALICE_KEY, environ=NO_ENVIRONMENT
    )
    try:
        placed, event = await asyncio.to_thread(first_event, with_blocking)
    finally:
        await asyncio.to_thread(with_blocking.close)
    assert isinstance(event, OrderUpdate) and event.order_id == placed.order_id

    async with AsyncPolymarket(rest_url=emulator.urls["rest"], private_key=ALICE_KEY, environ=NO_ENVIRONMENT) as pm:
        async for update in pm.user_events(markets=[(await pm.market_rules(token)).condition_id]):
            assert isinstance(update, OrderUpdate) and update.order_id == placed.order_id
            break
        await pm.cancel_all()


async def test_live_books_follow_the_market_channel(emulator: Emulator) -> None:
    token = next(iter(emulator.exchange.markets.values())).tokens[0].token_id
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], environ=NO_ENVIRONMENT) as pm:
        books = await pm.live_books([token])
        assert await books.wait_until_live([token], timeout_s=WAIT_S)
        assert books.book(token).best_bid() == (await pm.book(token)).best_bid()
        async for event in pm.book_events([token]):
            assert event is not None
            break


async def test_no_secret_in_reprs_errors_or_traceback_locals(
    emulator: Emulator, known_secrets: Any, secret_scanner: SecretScanner, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(known_secrets.private_key + "\n")
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], private_key_file=key_file, environ=NO_ENVIRONMENT) as pm:
        pm.add_wallet("inline", private_key=known_secrets.private_key, signature_type="POLY_PROXY")
        token = _yes_token(emulator)
        for shown in (repr(pm), str(pm), repr(pm.config), repr(pm.add_wallet("third", private_key=BOB_KEY))):
            assert not secret_scanner.scan(shown), shown
        await pm.place_order(token, "BUY", "0.10", "10", wallet="inline")
        with pytest.raises(PolyinfraError) as refused:
            await pm.place_order(token, "BUY", "0.105", "10", wallet="inline")  # off the 0.01 tick
        assert not secrets_in_traceback_locals(refused.value, secret_scanner)
        assert not secret_scanner.scan(str(refused.value))
        await pm.cancel_all(wallet="inline")
    with pytest.raises(PolyinfraError) as unreadable:
        AsyncPolymarket(private_key_file=tmp_path / "missing", environ=NO_ENVIRONMENT)
    assert "missing" in str(unreadable.value)


async def test_a_tick_size_change_refused_by_the_venue_refreshes_the_cached_rules(emulator: Emulator) -> None:
    market = empty_market(emulator)
    token = market.tokens[0].token_id
    async with AsyncPolymarket(rest_url=emulator.urls["rest"], private_key=ALICE_KEY, environ=NO_ENVIRONMENT) as pm:
        await pm.place_order(token, "BUY", "0.15", "10")  # caches the 0.01 tick
        emulator.exchange.set_tick_size(market.condition_id, TickSize.TICK_0_1)
        with pytest.raises(TickSizeViolationError) as refused:
            await pm.place_order(token, "BUY", "0.25", "10")
        assert "venue_message" in refused.value.context  # the venue's refusal, not a local one
        assert (await pm.market_rules(token)).tick_size is TickSize.TICK_0_1
        with pytest.raises(TickSizeViolationError) as local:
            await pm.place_order(token, "BUY", "0.25", "10")
        assert "venue_message" not in local.value.context
        assert (await pm.place_order(token, "BUY", "0.2", "10")).status == "live"
        await pm.cancel_all()


async def test_one_blocking_client_serves_many_threads_at_once(emulator: Emulator, tmp_path: Path) -> None:
    token = _yes_token(emulator)
    config_file = tmp_path / "polyinfra.toml"
    config_file.write_text(f'rest_url = "{emulator.urls["rest"]}"\nprivate_key = "{ALICE_KEY}"\n')
    threads = 4
    start_together = threading.Barrier(threads)

    def place(pm: Polymarket, cents: int) -> PlacedOrder:
        start_together.wait(timeout=WAIT_S)
        return pm.place_order(token, "BUY", f"0.{cents:02d}", "10")

    pm = await asyncio.to_thread(Polymarket.from_toml, config_file, environ=NO_ENVIRONMENT)
    try:
        placed = await asyncio.gather(*(asyncio.to_thread(place, pm, 10 + index) for index in range(threads)))
        assert {order.status for order in placed} == {"live"}
        assert len({order.order_id for order in placed}) == threads
        cancelled = await asyncio.to_thread(pm.cancel_many, [order.order_id for order in placed])
        assert sorted(cancelled.canceled) == sorted(order.order_id for order in placed)
    finally:
        await asyncio.to_thread(pm.close)


def test_a_blocking_client_dropped_unclosed_stops_its_loop_thread() -> None:
    pm = Polymarket.emulator(start=True, emulator_options={"rate": 0}, environ=NO_ENVIRONMENT)
    emulator = pm.async_client.embedded_emulator
    assert emulator is not None
    loop_thread = pm._loop._thread  # the client's own thread, found before the client is dropped
    del pm
    gc.collect()
    loop_thread.join(timeout=WAIT_S)
    assert not loop_thread.is_alive()
    with pytest.raises(PolyinfraError, match="not running"):
        emulator.port  # noqa: B018 - the embedded emulator was stopped with the client


def test_an_async_client_belongs_to_the_loop_it_opened_on(unused_tcp_port: int) -> None:
    pm = AsyncPolymarket(rest_url=f"http://127.0.0.1:{unused_tcp_port}", environ=NO_ENVIRONMENT)
    asyncio.run(pm.open())
    with pytest.raises(WrongContextError, match="another event loop"):
        asyncio.run(pm.aclose())


async def test_emulator_connects_to_one_already_running(emulator: Emulator) -> None:
    pm = await asyncio.to_thread(Polymarket.emulator, port=emulator.port, environ=NO_ENVIRONMENT)
    try:
        assert pm.config.rest_url == emulator.urls["rest"]
        assert pm.config.ws_url + "/ws/market" == emulator.urls["ws_market"]
        market = next(iter(emulator.exchange.markets.values()))
        assert (await asyncio.to_thread(pm.market, market.condition_id)).question == market.question
    finally:
        await asyncio.to_thread(pm.close)
