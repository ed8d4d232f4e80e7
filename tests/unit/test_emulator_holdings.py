"""What a wallet's open orders hold (venue notes: Matching), kept by the emulator's trading API as orders rest,
fill and leave the book, equals a scan of every open order after any sequence of operations."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets

import pytest

from polyinfra.core.eip712 import SigningKey
from polyinfra.core.matching import Fill, Order
from polyinfra.core.order_builder import OrderStamper, build_order
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, order_payload, sign_order
from polyinfra.emulator.account_keys import AccountKeys
from polyinfra.emulator.accounts import Accounts, ApiKey
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.simulator import generate_markets
from polyinfra.emulator.trading_api import TradingApi, TradingSettings
from polyinfra.errors import OrderRejectedError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side
from polyinfra.model.orders import TimeInForce
from polyinfra.obs.redaction import register_secret
from polyinfra.wire.clob_orders import PostOrderBody

START_MS = 1_800_000_000_000
STEPS = 300


class _Clock:
    def __init__(self) -> None:
        self.now_ms = START_MS

    def __call__(self) -> int:
        return self.now_ms


def _scanned(exchange: Exchange, makers: dict[str, str], address: str, token_id: str, side: Side) -> int:
    """The reference: every open order of ``address`` (``makers`` maps order ids to makers) held afresh."""
    held = 0
    for order in exchange.open_orders():
        if makers.get(order.order_id) != address or order.side is not side:
            continue
        if side is Side.BUY:
            held += order.remaining_micros * order.price_micros // MICROS
        elif order.token_id == token_id:
            held += order.remaining_micros
    return held


def _body(
    key: SigningKey, api_key: ApiKey, market: MarketInfo, rng: random.Random, clock: _Clock, stamper: OrderStamper
) -> PostOrderBody:
    time_in_force = rng.choice((TimeInForce.GTC, TimeInForce.GTC, TimeInForce.GTD, TimeInForce.FAK))
    side = rng.choice((Side.BUY, Side.SELL))
    # Prices around the middle, on both tokens, so orders cross often (normal fills, mints, merges).
    price = f"0.{rng.randint(40, 60)}"
    size = rng.randint(5, 40)
    built = build_order(
        token_id=rng.choice(market.tokens).token_id,
        side=side,
        price=price,
        size=size if time_in_force.rests or side is Side.SELL else None,
        amount=None if time_in_force.rests or side is Side.SELL else size,
        time_in_force=time_in_force,
        expiration_s=clock.now_ms // 1000 + rng.randint(61, 90) if time_in_force is TimeInForce.GTD else 0,
        maker=key.address,
        stamper=stamper,
        market=market,
    )
    signed = sign_order(built.order, key, chain_id=POLYGON_CHAIN_ID)
    return PostOrderBody(order=order_payload(signed), owner=api_key.api_key, order_type=time_in_force.value)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_held_amounts_equal_a_scan_of_open_orders(seed: int) -> None:
    rng = random.Random(seed)
    clock = _Clock()
    markets = [market for market in generate_markets(3, seed=seed) if market.tick_size.micros_per_tick <= 10_000]
    exchange = Exchange(markets, clock_ms=clock)
    accounts = Accounts()
    # Trades that fail roll balances back: the open orders' remaining sizes must not move with them.
    faults = FaultConfig(seed=seed, trade_retry_rate=0.5, trade_failure_rate=0.5)
    settings = TradingSettings(mined_after_s=0.0, confirmed_after_s=0.0)
    api = TradingApi(
        exchange,
        accounts,
        account_keys=AccountKeys(clock_ms=clock),
        user_events=lambda *_: None,
        clock_ms=clock,
        settings=settings,
        page_size=100,
        faults=faults,
    )
    wallets: list[tuple[SigningKey, ApiKey]] = []
    for _ in range(3):
        private_key = "0x" + secrets.token_hex(32)
        register_secret(private_key)
        key = SigningKey(private_key)
        api_key = accounts.create(key.address, 0)
        assert api_key is not None
        wallets.append((key, api_key))
    makers: dict[str, str] = {}
    stamper = OrderStamper(clock, salt_key=seed)
    fills: list[Fill] = []
    exchange.subscribe_fills(fills.extend)
    tokens = [token.token_id for market in markets for token in market.tokens]

    for _ in range(STEPS):
        action = rng.random()
        if action < 0.6:
            key, api_key = rng.choice(wallets)
            body = _body(key, api_key, rng.choice(markets), rng, clock, stamper)
            # A refused order (balance, a FAK without a match) rests nothing.
            with contextlib.suppress(OrderRejectedError):
                makers[api._place(api_key, body).orderID] = key.address
        elif action < 0.7:
            # A taker from inside the emulator, as the simulator places them: fills reach the API only
            # through the exchange.
            token_id = rng.choice(tokens)
            size = rng.randint(5, 60) * MICROS
            taker = Order(
                f"0x{rng.getrandbits(256):064x}", "simulator", token_id, rng.choice(list(Side)), 500_000, size
            )
            exchange.place(taker)
        elif action < 0.82 and exchange.open_orders():
            exchange.cancel(rng.choice(exchange.open_orders()).order_id)
        elif action < 0.85:
            exchange.cancel_all(rng.choice(wallets)[1].api_key)
        elif action < 0.95:
            clock.now_ms += rng.randint(1, 40) * 1000
            exchange.expire_orders()
        else:
            await asyncio.sleep(0)  # the trades' status timers, failures and their rollbacks
        for key, _ in wallets:
            assert api.ledger.reserved(key.address, "", Side.BUY) == _scanned(
                exchange, makers, key.address, "", Side.BUY
            )
            for token_id in tokens:
                held = api.ledger.reserved(key.address.lower(), token_id, Side.SELL)
                assert held == _scanned(exchange, makers, key.address, token_id, Side.SELL)

    resolved = markets[0]
    exchange.resolve_market(resolved.condition_id, resolved.tokens[0].token_id)
    for key, _ in wallets:
        assert api.ledger.reserved(key.address, "", Side.BUY) == _scanned(exchange, makers, key.address, "", Side.BUY)
    # The sequence did what it is meant to test: our orders rested, and filled as makers and as takers.
    assert len(makers) > STEPS // 4
    assert any(fill.maker_order_id in makers for fill in fills)
    assert any(fill.taker_order_id in makers for fill in fills)
    api.close()
