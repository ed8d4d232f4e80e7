"""Steps shared by the trading tests: a wallet with its API key, a signed order (of the EOA, its
proxy or Safe, or a deposit wallet registered to it), a market of the emulator cleared of simulated
orders so that the test's orders only meet each other."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
from websockets.asyncio.client import ClientConnection

from polyinfra.clob.trading import TradingClient
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_builder import OrderStamper, build_order
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, SignedOrder, sign_order
from polyinfra.core.wallet_addresses import derived_maker
from polyinfra.emulator.runner import Emulator
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize
from polyinfra.model.orders import SignatureType
from polyinfra.net.http import HttpTransport

STAMPER = OrderStamper(lambda: time.time_ns() // 1_000_000)
"""One stamper for every test order of the process: salts never repeat, whichever test signs."""

WAIT_S = 30.0
"""How long a step waits for an answer before calling it a hang (a busy machine is slow, not broken)."""


async def subscribe_user_channel(socket: ClientConnection, subscription: str) -> None:
    """Send a user-channel ``subscription`` and return once it is in force: the venue answers a
    socket's messages in order, so once PONG is back the subscription has been processed."""
    await socket.send(subscription)
    await socket.send("PING")
    assert await asyncio.wait_for(socket.recv(), WAIT_S) == "PONG"


async def trading_client(transport: HttpTransport, private_key: str) -> TradingClient:
    """A client of ``private_key``'s wallet with its API key created (or derived)."""
    client = TradingClient(transport, SigningKey(private_key))
    await client.create_or_derive_api_key()
    return client


def signed_order(
    key: str | SigningKey,
    market: MarketInfo,
    side: Side,
    price: str,
    size: str | Decimal,
    *,
    token: int = 0,
    signature_type: SignatureType = SignatureType.EOA,
    maker: str | None = None,
) -> SignedOrder:
    """A limit order of ``market.tokens[token]`` signed by ``key``, built exactly, spending the
    funds of ``maker``: by default the wallet the venue takes for ``signature_type`` (the EOA, its
    proxy or its Safe); a deposit wallet (POLY_1271) must be given."""
    signing_key = key if isinstance(key, SigningKey) else SigningKey(key)
    funder = maker or derived_maker(signature_type, signing_key.address)
    assert funder is not None, "a POLY_1271 order needs the deposit wallet as maker"
    signs_for_a_wallet = signature_type in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE)
    built = build_order(
        token_id=market.tokens[token].token_id,
        side=side,
        price=price,
        size=size,
        maker=funder,
        signer=signing_key.address if signs_for_a_wallet else None,
        signature_type=signature_type,
        stamper=STAMPER,
        market=market,
    )
    return sign_order(built.order, signing_key, chain_id=POLYGON_CHAIN_ID)


async def register_deposit_wallet(emulator: Emulator, wallet: str, owner: str) -> None:
    """Tell the emulator's "chain" that ``owner`` owns the deposit wallet ``wallet``."""
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as admin:
        answer = await admin.post(f"/_emulator/wallets/{wallet}", json={"owner": owner})
    assert answer.status_code == 200, answer.text


def empty_markets(emulator: Emulator, count: int, *, rewarded: bool = False) -> list[MarketInfo]:
    """``count`` markets on the 0.01 grid with their simulated books cleared (with ``rewarded``,
    markets with a liquidity-reward program)."""
    markets = [
        info
        for condition, info in emulator.exchange.markets.items()
        if info.tick_size is TickSize.TICK_0_01 and (not rewarded or condition in emulator.rewards.programs)
    ][:count]
    assert len(markets) == count
    tokens = {token.token_id for market in markets for token in market.tokens}
    for order in emulator.exchange.open_orders():
        if order.token_id in tokens:
            emulator.exchange.cancel(order.order_id)
    return markets


def empty_market(emulator: Emulator, *, rewarded: bool = False) -> MarketInfo:
    """One market as :func:`empty_markets` gives them."""
    return empty_markets(emulator, 1, rewarded=rewarded)[0]
