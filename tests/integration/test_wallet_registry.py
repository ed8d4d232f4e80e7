""":class:`~polyinfra.wallets.registry.WalletRegistry` against the emulator: many wallets at once,
each with its own credentials, signature type, funder and failure domain; one failing wallet (bad
credentials, an open breaker, a hang) never stalls the others; no secret in any repr."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from polyinfra.clob.trading import SendOrderResponse
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_builder import OrderStamper, build_order
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, sign_order
from polyinfra.core.wallet_addresses import proxy_wallet, safe_wallet
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import CircuitOpenError, InvalidValueError, L2AuthError, RequestTimeoutError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side
from polyinfra.model.orders import SignatureType
from polyinfra.net.breaker import CallOutcome
from polyinfra.obs.redaction import SecretScanner
from polyinfra.wallets import Wallet, WalletConfig, WalletRegistry

# Hardhat accounts #1 and #2 (public test keys).
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
THIRD_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
THIRD_PROXY = proxy_wallet(SigningKey(THIRD_KEY).address)
STAMPER = OrderStamper(lambda: time.time_ns() // 1_000_000)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=3, seed=5, rate=0) as running:
        yield running


def _market(emulator: Emulator) -> MarketInfo:
    return next(iter(emulator.exchange.markets.values()))


async def _post_one(wallet: Wallet, market: MarketInfo) -> SendOrderResponse:
    """A far-from-the-money BUY of the market's minimum, signed as the wallet's setup says."""
    config = wallet.config
    built = build_order(
        token_id=market.tokens[0].token_id,
        side=Side.BUY,
        price=market.tick_size.text,
        size=market.min_order_size,
        maker=config.maker,
        signer=config.key.address,
        signature_type=config.signature_type,
        stamper=STAMPER,
        market=market,
    )
    return await wallet.client.post_order(sign_order(built.order, config.key, chain_id=POLYGON_CHAIN_ID))


def _configs(private_key: str) -> list[WalletConfig]:
    return [
        WalletConfig("alice", SigningKey(private_key)),
        WalletConfig("bob", SigningKey(SECOND_KEY)),
        # A Magic/email wallet: the EOA signs, the proxy holds the funds (venue notes: Wallets).
        WalletConfig("carol-proxy", SigningKey(THIRD_KEY), signature_type=SignatureType.POLY_PROXY, funder=THIRD_PROXY),
    ]


async def test_wallets_trade_side_by_side_each_as_itself(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    async with WalletRegistry(emulator.urls["rest"]) as registry:
        wallets = [registry.add(config) for config in _configs(known_secrets.private_key)]
        connected = await registry.connect()
        assert all(isinstance(credentials, ApiCredentials) for credentials in connected.values())
        assert len({credentials.api_key for credentials in connected.values()}) == 3  # type: ignore[union-attr]

        placed = await registry.each(lambda wallet: _post_one(wallet, market), timeout_s=30)
        assert all(isinstance(answer, SendOrderResponse) and answer.success for answer in placed.values())
        for wallet in wallets:
            orders = [order async for order in wallet.client.iter_open_orders()]
            assert [order.id for order in orders] == [placed[wallet.wallet_id].order_id]  # type: ignore[union-attr]
            assert orders[0].maker_address.lower() == wallet.config.maker.lower()
        # One limiter for the IP-wide budgets; one breaker set per wallet.
        assert len({id(wallet.transport.limiter) for wallet in wallets}) == 1
        assert len({id(wallet.breakers) for wallet in wallets}) == 3


async def test_bad_credentials_fail_only_their_wallet(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    forged = ApiCredentials(
        "00000000-0000-0000-0000-000000000000", known_secrets.api_secret, known_secrets.api_passphrase
    )
    async with WalletRegistry(emulator.urls["rest"]) as registry:
        for config in _configs(known_secrets.private_key)[1:]:
            registry.add(config)
        registry.add(WalletConfig("mallory", SigningKey(known_secrets.private_key), credentials=forged))
        await registry.connect()
        placed = await registry.each(lambda wallet: _post_one(wallet, market), timeout_s=30)

    refused = placed.pop("mallory")
    assert isinstance(refused, L2AuthError)
    assert refused.context["status"] == 401
    assert all(isinstance(answer, SendOrderResponse) and answer.success for answer in placed.values())


async def test_an_open_breaker_or_a_hang_stalls_no_other_wallet(emulator: Emulator, known_secrets: Any) -> None:
    market = _market(emulator)
    async with WalletRegistry(emulator.urls["rest"]) as registry:
        for config in _configs(known_secrets.private_key):
            registry.add(config)
        await registry.connect()
        # Alice's trading endpoints fail five times in a row: her breaker opens, nobody else's.
        breaker = registry["alice"].breakers["clob-trading"]
        now = time.monotonic()
        for _ in range(breaker.config.failure_threshold):
            breaker.record(breaker.admit(now), CallOutcome.FAILURE, now)
        placed = await registry.each(lambda wallet: _post_one(wallet, market), timeout_s=30)
        assert isinstance(placed["alice"], CircuitOpenError)
        assert isinstance(placed["bob"], SendOrderResponse) and isinstance(placed["carol-proxy"], SendOrderResponse)

        async def bob_hangs(wallet: Wallet) -> SendOrderResponse:
            if wallet.wallet_id == "bob":
                await asyncio.Event().wait()
            return await _post_one(wallet, market)

        # Bob's hang is cut at the timeout (were it not, this would wait for ever); the others are unaffected.
        placed = await registry.each(bob_hangs, timeout_s=10)
        assert isinstance(placed["bob"], RequestTimeoutError)
        assert isinstance(placed["carol-proxy"], SendOrderResponse)


async def test_wallet_setups_are_checked_and_no_repr_shows_a_secret(
    known_secrets: Any, secret_scanner: SecretScanner
) -> None:
    key = SigningKey(known_secrets.private_key)
    with pytest.raises(InvalidValueError, match="EOA wallet trades its own funds"):
        WalletConfig("eoa-with-funder", key, funder=THIRD_PROXY)
    with pytest.raises(InvalidValueError, match="POLY_GNOSIS_SAFE wallet needs funder"):
        WalletConfig("safe-without-funder", key, signature_type=SignatureType.POLY_GNOSIS_SAFE)
    # Another key's proxy (or this key's Safe) is not this key's proxy: refused with the right funder.
    with pytest.raises(InvalidValueError, match=f"proxy wallet is {proxy_wallet(key.address)}") as wrong:
        WalletConfig("someone-elses-proxy", key, signature_type=SignatureType.POLY_PROXY, funder=THIRD_PROXY)
    assert wrong.value.context["expected_funder"] == proxy_wallet(key.address)
    with pytest.raises(InvalidValueError, match="the signer's Safe is"):
        WalletConfig("safe", key, signature_type=SignatureType.POLY_GNOSIS_SAFE, funder=proxy_wallet(key.address))
    safe = WalletConfig("safe", key, signature_type=SignatureType.POLY_GNOSIS_SAFE, funder=safe_wallet(key.address))
    assert safe.maker == safe_wallet(key.address)
    assert WalletConfig("eoa", key, funder=key.address.lower()).maker == key.address

    credentials = ApiCredentials("key-id", known_secrets.api_secret, known_secrets.api_passphrase)
    async with WalletRegistry("http://127.0.0.1:9") as registry:
        wallet = registry.add(WalletConfig("alice", key, credentials=credentials))
        with pytest.raises(InvalidValueError, match="already registered"):
            registry.add(WalletConfig("alice", key))
        for shown in (repr(registry), repr(wallet), repr(wallet.config), repr(wallet.client), str(list(registry))):
            assert secret_scanner.scan(shown) == []
