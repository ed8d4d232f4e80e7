"""The emulator binds an order's maker to the key that signs it, as the venue does, over real sockets:
each signature type trades with its own wallet (the EOA, the proxy and Safe derived from it, a
deposit wallet registered to it); any other maker, another user's wallet above all, is answered
"invalid signature" and moves nothing. Identities a caller claims elsewhere (headers, order ids,
balance queries, sockets) are proved too."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import AsyncIterator
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
from polyinfra.wire.clob_orders import PostOrderBody, encode_post_order
from tests.integration.trading_steps import empty_market, register_deposit_wallet, signed_order, trading_client

# Hardhat account #1 (public test key): the second user, B; A is account #0 (known_secrets).
SECOND_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
DEPOSIT_A = "0x" + "a1" * 20
DEPOSIT_B = "0x" + "b2" * 20
INVALID_SIGNATURE = {"error": "invalid signature"}


@pytest.fixture
async def http(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=30.0) as client:
        yield client


async def _post_unchecked(http: httpx.AsyncClient, client: TradingClient, signed: SignedOrder) -> httpx.Response:
    """``POST /order`` of ``signed`` with ``client``'s credentials, past the client's own checks: what
    a hostile or home-made client sends."""
    assert client.credentials is not None
    body = encode_post_order(
        PostOrderBody(order=order_payload(signed), owner=client.credentials.api_key, order_type="GTC")
    )
    headers = l2_headers(
        client.credentials,
        address=client.address,
        timestamp_s=int(time.time()),
        method="POST",
        request_path="/order",
        body=body,
    )
    return await http.post("/order", content=body, headers=headers)


async def test_every_signature_type_trades_with_its_own_wallet(
    emulator: Emulator, transport: HttpTransport, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    key = SigningKey(known_secrets.private_key)
    client = await trading_client(transport, known_secrets.private_key)
    a = client.address
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
        order = signed_order(key, market, Side.BUY, "0.5", "10", signature_type=kind, maker=maker)
        placed = await client.post_order(order)
        assert placed.success and placed.status == "live"
        assert (await client.get_order(placed.order_id)).maker_address.lower() == funder.lower()
        # balance-allowance with the signature type reads that wallet of the key, as the venue does.
        reader = TradingClient(transport, key, credentials=client.credentials, signature_type=kind)
        balance = await reader.get_balance_allowance(AssetType.COLLATERAL)
        assert int(balance.balance) == int(collateral) * MICROS


async def test_a_wrong_funder_is_invalid_signature(
    emulator: Emulator, transport: HttpTransport, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    key = SigningKey(known_secrets.private_key)
    client = await trading_client(transport, known_secrets.private_key)
    other = await trading_client(transport, SECOND_KEY)
    await register_deposit_wallet(emulator, DEPOSIT_B, other.address)
    a = key.address
    wrong = [
        (SignatureType.POLY_PROXY, safe_wallet(a)),
        (SignatureType.POLY_PROXY, "0x" + "11" * 20),
        (SignatureType.POLY_GNOSIS_SAFE, proxy_wallet(a)),
        (SignatureType.POLY_GNOSIS_SAFE, safe_wallet(other.address)),
        (SignatureType.POLY_1271, "0x" + "12" * 20),  # no deposit wallet at all
        (SignatureType.POLY_1271, DEPOSIT_B),  # someone else's
    ]
    for kind, maker in wrong:
        order = signed_order(key, market, Side.BUY, "0.5", "10", signature_type=kind, maker=maker)
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
    [batch] = await client.post_orders(
        [
            OrderSubmission(
                signed_order(
                    key, market, Side.BUY, "0.5", "10", signature_type=SignatureType.POLY_PROXY, maker=safe_wallet(a)
                )
            )
        ]
    )
    assert isinstance(batch, InvalidSignatureError)
    assert [order async for order in client.iter_open_orders()] == []


async def test_another_users_shares_cannot_be_sold(
    emulator: Emulator, transport: HttpTransport, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    """The audit's attack: B bids 0.01 for 500 shares, then sells A's shares into its own bid."""
    market = empty_market(emulator)
    token = market.tokens[0].token_id
    victim = await trading_client(transport, known_secrets.private_key)
    attacker_key = SigningKey(SECOND_KEY)
    attacker = await trading_client(transport, SECOND_KEY)
    a = victim.address
    await register_deposit_wallet(emulator, DEPOSIT_A, a)
    bid = await attacker.post_order(signed_order(attacker_key, market, Side.BUY, "0.01", "500"))
    assert bid.status == "live"
    victims_wallets = [
        (SignatureType.POLY_PROXY, a),
        (SignatureType.POLY_GNOSIS_SAFE, a),
        (SignatureType.POLY_PROXY, proxy_wallet(a)),
        (SignatureType.POLY_GNOSIS_SAFE, safe_wallet(a)),
        (SignatureType.POLY_1271, DEPOSIT_A),
    ]
    for kind, maker in victims_wallets:
        theft = signed_order(attacker_key, market, Side.SELL, "0.01", "500", signature_type=kind, maker=maker)
        answer = await _post_unchecked(http, attacker, theft)
        assert (answer.status_code, answer.json()) == (400, INVALID_SIGNATURE), (kind, maker)
    balances = emulator.trading.balances
    for wallet in (a, proxy_wallet(a), safe_wallet(a), DEPOSIT_A):
        assert balances.shares(wallet, token) == SEED_SHARES_MICROS
        assert balances.collateral(wallet) == SEED_COLLATERAL_MICROS
    assert (await attacker.get_order(bid.order_id)).size_matched == "0"


async def test_claimed_identities_are_proved(
    emulator: Emulator, transport: HttpTransport, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    first = await trading_client(transport, known_secrets.private_key)
    second = await trading_client(transport, SECOND_KEY)
    assert first.credentials is not None and second.credentials is not None
    placed = await first.post_order(signed_order(known_secrets.private_key, market, Side.BUY, "0.5", "10"))

    # Valid credentials of one wallet with another's address: the key is bound to its EOA.
    headers = l2_headers(
        first.credentials,
        address=second.address,
        timestamp_s=int(time.time()),
        method="GET",
        request_path="/data/orders",
    )
    assert (await http.get("/data/orders", headers=headers)).status_code == 401
    # Another wallet's order: not found to read or cancel, and never listed.
    with pytest.raises(NotFoundError):
        await second.get_order(placed.order_id)
    assert (await second.cancel(placed.order_id)).not_canceled == {placed.order_id: "Order not found"}
    assert [order async for order in second.iter_open_orders()] == []
    assert (await first.get_order(placed.order_id)).status == "ORDER_STATUS_LIVE"
    # A balance query names a signature type, never an address: it reads only the key's own wallets,
    # and a key without a deposit wallet has none to read.
    await register_deposit_wallet(emulator, DEPOSIT_A, first.address)
    deposit = await http.get(
        "/balance-allowance",
        params={"asset_type": "COLLATERAL", "signature_type": "3"},
        headers=l2_headers(
            second.credentials,
            address=second.address,
            timestamp_s=int(time.time()),
            method="GET",
            request_path="/balance-allowance",
        ),
    )
    assert deposit.status_code == 400
    # The user channel: another key's id with one's own secret is dropped.
    async with websockets.connect(emulator.urls["ws_user"]) as socket:
        forged = {
            "type": "user",
            "markets": [],
            "auth": {
                "apiKey": first.credentials.api_key,
                "secret": second.credentials.secret.reveal(),
                "passphrase": second.credentials.passphrase.reveal(),
            },
        }
        await socket.send(json.dumps(forged))
        with pytest.raises(websockets.ConnectionClosed):
            await socket.recv()


def _deposit_order_signed_through(key: SigningKey, market: MarketInfo, maker: str, signing_wallet: str) -> SignedOrder:
    """A POLY_1271 SELL of ``maker``'s shares whose ERC-7739 signature goes through another wallet,
    ``signing_wallet`` (its ``signer``): what ``sign_order`` refuses to make, built from its parts."""
    order = signed_order(key, market, Side.SELL, "0.5", "10", signature_type=SignatureType.POLY_1271, maker=maker)
    crafted = dataclasses.replace(order.order, signer=signing_wallet)
    separator = exchange_domain(POLYGON_CHAIN_ID, neg_risk=crafted.neg_risk).separator
    contents = order_struct_hash(crafted)
    digest = keccak256(b"\x19\x01" + separator + contents)
    inner = key.sign_digest(
        order_signing._typed_data_sign_digest(separator, contents, POLYGON_CHAIN_ID, signing_wallet)
    )
    signature = inner + separator + contents + order_signing._ORDER_TYPE_TRAILER
    return SignedOrder(crafted, "0x" + signature.hex(), "0x" + digest.hex())


async def test_a_deposit_wallet_order_is_signed_through_its_own_wallet(
    emulator: Emulator, transport: HttpTransport, http: httpx.AsyncClient, known_secrets: Any
) -> None:
    market = empty_market(emulator)
    key = SigningKey(known_secrets.private_key)
    client = await trading_client(transport, known_secrets.private_key)
    other = await trading_client(transport, SECOND_KEY)
    await register_deposit_wallet(emulator, DEPOSIT_A, client.address)
    await register_deposit_wallet(emulator, DEPOSIT_B, other.address)
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
