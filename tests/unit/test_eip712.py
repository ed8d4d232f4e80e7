"""EIP-712 building blocks and secp256k1 keys (venue notes: Authentication, Order signing, Test vectors)."""

from __future__ import annotations

import pickle

import pytest
from eth_account import Account

from polyinfra.core.eip712 import (
    DOMAIN_WITH_CONTRACT_TYPE_HASH,
    DOMAIN_WITHOUT_CONTRACT_TYPE_HASH,
    SigningKey,
    address_word,
    bytes32_word,
    domain_separator,
    keccak256,
    recover_address,
    to_checksum_address,
    uint256_word,
)
from polyinfra.errors import InvalidSignatureError, InvalidValueError
from polyinfra.obs.redaction import Secret
from tests.traceback_locals import secrets_in_traceback_locals

ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_keccak_is_ethereum_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_domain_type_hashes_match_the_fact_sheet() -> None:
    assert DOMAIN_WITHOUT_CONTRACT_TYPE_HASH.hex() == "c2f8787176b8ac6bf7215b4adcc1e069bf4ab82d9ab1df05a57a91d425935b6e"
    assert DOMAIN_WITH_CONTRACT_TYPE_HASH.hex() == "8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f"


@pytest.mark.parametrize(
    ("chain_id", "expected"),
    [
        (137, "cfc66be2a3b30464cb3b588324101f660c9a205fa76e8e5f83ee16a528e1c4cb"),
        (80002, "a1df8f4e3112eaee2448fbec9ab79f68278407e49d9cf52e3dd3d9692fcac9b6"),
    ],
)
def test_clob_auth_domain_separators(chain_id: int, expected: str) -> None:
    assert domain_separator("ClobAuthDomain", "1", chain_id).hex() == expected


@pytest.mark.parametrize(
    ("contract", "expected"),
    [
        # Vectors O1, O2 (V1 domain, version "1").
        (
            "0xdFE02Eb6733538f8Ea35D585af8DE5958AD99E40",
            "44b180a7e548e2d916b5410176db13a07744966f9b6c93c4bccdabebbcdfca93",
        ),
        (
            "0xC5d563A36AE78145C45a50134d48A1215220f80a",
            "9fa10822e4b86fd1eed68ea1c2628e0ee9a6c523cb2570592768432cfdb09bf1",
        ),
    ],
)
def test_contract_domain_separators(contract: str, expected: str) -> None:
    assert domain_separator("Polymarket CTF Exchange", "1", 80002, contract).hex() == expected


def test_checksum_address() -> None:
    # The py-order-utils vector.
    assert (
        to_checksum_address("0x8b4de256180cfec54c436a470af50f9ee2813dbb")
        == "0x8B4de256180CFEC54c436A470AF50F9EE2813dbB"
    )
    assert to_checksum_address(ADDRESS.lower()) == ADDRESS
    assert to_checksum_address(ADDRESS.upper().replace("0X", "0x")) == ADDRESS


def test_address_word_accepts_any_single_case_and_valid_checksums() -> None:
    expected = bytes(12) + bytes.fromhex(ADDRESS[2:])
    assert address_word(ADDRESS) == address_word(ADDRESS.lower()) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "0xf39fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x1234",
        "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x" + "g" * 40,
    ],
)
def test_address_word_rejects_bad_addresses(bad: str) -> None:
    with pytest.raises(InvalidValueError):
        address_word(bad)


def test_bytes32_and_uint256_words_are_strict() -> None:
    assert bytes32_word("0x" + "ab" * 32) == b"\xab" * 32
    for bad in ("0xab", "ab" * 32, "", "0x" + "ab" * 33):
        with pytest.raises(InvalidValueError):
            bytes32_word(bad)
    assert uint256_word(2**256 - 1) == b"\xff" * 32
    for bad_int in (-1, 2**256):
        with pytest.raises(InvalidValueError):
            uint256_word(bad_int)


def test_signing_key_address_and_signature_match_eth_account(known_secrets) -> None:
    key = SigningKey(Secret(known_secrets.private_key))
    assert key.address == ADDRESS == SigningKey(known_secrets.private_key.removeprefix("0x")).address
    digest = keccak256(b"polyinfra")
    oracle = Account._sign_hash(digest, private_key=known_secrets.private_key).signature
    assert key.sign_digest(digest) == bytes(oracle)
    assert recover_address(digest, key.sign_digest(digest)) == ADDRESS


def test_signing_key_never_shows_the_key(known_secrets, secret_scanner) -> None:
    key = SigningKey(known_secrets.private_key)
    for text in (repr(key), str(key), f"{key}", f"{key!r}"):
        assert secret_scanner.scan(text) == []
        assert ADDRESS in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert not hasattr(key, "__dict__")


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "00" * 32, format(CURVE_ORDER, "064x")])
def test_signing_key_rejects_bad_keys_without_quoting_them(bad: str) -> None:
    with pytest.raises(InvalidValueError) as raised:
        SigningKey(bad)
    assert bad not in str(raised.value)


def test_a_key_that_fails_to_load_leaves_no_trace_and_has_a_repr(known_secrets, secret_scanner) -> None:
    # A malformed key is still mostly a key; error trackers record (and repr) every traceback local,
    # the half-built key among them.
    with pytest.raises(InvalidValueError) as raised:
        SigningKey(known_secrets.private_key[:-1])
    assert secrets_in_traceback_locals(raised.value, secret_scanner) == []
    half_built = SigningKey.__new__(SigningKey)
    assert repr(half_built) == str(half_built) == "SigningKey(not loaded)"


def test_recover_rejects_malformed_and_malleable_signatures(known_secrets) -> None:
    key = SigningKey(known_secrets.private_key)
    digest = keccak256(b"x")
    signature = key.sign_digest(digest)
    with pytest.raises(InvalidSignatureError):
        recover_address(digest, signature[:64])
    with pytest.raises(InvalidSignatureError):
        recover_address(digest, signature[:64] + b"\x01")
    high_s = (CURVE_ORDER - int.from_bytes(signature[32:64], "big")).to_bytes(32, "big")
    flipped_v = bytes((55 - signature[64],))
    with pytest.raises(InvalidSignatureError):
        recover_address(digest, signature[:32] + high_s + flipped_v)
    with pytest.raises(InvalidSignatureError):
        recover_address(digest, bytes(64) + b"\x1b")
    # A valid signature over another digest recovers some other address, never the key's.
    assert recover_address(keccak256(b"y"), signature) != ADDRESS
