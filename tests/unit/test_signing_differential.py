"""Differential test: polyinfra signs thousands of random V2 orders exactly as py-clob-client-v2 does.

The official ``ExchangeOrderBuilderV2`` (test-only oracle) signs the same orders: signature types
0/1/2/3, both exchanges, Polygon and Amoy, random salts, amounts, token ids, sides, timestamps,
metadata and builder codes. Signatures and order hashes must be identical, and polyinfra must
verify the oracle's signatures. Also the L1 headers and the L2 HMAC of random requests.
"""

from __future__ import annotations

import random

import pytest
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side as OracleSide
from py_clob_client_v2.signer import Signer
from py_clob_client_v2.signing.hmac import build_hmac_signature

from polyinfra.core.auth_headers import hmac_signature, l1_headers
from polyinfra.core.eip712 import SigningKey, to_checksum_address
from polyinfra.core.order_signing import SignedOrder, sign_order, verify_order_signature
from polyinfra.model.numbers import Side
from polyinfra.model.orders import BYTES32_ZERO, SignatureType, UnsignedOrder
from polyinfra.obs.redaction import revealed

ORDERS_PER_CASE = 500  # 16 cases: 8,000 orders, about 5 s with the oracle's eth-account signing
CHAINS = (137, 80002)


def _random_address(rng: random.Random) -> str:
    return to_checksum_address("0x" + rng.randbytes(20).hex())


def _random_bytes32(rng: random.Random) -> str:
    return BYTES32_ZERO if rng.random() < 0.5 else "0x" + rng.randbytes(32).hex()


def _random_order(rng: random.Random, eoa: str, signature_type: SignatureType, neg_risk: bool) -> UnsignedOrder:
    if signature_type is SignatureType.EOA:
        maker = signer = eoa
    elif signature_type is SignatureType.POLY_1271:
        maker = signer = _random_address(rng)
    else:
        maker, signer = _random_address(rng), eoa
    return UnsignedOrder(
        # Salts as the clients make them (≤ ~1.8e12) and, sometimes, anywhere in uint256.
        salt=rng.randrange(2**41) if rng.random() < 0.8 else rng.randrange(2**256),
        maker=maker,
        signer=signer,
        token_id=rng.randrange(2**256),
        maker_amount=rng.randrange(10**15),
        taker_amount=rng.randrange(10**15),
        side=rng.choice((Side.BUY, Side.SELL)),
        signature_type=signature_type,
        timestamp_ms=rng.randrange(1_700_000_000_000, 1_900_000_000_000),
        metadata=_random_bytes32(rng),
        builder=_random_bytes32(rng),
        neg_risk=neg_risk,
    )


def _oracle_signed(builder: ExchangeOrderBuilderV2, order: UnsignedOrder) -> tuple[str, str]:
    builder.generate_salt = lambda: str(order.salt)
    data = OrderDataV2(
        maker=order.maker,
        tokenId=str(order.token_id),
        makerAmount=str(order.maker_amount),
        takerAmount=str(order.taker_amount),
        side=OracleSide.BUY if order.side is Side.BUY else OracleSide.SELL,
        signer=order.signer,
        signatureType=int(order.signature_type),
        timestamp=str(order.timestamp_ms),
        metadata=order.metadata,
        builder=order.builder,
    )
    signed = builder.build_signed_order(data)
    return signed.signature, builder.build_order_hash(builder.build_order_typed_data(signed))


@pytest.mark.parametrize("chain_id", CHAINS)
@pytest.mark.parametrize("neg_risk", [False, True], ids=["exchange", "neg-risk"])
@pytest.mark.parametrize("signature_type", list(SignatureType), ids=[kind.name for kind in SignatureType])
def test_random_orders_match_the_official_client(
    known_secrets, chain_id: int, neg_risk: bool, signature_type: SignatureType
) -> None:
    rng = random.Random(f"{chain_id}-{neg_risk}-{signature_type}")
    key = SigningKey(known_secrets.private_key)
    config = get_contract_config(chain_id)
    contract = config.neg_risk_exchange_v2 if neg_risk else config.exchange_v2
    oracle = ExchangeOrderBuilderV2(contract, chain_id, Signer(known_secrets.private_key, chain_id))
    for _ in range(ORDERS_PER_CASE):
        order = _random_order(rng, key.address, signature_type, neg_risk)
        signed = sign_order(order, key, chain_id=chain_id)
        expected_signature, expected_hash = _oracle_signed(oracle, order)
        assert (signed.signature, signed.order_hash) == (expected_signature, expected_hash), order
        oracle_signed = SignedOrder(order, expected_signature, expected_hash)
        assert verify_order_signature(oracle_signed, chain_id=chain_id) == key.address


def test_random_auth_headers_match_the_official_client(known_secrets) -> None:
    rng = random.Random("auth")
    key = SigningKey(known_secrets.private_key)
    secret = known_secrets.random_api_secret
    for _ in range(300):
        chain_id = rng.choice(CHAINS)
        timestamp = rng.randrange(2**40)
        nonce = rng.randrange(2**64)
        expected = create_level_1_headers(Signer(known_secrets.private_key, chain_id), nonce=nonce, timestamp=timestamp)
        assert revealed(l1_headers(key, chain_id=chain_id, timestamp_s=timestamp, nonce=nonce)) == expected
        method = rng.choice(("GET", "POST", "DELETE"))
        path = "/" + "/".join(
            rng.choice(("order", "orders", "data", "auth", "x-y_z")) for _ in range(rng.randint(1, 3))
        )
        body = "".join(rng.choice("{}[]\":,' abc01é😃") for _ in range(rng.randint(0, 40))) or None
        assert hmac_signature(secret, timestamp=str(timestamp), method=method, request_path=path, body=body) == (
            build_hmac_signature(secret, str(timestamp), method, path, body)
        )
