"""The emulator binds an order's maker to the key that signs it, as the venue does, over real sockets:
each signature type trades with its own wallet (the EOA, the proxy and Safe derived from it, a
deposit wallet registered to it); any other maker, another user's wallet above all, is answered
"invalid signature" and moves nothing. Identities a caller claims elsewhere (headers, order ids,
balance queries, sockets) are proved too."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import websockets

from polyinfra.clob.trading import AssetType, OrderSubmission, TradingClient
from polyinfra.core import order_signing
from polyinfra.core.auth_headers import l2_headers
from polyinfra.core.eip712 import SigningKey, keccak256
from polyinfra.core.order_signing import (
    POLYGON_CHAIN_ID,
    SignedOrder,
    exchange_domain,
    order_payload,
    order_struct_hash,
)
from polyinfra.core.wallet_addresses import proxy_wallet, safe_wallet
from polyinfra.emulator.accounts import SEED_COLLATERAL_MICROS, SEED_SHARES_MICROS
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import InvalidSignatureError, NotFoundError
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import MICROS, Side
from polyinfra.model.orders import SignatureType
from polyinfra.net.http import HttpTransport
from polyinfra.obs.redaction import revealed
from polyinfra.wire.clob_orders import PostOrderBody, encode_post_order
from tests.integration.trading_steps import empty_market, register_deposit_wallet, signed_order, trading_client

# Hardhat account #1 (public test key): the second user, B; A is account #0 (known_secrets).
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEPOSIT_A = "0x" + "a1" * 20
DEPOSIT_B = "0x" + "b2" * 20
INVALID_SIGNATURE = {"error": "invalid signature"}


@dataclass(frozen=True, slots=True)
class _Users:
    """Two users with their API keys: A (account #0) and B (account #1), and a market of their own."""

    a_key: SigningKey
    a: TradingClient
    b_key: SigningKey
    b: TradingClient
    market: MarketInfo


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=30.0) as client:
        yield client


@pytest.fixture
async def users(emulator: Emulator, transport: HttpTransport, known_secrets: Any) -> _Users:
    a = await trading_client(transport, known_secrets.private_key)
    b = await trading_client(transport, SECOND_KEY)
    return _Users(SigningKey(known_secrets.private_key), a, SigningKey(SECOND_KEY), b, empty_market(emulator))


async def _send(
    http: httpx.AsyncClient,
    client: TradingClient,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    params: dict[str, str] | None = None,
    address: str | None = None,
) -> httpx.Response:
    """A request with ``client``'s credentials and L2 headers, claiming ``address`` (its own by
    default), past the client's own checks: what a hostile or home-made client sends."""
    assert client.credentials is not None
    headers = revealed(
        l2_headers(
            client.credentials,
            address=address or client.address,
            timestamp_s=int(time.time()),
            method=method,
            request_path=path,
            body=body,
        )
    )
    return await http.request(method, path, content=body, params=params, headers=headers)


async def _post_unchecked(http: httpx.AsyncClient, client: TradingClient, signed: SignedOrder) -> httpx.Response:
    assert client.credentials is not None
    envelope = PostOrderBody(order=order_payload(signed), owner=client.credentials.api_key, order_type="GTC")
    return await _send(http, client, "POST", "/order", body=encode_post_order(envelope))


async def test_every_signature_type_trades_with_its_own_wallet(
    emulator: Emulator, transport: HttpTransport, http: httpx.AsyncClient, users: _Users
) -> None:
    a = users.a.address
    await register_deposit_wallet(emulator, DEPOSIT_A, a)
    funders = {
        SignatureType.EOA: a,
        SignatureType.POLY_PROXY: proxy_wallet(a),
        SignatureType.POLY_GNOSIS_SAFE: safe_wallet(a),
        SignatureType.POLY_1271: DEPOSIT_A,
    }
    for kind, funder in funders.items():
        # Each wallet's pUSD is set apart, so that the balance read below is provably that wallet's.
        collateral = f"{1000 + int(kind)}"
        assert (await http.post(f"/_emulator/wallets/{funder}", json={"collateral": collateral})).status_code == 200
        maker = funder if kind is SignatureType.POLY_1271 else None
        order = signed_order(users.a_key, users.market, Side.BUY, "0.5", "10", signature_type=kind, maker=maker)
        placed = await users.a.post_order(order)
        assert placed.success and placed.status == "live"
        assert (await users.a.get_order(placed.order_id)).maker_address.lower() == funder.lower()
        # balance-allowance with the signature type reads that wallet of the key, as the venue does.
        reader = TradingClient(transport, users.a_key, credentials=users.a.credentials, signature_type=kind)
        balance = await reader.get_balance_allowance(AssetType.COLLATERAL)
        assert int(balance.balance) == int(collateral) * MICROS


async def test_a_wrong_funder_is_invalid_signature(emulator: Emulator, http: httpx.AsyncClient, users: _Users) -> None:
    client, a = users.a, users.a.address
    await register_deposit_wallet(emulator, DEPOSIT_B, users.b.address)
    wrong = [
        (SignatureType.POLY_PROXY, safe_wallet(a)),
        (SignatureType.POLY_PROXY, "0x" + "11" * 20),
        (SignatureType.POLY_GNOSIS_SAFE, proxy_wallet(a)),
        (SignatureType.POLY_GNOSIS_SAFE, safe_wallet(users.b.address)),
        (SignatureType.POLY_1271, "0x" + "12" * 20),  # no deposit wallet at all
        (SignatureType.POLY_1271, DEPOSIT_B),  # someone else's
    ]
    for kind, maker in wrong:
        order = signed_order(users.a_key, users.market, Side.BUY, "0.5", "10", signature_type=kind, maker=maker)
        answer = await _post_unchecked(http, client, order)
        assert (answer.status_code, answer.json()) == (400, INVALID_SIGNATURE), (kind, maker)
        # polyinfra's own client: the proxy / Safe is refused before sending, naming the right one;
        # a deposit wallet's owner only the venue knows, and its answer is the same typed error.
        with pytest.raises(InvalidSignatureError) as refused:
            await client.post_order(order)
        if kind is SignatureType.POLY_1271:
            assert refused.value.context["status"] == 400
        else:
            assert refused.value.context["expected_maker"] == (
                proxy_wallet(a) if kind is SignatureType.POLY_PROXY else safe_wallet(a)
            )
    # In a batch, the order with a wrong funder is refused on its own and the others go.
    proxy = SignatureType.POLY_PROXY
    wrong_proxy = signed_order(
        users.a_key, users.market, Side.BUY, "0.5", "10", signature_type=proxy, maker=safe_wallet(a)
    )
    right_proxy = signed_order(users.a_key, users.market, Side.BUY, "0.5", "10", signature_type=proxy)
    refused, placed = await client.post_orders([OrderSubmission(wrong_proxy), OrderSubmission(right_proxy)])
    assert isinstance(refused, InvalidSignatureError) and "expected_maker" in refused.context
    assert not isinstance(placed, InvalidSignatureError) and placed.order_id == right_proxy.order_hash
    assert [order.id async for order in client.iter_open_orders()] == [right_proxy.order_hash]


async def test_another_users_shares_cannot_be_sold(emulator: Emulator, http: httpx.AsyncClient, users: _Users) -> None:
    """The audit's attack: B bids 0.01 for 500 shares, then sells A's shares into its own bid."""
    market, a, attacker = users.market, users.a.address, users.b
    await register_deposit_wallet(emulator, DEPOSIT_A, a)
    bid = await attacker.post_order(signed_order(users.b_key, market, Side.BUY, "0.01", "500"))
    assert bid.status == "live"
    victims_wallets = [
        (SignatureType.POLY_PROXY, a),
        (SignatureType.POLY_GNOSIS_SAFE, a),
        (SignatureType.POLY_PROXY, proxy_wallet(a)),
        (SignatureType.POLY_GNOSIS_SAFE, safe_wallet(a)),
        (SignatureType.POLY_1271, DEPOSIT_A),
    ]
    for kind, maker in victims_wallets:
        theft = signed_order(users.b_key, market, Side.SELL, "0.01", "500", signature_type=kind, maker=maker)
        answer = await _post_unchecked(http, attacker, theft)
        assert (answer.status_code, answer.json()) == (400, INVALID_SIGNATURE), (kind, maker)
    balances = emulator.trading.balances
    for wallet in (a, proxy_wallet(a), safe_wallet(a), DEPOSIT_A):
        assert balances.shares(wallet, market.tokens[0].token_id) == SEED_SHARES_MICROS
        assert balances.collateral(wallet) == SEED_COLLATERAL_MICROS
    assert (await attacker.get_order(bid.order_id)).size_matched == "0"


async def test_claimed_identities_are_proved(emulator: Emulator, http: httpx.AsyncClient, users: _Users) -> None:
    first, second = users.a, users.b
    assert first.credentials is not None and second.credentials is not None
    placed = await first.post_order(signed_order(users.a_key, users.market, Side.BUY, "0.5", "10"))

    # Valid credentials of one wallet with another's address: the key is bound to its EOA.
    assert (await _send(http, first, "GET", "/data/orders", address=second.address)).status_code == 401
    # Another wallet's order: not found to read or cancel, and never listed.
    with pytest.raises(NotFoundError):
        await second.get_order(placed.order_id)
    assert (await second.cancel(placed.order_id)).not_canceled == {placed.order_id: "Order not found"}
    assert [order async for order in second.iter_open_orders()] == []
    assert (await first.get_order(placed.order_id)).status == "ORDER_STATUS_LIVE"
    # A balance query names a signature type, never an address: it reads only the key's own wallets,
    # and a key without a deposit wallet has none to read.
    await register_deposit_wallet(emulator, DEPOSIT_A, first.address)
    params = {"asset_type": "COLLATERAL", "signature_type": "3"}
    assert (await _send(http, second, "GET", "/balance-allowance", params=params)).status_code == 400
    # The user channel: another key's id with one's own secret is dropped.
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        auth = {
            "apiKey": first.credentials.api_key,
            "secret": second.credentials.secret.reveal(),
            "passphrase": second.credentials.passphrase.reveal(),
        }
        await socket.send(json.dumps({"type": "user", "markets": [], "auth": auth}))
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()


def _deposit_order_signed_through(key: SigningKey, market: MarketInfo, maker: str, signing_wallet: str) -> SignedOrder:
    """A POLY_1271 SELL of ``maker``'s shares whose ERC-7739 signature goes through another wallet,
    ``signing_wallet`` (its ``signer``): what ``sign_order`` refuses to make, built from its parts."""
    order = signed_order(key, market, Side.SELL, "0.5", "10", signature_type=SignatureType.POLY_1271, maker=maker)
    crafted = replace(order.order, signer=signing_wallet)
    separator = exchange_domain(POLYGON_CHAIN_ID, neg_risk=crafted.neg_risk).separator
    contents = order_struct_hash(crafted)
    digest = keccak256(b"\x19\x01" + separator + contents)
    inner = key.sign_digest(
        order_signing._typed_data_sign_digest(separator, contents, POLYGON_CHAIN_ID, signing_wallet)
    )
    signature = inner + separator + contents + order_signing._ORDER_TYPE_TRAILER
    return SignedOrder(crafted, "0x" + signature.hex(), "0x" + digest.hex())


async def test_a_deposit_wallet_order_is_signed_through_its_own_wallet(
    emulator: Emulator, http: httpx.AsyncClient, users: _Users
) -> None:
    market, key, client = users.market, users.a_key, users.a
    await register_deposit_wallet(emulator, DEPOSIT_A, client.address)
    await register_deposit_wallet(emulator, DEPOSIT_B, users.b.address)
    # The signature is the owner's, through a wallet the owner does not own, or owns but is not the maker.
    for signing_wallet in (DEPOSIT_B, "0x" + "a3" * 20):
        crafted = _deposit_order_signed_through(key, market, DEPOSIT_A, signing_wallet)
        answer = await _post_unchecked(http, client, crafted)
        assert (answer.status_code, answer.json()) == (400, INVALID_SIGNATURE), signing_wallet
    await register_deposit_wallet(emulator, "0x" + "a3" * 20, client.address)
    crafted = _deposit_order_signed_through(key, market, DEPOSIT_A, "0x" + "a3" * 20)
    answer = await _post_unchecked(http, client, crafted)
    assert (answer.status_code, answer.json()) == (400, INVALID_SIGNATURE)
    assert emulator.trading.balances.shares(DEPOSIT_A, market.tokens[0].token_id) == SEED_SHARES_MICROS
