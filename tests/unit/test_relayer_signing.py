"""The relayer's signing recipes and wallet derivations against the official clients' vectors."""

from __future__ import annotations

import pytest

from polyinfra.core.chain_calls import MAX_UINT256, encode_call
from polyinfra.core.chain_contracts import CTF, USDC_E
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.relayer_signing import (
    DEPOSIT_WALLET_FACTORY,
    MULTISEND,
    Call,
    Operation,
    batch_digest,
    decode_multisend,
    decode_proxy_calls,
    deposit_wallet,
    encode_multisend,
    encode_proxy_calls,
    proxy_relay_hash,
    recover_batch_signer,
    recover_proxy_signer,
    recover_safe_create_signer,
    recover_safe_signer,
    safe_create_digest,
    safe_transaction,
    safe_tx_digest,
    sign_batch,
    sign_proxy,
    sign_safe,
    sign_safe_create,
)
from polyinfra.core.wallet_addresses import safe_wallet
from polyinfra.errors import InvalidSignatureError, MalformedMessageError

HARDHAT_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
HARDHAT = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
APPROVE_CTF = encode_call("approve(address,uint256)", CTF, MAX_UINT256)


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey(HARDHAT_KEY)


def test_proxy_vector(key: SigningKey) -> None:
    data = encode_proxy_calls([Call(USDC_E, APPROVE_CTF)])
    relay_hash = proxy_relay_hash(
        signer=HARDHAT, data=data, gas_limit=85338, nonce=0, relay="0xae700edfd9ab986395f3999fe11177b9903a52f1"
    )
    assert relay_hash.hex() == "eebbc25c502ac6eb1318ef486214e9fdf91d79d7c3b3d325144d54479ec07f96"
    signature = sign_proxy(key, relay_hash)
    assert signature.hex() == (
        "4c18e2d2294a00d686714aff8e7936ab657cb4655dfccb2b556efadcb7e835f8"
        "00dc2fecec69c501e29bb36ecb54b4da6b7c410c4dc740a33af2afde2b77297e1b"
    )
    assert recover_proxy_signer(relay_hash, signature) == HARDHAT
    assert decode_proxy_calls(data) == [Call(USDC_E, APPROVE_CTF)]


def test_safe_single_call_vector(key: SigningKey) -> None:
    safe = safe_wallet(HARDHAT)
    assert safe == "0xd93B25cb943D14d0d34FBaF01Fc93a0f8b5F6E47"
    transaction = safe_transaction([Call(USDC_E, APPROVE_CTF)])
    assert transaction.operation is Operation.CALL and transaction.to == USDC_E
    digest = safe_tx_digest(transaction, safe=safe, nonce=0)
    assert digest.hex() == "6bbdd1e9bf24c2ab455c3a8196d5d721d1bdae79b361597ced180f884a8e1c28"
    signature = sign_safe(key, digest)
    assert signature.hex() == (
        "f368488355b0566e99eff3bccc35e98b77d8f3a6e6866176188488c34f0305b0"
        "7e4a4c600c7a1592e4ac1e96b5887ebff2cb26987a3ad501006b39944df098c21f"
    )
    assert recover_safe_signer(digest, signature) == HARDHAT


def test_safe_multisend_vector(key: SigningKey) -> None:
    calls = [Call(USDC_E, APPROVE_CTF), Call(USDC_E, APPROVE_CTF)]
    transaction = safe_transaction(calls)
    assert transaction.to == MULTISEND and transaction.operation is Operation.DELEGATECALL
    assert transaction.data.hex().startswith("8d80ff0a")
    assert decode_multisend(transaction.data) == calls
    digest = safe_tx_digest(transaction, safe="0xd93B25cb943D14d0d34FBaF01Fc93a0f8b5F6E47", nonce=8)
    assert digest.hex() == "06d5102c3e356b62a75f8203cd5ce7ab1fa8fdab33875ef621eee102220d90b8"
    assert sign_safe(key, digest).hex().endswith("e117020")


def test_safe_create_vector(key: SigningKey) -> None:
    assert safe_create_digest().hex() == "563ac315294c5be01ab1f3b04a5abdfa39e8317a9d90679d4e63caf760b126a4"
    signature = sign_safe_create(key)
    assert signature.hex() == (
        "e3e791c24134b7bebe93b4771bd07c7fe7bbe115eeb0bf629ac3b7a435e7ac8d"
        "05f979729d873f7d0e16205becf48ee450aa382bc28c65eedcd6454e81d81f921b"
    )
    assert recover_safe_create_signer(signature) == HARDHAT


def test_deposit_wallet_batch_vector(key: SigningKey) -> None:
    call = Call(
        "0x0000000000000000000000000000000000000001",
        encode_call("approve(address,uint256)", "0x0000000000000000000000000000000000000002", MAX_UINT256),
    )
    digest = batch_digest(
        wallet="0xa2927E7834648F1C03b4961CeeA4597292e3c025", nonce=0, deadline=1234567890, calls=[call]
    )
    signature = sign_batch(key, digest)
    assert signature.hex() == (
        "7827946c566e7860f6c5f2e641587ed6928989c8618e463a00dd56832e730002"
        "3b7436c67a2ea82d6d506b1a5eda3e27526e9e2ffaad52128d75c47c2e9d1fac1b"
    )
    assert recover_batch_signer(digest, signature) == HARDHAT


@pytest.mark.parametrize(
    ("owner", "kwargs", "expected"),
    [
        (
            "0xA60601A4d903af91855C52BFB3814f6bA342f201",
            {},
            "0x8b60BF0f650Bf7a0d93F10D72375b37De18F8c40",
        ),
        (
            "0x0000000000000000000000000000000000000001",
            {"beacon": "0x7A18EDfe055488A3128f01F563e5B479D92ffc3a"},
            "0x94bF330955A0b957662fEaF878dE77bf25f76cD9",
        ),
        (
            HARDHAT,
            {
                "factory": "0x801c740Bcd28531d75a5da176D5511F3329Ab049",
                "implementation": "0x24f3257BF9451bA575E864777ab6f8D7Eac0139B",
            },
            "0x3c6D4D368D1Af2C1555Effbf17Da30Add851A6Ae",
        ),
    ],
)
def test_deposit_wallet_derivation(owner: str, kwargs: dict[str, str], expected: str) -> None:
    assert deposit_wallet(owner, **kwargs) == expected


def test_safe_wallet_vector() -> None:
    assert safe_wallet("0x6e0c80c90ea6c15917308F820Eac91Ce2724B5b5") == "0x6d8c4e9aDF5748Af82Dabe2C6225207770d6B4fa"


def test_a_signature_over_other_calls_recovers_someone_else(key: SigningKey) -> None:
    safe = safe_wallet(HARDHAT)
    signed = safe_tx_digest(safe_transaction([Call(USDC_E, APPROVE_CTF)]), safe=safe, nonce=0)
    other = safe_tx_digest(safe_transaction([Call(USDC_E, APPROVE_CTF)]), safe=safe, nonce=1)
    assert recover_safe_signer(other, sign_safe(key, signed)) != HARDHAT
    assert recover_safe_signer(signed, key.sign_digest(signed)) == HARDHAT  # a plain signature is accepted too
    with pytest.raises(InvalidSignatureError):
        recover_safe_signer(signed, b"\x00" * 65)


def test_decoders_refuse_foreign_calldata() -> None:
    with pytest.raises(MalformedMessageError):
        decode_multisend(APPROVE_CTF)
    with pytest.raises(MalformedMessageError):
        decode_proxy_calls(encode_multisend([Call(USDC_E, APPROVE_CTF)]))
    assert DEPOSIT_WALLET_FACTORY.startswith("0x00000000000")
